"""`aiaas_core.keras.utils`: to_categorical, set_random_seed, PyDataset / Sequence, register_keras_serializable."""

from __future__ import annotations

import numpy as np

from ..data.labels import check_one_hot_size
from .backend import set_random_seed
from .py_dataset import PyDataset, Sequence
from .engine.registry import get_custom_objects, get_registered_name, get_registered_object, register_keras_serializable


def to_categorical(y, num_classes: int | None = None, dtype: str = "float32") -> np.ndarray:
    """One-hot encode integer class ids y[...] -> [..., num_classes] (Keras drops a trailing 1 axis)."""
    arr = np.asarray(y)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"to_categorical takes integer class ids, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and (not np.isfinite(arr).all() or (arr != np.round(arr)).any()):
        raise ValueError("to_categorical takes integer class ids, found non-integer values")
    ids = arr.astype(np.int64)
    if ids.ndim > 1 and ids.shape[-1] == 1:
        ids = ids[..., 0]
    if ids.size and ids.min() < 0:
        raise ValueError(f"class ids must be >= 0, got {int(ids.min())}")
    if num_classes is None:
        num_classes = int(ids.max()) + 1 if ids.size else 0
    elif isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes <= 0:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if ids.size and ids.max() >= num_classes:
        raise ValueError(f"class id {int(ids.max())} is out of range for num_classes={num_classes}")
    check_one_hot_size(ids.size, int(num_classes))
    out = np.zeros(ids.shape + (int(num_classes),), dtype=dtype)
    np.put_along_axis(out, ids[..., None], 1, axis=-1)
    return out


__all__ = ["to_categorical", "set_random_seed", "PyDataset", "Sequence", "register_keras_serializable",
           "get_registered_name", "get_registered_object", "get_custom_objects"]
