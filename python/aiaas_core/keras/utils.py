"""`aiaas_core.keras.utils`: to_categorical, set_random_seed, PyDataset / Sequence, register_keras_serializable."""

from __future__ import annotations

import struct
import zlib

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


class _PNGImage:
    """What array_to_img returns when Pillow is not installed: an 8-bit image that `np.asarray` reads
    and `.save(path)` writes as PNG (the only format without Pillow)."""

    def __init__(self, pixels: np.ndarray):
        self._pixels = pixels  # uint8 [h, w] or [h, w, 3|4]
        self.size = (pixels.shape[1], pixels.shape[0])  # PIL's (width, height)
        self.mode = "L" if pixels.ndim == 2 else {3: "RGB", 4: "RGBA"}[pixels.shape[2]]

    def __array__(self, dtype=None, copy=None):
        return self._pixels if dtype is None else self._pixels.astype(dtype)

    def save(self, fp, format=None, **kwargs):  # noqa: A002 - PIL's argument name
        if format not in (None, "png", "PNG") or (format is None and not str(fp).lower().endswith(".png")):
            raise ValueError(f"saving {fp!r}: only PNG can be written without Pillow (pip install pillow)")
        a = self._pixels
        h, w = a.shape[:2]
        color = 0 if a.ndim == 2 else {3: 2, 4: 6}[a.shape[2]]
        raw = b"".join(b"\x00" + a[i].tobytes() for i in range(h))

        def chunk(tag: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

        data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
        if hasattr(fp, "write"):
            fp.write(data)
        else:
            with open(fp, "wb") as f:
                f.write(data)


def array_to_img(x, data_format=None, scale: bool = True, dtype=None):
    """keras.utils.array_to_img: a [height, width, channels] array (1, 3 or 4 channels) as an 8-bit
    image; with `scale`, values are first stretched to 0..255. A PIL image when Pillow is installed."""
    if data_format not in (None, "channels_last"):
        raise ValueError(f"array_to_img: only channels_last images are supported, got data_format={data_format!r}")
    a = np.array(x.numpy() if hasattr(x, "numpy") else x, dtype=np.float64)
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ValueError(f"array_to_img expects an image of shape (height, width, 1|3|4), got {a.shape}")
    if scale:
        a = a - a.min()
        if a.max() != 0:
            a = a / a.max()
        a = a * 255
    pixels = np.clip(np.round(a), 0, 255).astype(np.uint8)
    pixels = pixels[:, :, 0] if pixels.shape[2] == 1 else pixels
    try:
        from PIL import Image
    except ImportError:
        return _PNGImage(np.ascontiguousarray(pixels))
    return Image.fromarray(pixels)


def save_img(path, x, data_format=None, file_format=None, scale: bool = True, **kwargs):
    """keras.utils.save_img: array_to_img(x) written to `path`."""
    array_to_img(x, data_format=data_format, scale=scale).save(path, format=file_format)


def img_to_array(img, data_format=None, dtype="float32") -> np.ndarray:
    """keras.utils.img_to_array: an image as a [height, width, channels] array."""
    a = np.asarray(img, dtype=dtype)
    return a[:, :, None] if a.ndim == 2 else a


__all__ = ["to_categorical", "set_random_seed", "PyDataset", "Sequence", "register_keras_serializable",
           "get_registered_name", "get_registered_object", "get_custom_objects", "array_to_img", "save_img",
           "img_to_array"]
