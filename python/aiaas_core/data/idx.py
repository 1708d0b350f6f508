"""IDX files (the MNIST format) and the MNIST / sklearn-digits image data sets."""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

# IDX type code -> big-endian numpy dtype (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT")
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"
MNIST_IMAGES = "t10k-images-idx3-ubyte"
MNIST_LABELS = "t10k-labels-idx1-ubyte"
MNIST_TRAIN_COUNT = 8000  # the t10k set split: first 8,000 train, last 2,000 test
MAX_IDX_BYTES = 1 << 31  # decompressed data one IDX file may declare (the 60k MNIST train set is 47 MB)


def parse_idx(raw: bytes, source: str = "IDX data") -> np.ndarray:
    """Decode the bytes of an (uncompressed) IDX file into a native-endian array."""
    if len(raw) < 4:
        raise ValueError(f"{source} is truncated: {len(raw)} bytes, an IDX header needs at least 4")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{source} has bad magic bytes {raw[:2].hex()}; an IDX file starts with 0000")
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise ValueError(f"{source} has unknown IDX type code 0x{code:02X}; expected one of {known}")
    if ndim == 0:
        raise ValueError(f"{source} declares 0 dimensions; expected at least 1")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise ValueError(f"{source} is truncated inside its header ({len(raw)} of {header_len} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    body = len(raw) - header_len
    if body != expected:
        raise ValueError(
            f"{source}: header declares shape {dims} of {dtype.str[1:]} ({expected} bytes of data) "
            f"but the file holds {body} bytes after the header"
        )
    arr = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))  # native byte order, writable copy


def load_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzipped or not (decided by the first two bytes, not by the name)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like, got {type(path).__name__}")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"IDX file not found: {p}")
    with open(p, "rb") as f:
        gzipped = f.read(2) == GZIP_MAGIC
    if not gzipped:
        return parse_idx(p.read_bytes(), str(p))
    try:
        raw = _inflate_declared(p)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{p} is a damaged or truncated gzip file: {exc}") from None
    return parse_idx(raw, str(p))


def _inflate_declared(p: Path) -> bytes:
    """Decompress a gzipped IDX file only as far as its header declares (plus one byte, to see extra
    data): a small upload cannot inflate into gigabytes (a gzip bomb) before it is refused."""
    with gzip.open(p, "rb") as f:
        head = f.read(4)
        if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in IDX_DTYPES or head[3] == 0:
            return head  # parse_idx names what is wrong with the header
        dims_raw = f.read(4 * head[3])
        if len(dims_raw) < 4 * head[3]:
            return head + dims_raw
        dims = tuple(int(d) for d in np.frombuffer(dims_raw, dtype=">u4"))
        expected = math.prod(dims) * IDX_DTYPES[head[2]].itemsize
        if expected > MAX_IDX_BYTES:
            raise ValueError(
                f"{p} declares shape {dims} ({expected:,} bytes of data); at most {MAX_IDX_BYTES:,} are accepted"
            )
        body = f.read(expected + 1)  # reads to the stream's end: a cut-off file raises EOFError here
        if len(body) > expected:
            raise ValueError(
                f"{p} holds more data than its header declares (shape {dims}, {expected:,} bytes after the header)"
            )
        return head + dims_raw + body


def default_mnist_dir() -> Path:
    """$AIAAS_DATA_DIR/mnist, else ../shared/data/mnist next to the repository."""
    env = os.environ.get("AIAAS_DATA_DIR")
    if env:
        return Path(env) / "mnist"
    repo = Path(__file__).resolve().parents[3]
    return repo.parent / "shared" / "data" / "mnist"


def _find(directory: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(f"MNIST file {stem}(.gz) not found in {directory}")


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def load_mnist(
    directory: str | os.PathLike | None = None, split: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST from the t10k IDX files: x float32 [n, 28, 28] in [0, 1], y int64 [n].

    split "train" = the first 8,000 images, "test" = the last 2,000.
    """
    _check_split(split)
    d = Path(directory) if directory is not None else default_mnist_dir()
    images = load_idx(_find(d, MNIST_IMAGES))
    labels = load_idx(_find(d, MNIST_LABELS))
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"MNIST files in {d} disagree: images {images.shape}, labels {labels.shape}; "
            f"expected [n, 28, 28] and [n]"
        )
    part = slice(0, MNIST_TRAIN_COUNT) if split == "train" else slice(MNIST_TRAIN_COUNT, None)
    x = images[part].astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(x), labels[part].astype(np.int64)


def load_digits_fallback(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """sklearn's bundled 8x8 digits as a stand-in when the MNIST folder is absent.

    x float32 [n, 8, 8] in [0, 1] (pixels are 0..16), y int64; first 80% train, last 20% test.
    """
    _check_split(split)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / np.float32(16.0))
    y = bunch.target.astype(np.int64)
    n_train = int(round(0.8 * len(y)))
    part = slice(0, n_train) if split == "train" else slice(n_train, None)
    return np.ascontiguousarray(x[part]), y[part]
