"""Data types by TensorFlow / Keras name (`tf.float32`, `"int64"`, `tf.bool`): numpy dtypes."""

from __future__ import annotations

import numpy as np

float16 = half = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = double = np.dtype(np.float64)
int8 = np.dtype(np.int8)
int16 = np.dtype(np.int16)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
uint16 = np.dtype(np.uint16)
uint32 = np.dtype(np.uint32)
uint64 = np.dtype(np.uint64)
bool_ = np.dtype(np.bool_)
complex64 = np.dtype(np.complex64)


def as_dtype(dtype) -> np.dtype:
    """A numpy dtype from a name, a numpy type, a dtype or None (float32, the Keras default)."""
    if dtype is None:
        return float32
    if isinstance(dtype, str) and dtype == "bool":
        return bool_
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"unknown dtype {dtype!r}; use a name such as 'float32', 'int32' or 'bool'") from None
    if dt.kind not in "biufc":
        raise TypeError(f"dtype {dtype!r} is not numeric")
    return dt
