"""Reading a numpy .npz archive holding the arrays `x` (features) and optionally `y` (labels)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from .._arrays import as_float32

ALLOWED_NAMES = ("x", "y")


def load_npz(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Load `x` (as float32) and `y` (or None) from an .npz file, never unpickling anything.

    ValueError when `x` is missing, when other array names are present (the message lists them),
    when an array is an object array, or when x and y disagree on the number of samples.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like, got {type(path).__name__}")
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
        extra = [n for n in names if n not in ALLOWED_NAMES]
        if "x" not in names or extra:
            raise ValueError(
                f"{p} must hold an array named 'x' and optionally 'y'; it holds {names}"
            )
        arrays = {}
        for name in ("x", "y"):
            if name not in names:
                continue
            try:
                arrays[name] = archive[name]
            except ValueError as exc:  # object arrays need pickle, which we refuse
                raise ValueError(
                    f"array {name!r} in {p} is an object array (needs pickle); "
                    f"expected a numeric (or, for y, string) array: {exc}"
                ) from None
    x = as_float32(arrays["x"], "x in npz")
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
