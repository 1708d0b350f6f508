"""A weight: a named array that optimizers update in place, and a leaf of the autodiff graph.

`tf.Variable(value, trainable=True, name=None, dtype=None)` and `keras.Variable(initializer, shape,
dtype, trainable, name)` both build one. Trainable variables are watched by every GradientTape;
operators and ops on a variable record it as their input (`x @ self.w + self.b`).
"""

from __future__ import annotations

import numpy as np

from ..ops.operators import OperatorMixin
from ..ops.tensor import TensorShape, as_tensor_value, wrap


class Variable(OperatorMixin):
    """Keras-like variable. `value` is the live array (never rebound: `assign` copies into it)."""

    __slots__ = ("name", "value", "trainable", "_watched")
    _node = None  # a leaf: gradients stop here

    def __init__(self, initial_value=None, name: str | None = None, trainable: bool = True, dtype=None,
                 shape=None, initializer=None, **kwargs):
        unknown = set(kwargs) - {"validate_shape", "caching_device", "synchronization", "aggregation",
                                 "autocast", "constraint", "import_scope"}
        if unknown:
            raise TypeError(f"Variable: unexpected argument(s) {', '.join(sorted(unknown))}")
        if initial_value is None:
            initial_value = initializer
        if callable(initial_value) and not hasattr(initial_value, "__array__"):
            if shape is None:
                raise ValueError("Variable: an initializer needs shape=")
            initial_value = initial_value(tuple(shape), dtype)
        if initial_value is None:
            raise ValueError("Variable needs an initial value (or an initializer and a shape)")
        arr = as_tensor_value(initial_value, dtype)
        if dtype is None and arr.dtype.kind == "f" and arr.dtype != np.float32:
            arr = arr.astype(np.float32)  # Keras's floatx: weights are float32 unless asked otherwise
        self.value = np.array(arr, order="C", copy=True)
        self.name = name if name is not None else "Variable"
        self.trainable = bool(trainable)
        self._watched = False

    @property
    def _auto_watch(self) -> bool:
        return self.trainable and self.value.dtype.kind == "f"

    @property
    def shape(self) -> TensorShape:
        return TensorShape(self.value.shape)

    @property
    def dtype(self):
        return self.value.dtype

    @property
    def ndim(self) -> int:
        return self.value.ndim

    @property
    def size(self) -> int:
        return self.value.size

    @property
    def path(self) -> str:
        return self.name

    def numpy(self) -> np.ndarray:
        """A copy of the current value."""
        return self.value.copy()

    def read_value(self):
        """The current value as a (recorded) tensor."""
        from ..ops.array_ops import identity
        return identity(self)

    def assign(self, new, read_value: bool = True):
        """Copy `new` into the variable (same shape required)."""
        arr = as_tensor_value(new)
        if arr.shape != self.value.shape:
            raise ValueError(
                f"cannot assign a value of shape {arr.shape} to variable {self.name!r} of shape {self.value.shape}"
            )
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"variable {self.name!r} takes numbers, got dtype {arr.dtype}")
        np.copyto(self.value, arr, casting="unsafe")
        return self if read_value else None

    def assign_add(self, delta, read_value: bool = True):
        return self.assign(self.value + as_tensor_value(delta), read_value)

    def assign_sub(self, delta, read_value: bool = True):
        return self.assign(self.value - as_tensor_value(delta), read_value)

    def __array__(self, dtype=None, copy=None):
        return self.value if dtype is None else self.value.astype(dtype)

    def __len__(self) -> int:
        return len(self.value)

    def __float__(self) -> float:
        return float(self.value)

    def __int__(self) -> int:
        return int(self.value)

    def __bool__(self) -> bool:
        return bool(self.value)

    def __format__(self, spec: str) -> str:
        return format(self.value.item(), spec) if self.value.size == 1 else format(str(self.value), spec)

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other):  # identity, as TF variables compare in collections
        return self is other

    def __reduce__(self):
        raise TypeError("variables are not picklable; save weights with model.save_weights")

    def __repr__(self) -> str:
        return f"<Variable {self.name} shape={self.value.shape} dtype={self.value.dtype.name}>"

    def as_tensor(self):
        return wrap(self.value)
