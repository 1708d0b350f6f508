"""Turning user input into the arrays the native core takes.

Every public function goes through `as_float32`: it names the argument that was wrong and what was
expected, and copies only when it must (a C-contiguous float32 array passes through untouched).
"""

from __future__ import annotations

import numpy as np

# numpy dtype kinds we convert to float32: bool, signed, unsigned, float.
_NUMERIC_KINDS = "biuf"


def as_float32(x, name: str, *, ndim: tuple[int, ...] | None = None, finite: bool = False) -> np.ndarray:
    """Return `x` as a C-contiguous float32 array (no copy when it already is one).

    TypeError for non-numeric dtypes (object, complex, strings) and for a rank not in `ndim`;
    ValueError for NaN/inf when `finite` is asked for.
    """
    arr = np.asarray(x)
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(
            f"{name} must be a real numeric array (float or int), got dtype {arr.dtype}"
        )
    if ndim is not None and arr.ndim not in ndim:
        want = " or ".join(f"{d}-D" for d in ndim)
        raise TypeError(f"{name} must be {want}, got a {arr.ndim}-D array of shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if finite and arr.size and not np.isfinite(arr).all():
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); expected finite numbers")
    return arr
