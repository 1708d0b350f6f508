"""Reading a numpy .npz archive holding the arrays `x` (features) and optionally `y` (labels)."""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path

import numpy as np

from .._arrays import as_float32

ALLOWED_NAMES = ("x", "y")
_FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_NPZ_BYTES = 1 << 31  # uncompressed bytes one array may hold (checked before it is read)


def _check_member(zf: zipfile.ZipFile, name: str, p: Path) -> None:
    """Refuse, before numpy allocates anything, an array stored beyond MAX_NPZ_BYTES (a zip bomb) or
    whose .npy header declares more data than the member holds (numpy would allocate the declared
    size first: a few bytes could ask for terabytes)."""
    info = zf.getinfo(f"{name}.npy")
    if info.file_size > MAX_NPZ_BYTES:
        raise ValueError(f"array {name!r} in {p} is {info.file_size:,} bytes; at most {MAX_NPZ_BYTES:,} are accepted")
    try:
        with zf.open(info) as member:
            version = np.lib.format.read_magic(member)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(member)
            header_end = member.tell()
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"array {name!r} in {p} is not a valid .npy member: {exc}") from None
    declared = math.prod(shape) * dtype.itemsize
    if declared > info.file_size - header_end:
        raise ValueError(
            f"array {name!r} in {p} declares shape {tuple(shape)} of {dtype} ({declared:,} bytes) but the file "
            f"holds {max(info.file_size - header_end, 0):,} bytes of data (truncated or tampered)"
        )


def load_npz(path: str | os.PathLike, x_key: str | None = None,
             y_key: str | None = "y") -> tuple[np.ndarray, np.ndarray | None]:
    """Load the features (as float32) and the labels (or None) from an .npz file, never unpickling.

    By default the file holds one dataset: an array `x` and optionally `y`, and any other array is
    an error (the message lists the names). A Keras-style archive such as mnist.npz (x_train,
    y_train, x_test, y_test) is read by naming the arrays: `x_key="x_train", y_key="y_train"`; then
    the other arrays are ignored, and `y_key=None` reads no labels. ValueError also when an array is
    an object array, or when x and y disagree on the number of samples.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like, got {type(path).__name__}")
    for what, key in (("x_key", x_key), ("y_key", y_key)):
        if key is not None and not isinstance(key, str):
            raise TypeError(f"{what} must be the name of an array in the archive (a str), got {key!r}")
    strict = x_key is None and y_key == "y"  # the service's dataset files: exactly x (and y)
    if x_key is None:
        x_key = "x"
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"npz file not found: {p}")
    if not zipfile.is_zipfile(p):
        raise ValueError(f"{p} is not an .npz archive (expected a zip written by numpy.savez)")
    try:
        archive = np.load(p, allow_pickle=False)
    except Exception as exc:  # numpy raises several types for corrupt archives
        raise ValueError(f"cannot read {p} as an .npz archive: {exc}") from None
    with archive:
        names = sorted(archive.files)
        if strict:
            extra = [n for n in names if n not in ALLOWED_NAMES]
            if "x" not in names or extra:
                hint = ""
                if "x_train" in names:
                    hint = (" (a Keras-style archive: pass x_key='x_train', y_key='y_train', or "
                            "x_key='x_test', y_key='y_test')")
                raise ValueError(f"{p} must hold an array named 'x' and optionally 'y'; it holds {names}{hint}")
        elif x_key not in names:
            raise ValueError(f"{p} has no array named {x_key!r}; it holds {names}")
        if not strict and y_key is not None and y_key not in names:
            raise ValueError(f"{p} has no array named {y_key!r}; it holds {names}")
        arrays = {}
        for role, name in (("x", x_key), ("y", y_key)):
            if name is None or name not in names:
                continue
            _check_member(archive.zip, name, p)
            try:
                arrays[role] = archive[name]
            except ValueError as exc:  # object arrays need pickle, which we refuse
                raise ValueError(
                    f"array {name!r} in {p} is an object array (needs pickle); "
                    f"expected a numeric (or, for y, string) array: {exc}"
                ) from None
    raw_x = arrays["x"]
    if raw_x.dtype.kind == "f" and raw_x.size:
        # NaN marks a missing value; inf (or a float64 beyond float32, which the cast makes inf) is an error.
        with np.errstate(invalid="ignore"):
            bad = int(np.count_nonzero(np.isinf(raw_x) | (np.abs(raw_x) > _FLOAT32_MAX)))
        if bad:
            raise ValueError(
                f"array {x_key!r} in {p} holds {bad} infinite value(s) or value(s) beyond float32's range "
                f"(|v| <= {_FLOAT32_MAX:.3g}); expected finite numbers (NaN for a missing value)"
            )
    x = as_float32(raw_x, "x in npz")
    if x.ndim < 1:
        raise ValueError(f"x in {p} must have a sample axis, got a 0-D array")
    y = arrays.get("y")
    if y is not None:
        if y.dtype.kind not in "biufU":
            raise ValueError(f"y in {p} must be numeric or strings, got dtype {y.dtype}")
        if y.ndim < 1 or y.shape[0] != x.shape[0]:
            raise ValueError(
                f"x and y in {p} must have the same number of samples, got x {x.shape} and y {y.shape}"
            )
    return x, y
