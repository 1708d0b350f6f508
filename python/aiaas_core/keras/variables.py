"""A weight: a named float32 numpy array that optimizers update in place."""

from __future__ import annotations

import numpy as np


class Variable:
    """Keras-like variable. `value` is the live array (never rebound: `assign` copies into it)."""

    __slots__ = ("name", "value", "trainable")

    def __init__(self, value: np.ndarray, name: str, trainable: bool = True):
        self.value = np.ascontiguousarray(value, dtype=np.float32)
        self.name = name
        self.trainable = trainable

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def dtype(self) -> str:
        return "float32"

    def numpy(self) -> np.ndarray:
        """A copy of the current value."""
        return self.value.copy()

    def assign(self, new) -> None:
        """Copy `new` into the variable (same shape required)."""
        arr = np.asarray(new)
        if arr.shape != self.value.shape:
            raise ValueError(
                f"cannot assign a value of shape {arr.shape} to variable {self.name!r} of shape {self.value.shape}"
            )
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"variable {self.name!r} takes numbers, got dtype {arr.dtype}")
        np.copyto(self.value, arr, casting="unsafe")

    def __array__(self, dtype=None, copy=None):
        return self.value if dtype is None else self.value.astype(dtype)

    def __repr__(self) -> str:
        return f"<Variable {self.name} shape={self.value.shape} dtype=float32>"
