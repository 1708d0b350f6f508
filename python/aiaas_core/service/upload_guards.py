"""Checks on an upload's bytes before a loader reads them: what a file declares (an .npz's array
headers, a gzip's decompressed size, a CSV's width) must fit the limits before anything that size is
decompressed, allocated or parsed, since a few kilobytes of zeros compress a gigabyte (413 / 422)."""

from __future__ import annotations

import csv
import gzip
import math
import zipfile
from pathlib import Path

import numpy as np

from .errors import ApiError
from .uploads import UploadedFile

MAX_CSV_COLUMNS = 10_000  # features of a tabular upload; a wider header is refused before it is parsed
GZIP_MAGIC = b"\x1f\x8b"
IDX_MAX_HEADER = 4 + 4 * 255  # magic, then one 4-byte size per dimension
RAW_SUFFIX = ".raw"  # a decompressed part beside its upload, inside the form's private workdir


def too_big(filename: str, nbytes: int, limit: int) -> ApiError:
    return ApiError(413, f"{filename!r} holds {nbytes} bytes of data once decompressed, over the limit of "
                         f"{limit} bytes for one dataset; upload a smaller dataset")


def check_csv_width(upload: UploadedFile) -> None:
    """Refuse a header wider than MAX_CSV_COLUMNS before the loader reads every row of it."""
    with open(upload.path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        try:
            header = next(csv.reader(fh), [])
        except csv.Error:
            return  # a header the csv module cannot parse: the loader says where and why
    if len(header) > MAX_CSV_COLUMNS:
        raise ApiError(422, f"{upload.filename!r} has {len(header)} columns; at most {MAX_CSV_COLUMNS} are supported")


def check_npz_size(upload: UploadedFile, limit: int) -> None:
    """Sum the array sizes the .npy headers declare (numpy allocates them before reading any data)."""
    if not zipfile.is_zipfile(upload.path):
        return  # load_npz says what is wrong with it
    total = 0
    with zipfile.ZipFile(upload.path) as zf:
        for info in zf.infolist():
            try:
                fh = zf.open(info)
            except (NotImplementedError, RuntimeError) as exc:  # an unknown compression, a password
                raise ApiError(422, f"cannot read {info.filename!r} in {upload.filename!r}: {exc.args[0] if exc.args else exc}"
                                    "; expected an archive written by numpy.savez or savez_compressed") from None
            with fh:
                version = np.lib.format.read_magic(fh)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, _, dtype = read_header(fh)
            if dtype.hasobject:
                raise ApiError(422, f"array {info.filename!r} in {upload.filename!r} is an object array, which needs "
                                    "pickle (refused); expected numeric arrays x (and y: numbers or strings)")
            total += math.prod(shape) * dtype.itemsize
            if total > limit:
                raise too_big(upload.filename, total, limit)


def gunzip_capped(upload: UploadedFile, limit: int) -> Path:
    """A gzipped IDX part decompressed next to it, stopping at `limit` bytes of data (413); plain IDX as is."""
    with open(upload.path, "rb") as fh:
        if fh.read(2) != GZIP_MAGIC:
            return upload.path
    out = Path(str(upload.path) + RAW_SUFFIX)
    cap = limit + IDX_MAX_HEADER
    total = 0
    with gzip.open(upload.path, "rb") as src, open(out, "wb") as dst:
        while chunk := src.read(1 << 20):
            total += len(chunk)
            if total > cap:
                raise too_big(upload.filename, total, limit)
            dst.write(chunk)
    return out
