"""Turning user input into the arrays the native core takes.

Every public function goes through `as_float32`: it names the argument that was wrong and what was
expected, and copies only when it must (a C-contiguous float32 array passes through untouched).
"""

from __future__ import annotations

import numpy as np

# numpy dtype kinds we convert to float32: bool, signed, unsigned, float.
_NUMERIC_KINDS = "biuf"


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def as_numeric(x, name: str) -> np.ndarray:
    """`np.asarray(x)`, with numpy's poorly worded failure named for `name`: nested lists of
    different lengths (or an (x, y) tuple passed as x)."""
    try:
        return np.asarray(x)
    except ValueError as exc:
        raise ValueError(
            f"{name} is not a rectangular array: its nested lists/tuples do not all have the same length ({exc}); "
            f"pass one array whose first axis counts samples (and the targets separately, as y)"
        ) from None


def as_float32(x, name: str, *, ndim: tuple[int, ...] | None = None, finite: bool = False) -> np.ndarray:
    """Return `x` as a C-contiguous float32 array (no copy when it already is one).

    TypeError for non-numeric dtypes (object, complex, strings) and for a rank not in `ndim`;
    ValueError for ragged nested lists, and, when `finite` is asked for, for NaN/inf and for
    finite values float32 cannot hold (the cast would silently make them inf).
    """
    arr = as_numeric(x, name)
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(
            f"{name} must be a real numeric array (float or int), got dtype {arr.dtype}"
        )
    if ndim is not None and arr.ndim not in ndim:
        want = " or ".join(f"{d}-D" for d in ndim)
        raise TypeError(f"{name} must be {want}, got a {arr.ndim}-D array of shape {arr.shape}")
    if finite and arr.dtype.kind == "f" and arr.dtype.itemsize > 4 and arr.size:
        with np.errstate(invalid="ignore", over="ignore"):
            too_big = int(np.count_nonzero(np.isfinite(arr) & (np.abs(arr) > _FLOAT32_MAX)))
        if too_big:
            raise ValueError(
                f"{name} holds {too_big} value(s) beyond float32's range (|v| <= {_FLOAT32_MAX:.3g}); "
                "scale the data first (aiaas_core.data.StandardScaler / MinMaxScaler)"
            )
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if finite and arr.size and not np.isfinite(arr).all():
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); expected finite numbers")
    return arr
