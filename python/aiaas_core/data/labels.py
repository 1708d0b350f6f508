"""Label encoding: class names -> integer ids, integer ids -> one-hot rows."""

from __future__ import annotations

import numpy as np


MAX_ONE_HOT_VALUES = 1 << 30  # 4 GiB of float32: a larger one-hot matrix is a mistake, not data


def check_one_hot_size(n: int, num_classes: int) -> None:
    """Refuse, before allocating, a one-hot matrix of more than MAX_ONE_HOT_VALUES values (a stray
    huge label, e.g. an id column taken for the class, would otherwise ask for gigabytes)."""
    if n * num_classes > MAX_ONE_HOT_VALUES:
        raise ValueError(
            f"one-hot encoding {n:,} labels into {num_classes:,} classes would hold {n * num_classes:,} values "
            f"(at most {MAX_ONE_HOT_VALUES:,}); check the labels (the largest id sets the class count)"
        )


def one_hot(y, num_classes: int | None = None) -> np.ndarray:
    """Keras `to_categorical`: integer labels [...] -> float32 [..., num_classes].

    A trailing axis of size 1 is dropped first (labels shaped [n, 1]). num_classes defaults to
    max(y) + 1. ValueError for negative, non-integer or too-large labels.
    """
    arr = np.asarray(y)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"y must hold integer class ids, got dtype {arr.dtype}; use encode_labels for class names")
    if arr.ndim >= 1 and arr.shape[-1] == 1 and arr.ndim > 1:
        arr = arr.reshape(arr.shape[:-1])
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or not np.all(arr == np.round(arr)):
            raise ValueError("y must hold whole-number class ids; found non-integer or NaN values")
    ids = arr.astype(np.int64)
    if ids.size and ids.min() < 0:
        raise ValueError(f"class ids must be >= 0, found {int(ids.min())}")
    if num_classes is None:
        if not ids.size:
            raise ValueError("y is empty: pass num_classes, it cannot be inferred from no labels")
        num_classes = int(ids.max()) + 1
    elif isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if ids.size and ids.max() >= num_classes:
        raise ValueError(f"class id {int(ids.max())} is out of range for num_classes={num_classes}")
    check_one_hot_size(ids.size, int(num_classes))
    out = np.zeros(ids.shape + (int(num_classes),), dtype=np.float32)
    np.put_along_axis(out, ids[..., None], 1.0, axis=-1)
    return out


to_categorical = one_hot


def encode_labels(y) -> tuple[np.ndarray, np.ndarray]:
    """sklearn LabelEncoder: 1-D labels (numbers or strings) -> (ids int64 [n], sorted classes)."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind not in "biufUS":
        raise TypeError(f"y must hold numbers or strings, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError("y contains NaN or infinite labels; drop those rows first (handle_missing)")
    classes, ids = np.unique(arr, return_inverse=True)
    return ids.astype(np.int64), classes


def decode_labels(ids, classes) -> np.ndarray:
    """Inverse of encode_labels: ids [n] -> classes[ids]."""
    ids = np.asarray(ids)
    classes = np.asarray(classes)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"ids must be integers, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= len(classes)):
        raise ValueError(f"ids must be in 0..{len(classes) - 1}, got range {ids.min()}..{ids.max()}")
    return classes[ids]
