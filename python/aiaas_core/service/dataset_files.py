"""Turning an upload into validated arrays, a summary, and the canonical encrypted .npz the workers read."""

from __future__ import annotations

import gzip
import io
import math
import zipfile
import zlib
from collections import Counter
from typing import Any

import numpy as np

from .errors import ApiError, brief, clip
from .storage import Storage
from .upload_guards import RAW_SUFFIX, check_csv_width, check_npz_size, gunzip_capped
from .uploads import Form, UploadedFile

SCALINGS = ("standard", "minmax", "global_minmax", "none")
MISSING = ("drop", "mean", "median", "zero")
TASKS = ("classification", "regression", "auto")
MAX_CLASSES = 1000


def _kind(filename: str) -> str:
    name = filename.lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".npz"):
        return "npz"
    if name.endswith((".idx", ".gz")) or "-idx" in name or "ubyte" in name:
        return "idx"
    raise ApiError(415, f"unsupported file {filename!r}: expected a .csv, a .npz (arrays x, y) or IDX (.idx/.gz with a 'labels' part)")


FORM_FIELDS = ("name", "label_column", "task", "scaling", "missing", "one_hot")
FORM_FILES = ("file", "labels")


def check_form_names(form: Form) -> None:
    """422 for a part this route does not know: a misspelt option ('scalling') would otherwise be
    ignored silently and the dataset prepared with the default instead (as JSON bodies, extras are refused)."""
    unknown = sorted(set(form.fields) - set(FORM_FIELDS)) + sorted(set(form.files) - set(FORM_FILES))
    misplaced = sorted(set(form.fields) & set(FORM_FILES)) + sorted(set(form.files) & set(FORM_FIELDS))
    if misplaced:
        raise ApiError(422, f"multipart part(s) {brief(misplaced)}: 'file' and 'labels' are files, the others "
                            f"text fields {list(FORM_FIELDS)}")
    if unknown:
        raise ApiError(422, f"unknown multipart part(s) {brief(unknown)}; expected the file parts {list(FORM_FILES)} "
                            f"and the fields {list(FORM_FIELDS)}")


def parse_upload(form: Form, limit: int) -> tuple[str, np.ndarray, np.ndarray | None, list[str] | None]:
    """(format, x [n, ...] float32 with NaN for missing, y [n] or None, feature column names).

    `limit` bounds the bytes the arrays may hold once decompressed (a few kilobytes of zeros
    compress a gigabyte), checked before anything is decompressed or allocated (413)."""
    upload = form.files.get("file")
    if upload is None:
        raise ApiError(422, "multipart part 'file' is required (a .csv, .npz or IDX file)")
    fmt = _kind(upload.filename)
    try:
        x, y, columns = _read(fmt, form, upload, limit)
    except ApiError:
        raise
    except (ValueError, TypeError, KeyError, EOFError, zipfile.BadZipFile, gzip.BadGzipFile, zlib.error) as exc:
        raise ApiError(422, f"could not read the {fmt} upload {upload.filename!r}: {_client_text(exc, form)}") from exc
    check_arrays(x, y, upload.filename)
    return fmt, x, y, columns


def _read(fmt: str, form: Form, upload: UploadedFile, limit: int):
    from aiaas_core import data

    if fmt == "csv":
        label = form.fields.get("label_column") or None
        if label is None:
            raise ApiError(422, "field 'label_column' is required for a CSV upload (the column holding the target)")
        check_csv_width(upload)
        x, y, columns = data.load_csv(upload.path, label)
        return x, y, list(columns)
    if fmt == "npz":
        check_npz_size(upload, limit)
        x, y = data.load_npz(upload.path)
        return x, y, None
    labels = form.files.get("labels")
    images = data.load_idx(gunzip_capped(upload, limit)).astype(np.float32)
    y = data.load_idx(gunzip_capped(labels, limit)) if labels is not None else None
    if y is not None:
        if y.dtype.kind == "f" and not np.all(np.isfinite(y) & (y == np.round(y))):
            raise ApiError(422, f"IDX labels {labels.filename!r} must be whole numbers (class ids); they hold fractions or NaN")
        y = y.astype(np.int64)
    if y is not None and (y.ndim != 1 or y.shape[0] != images.shape[0]):
        raise ApiError(422, f"IDX labels must be 1-D with one label per image: images {images.shape}, labels {y.shape}")
    return images, y, None


def _client_text(exc: Exception, form: Form) -> str:
    """The loader's message with the server's temp paths replaced by the client's file names."""
    if isinstance(exc, UnicodeDecodeError):
        return f"the file is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"
    text = str(exc)
    for f in form.files.values():
        text = text.replace(str(f.path) + RAW_SUFFIX, repr(f.filename)).replace(str(f.path), repr(f.filename))
    return clip(text.replace(str(form.workdir), "<upload>"))


def check_arrays(x: np.ndarray, y: np.ndarray | None, filename: str) -> None:
    """What training needs of any upload: rows of at least one feature, and no infinite values
    (NaN marks a missing value; an infinity is never one and turns the training loss into NaN)."""
    if x.ndim < 2:
        raise ApiError(422, f"x from {filename!r} has shape {list(x.shape)}; expected [samples, features...] "
                            "(one row per sample, at least one feature)")
    if x.shape[0] == 0:
        raise ApiError(422, f"{filename!r} holds no rows; the dataset has no rows")
    if math.prod(x.shape[1:]) == 0:
        raise ApiError(422, f"{filename!r} has no feature columns (samples shaped {list(x.shape[1:])}); "
                            "expected at least one feature besides the label")
    infinite = np.isinf(x.reshape(x.shape[0], -1)).any(axis=1)
    if infinite.any():
        raise ApiError(422, f"x from {filename!r} holds infinite values (inf, or beyond float32's 3.4e38) in "
                            f"{int(infinite.sum())} row(s), the first row {int(np.argmax(infinite))}; expected finite "
                            "numbers (an empty cell or NaN marks a missing value)")
    if y is not None and y.dtype.kind == "f" and np.isinf(y).any():
        raise ApiError(422, f"the labels of {filename!r} hold infinite values; expected finite numbers "
                            "(an empty cell or NaN marks a missing label)")


def infer_task(y: np.ndarray | None, requested: str) -> str:
    if y is None:
        return "none"
    if requested != "auto":
        if requested == "regression" and y.dtype.kind not in "biuf":
            raise ApiError(422, "task 'regression' needs numeric labels; this label column holds text")
        return requested
    if y.dtype.kind in "US" or y.dtype.kind in "bi" and len(np.unique(y)) <= min(MAX_CLASSES, max(2, y.shape[0] // 2)):
        return "classification"
    return "regression"


def summarise(fmt: str, x: np.ndarray, y: np.ndarray | None, columns: list[str] | None, task: str) -> dict[str, Any]:
    """The facts a user checks before training: rows, shapes, dtypes, labels, missing values."""
    nan = np.isnan(x)
    summary: dict[str, Any] = {
        "format": fmt,
        "rows": int(x.shape[0]),
        "x_shape": [int(d) for d in x.shape[1:]],
        "x_dtype": "float32",
        "y_dtype": None if y is None else str(y.dtype),
        "columns": columns,
        "task": task,
        "missing_values": {"total": int(nan.sum()), "rows_with_missing": int(nan.reshape(x.shape[0], -1).any(axis=1).sum())},
    }
    if columns is not None:
        summary["missing_values"]["by_column"] = {c: int(k) for c, k in zip(columns, nan.sum(axis=0))}
    if y is not None and task == "classification":
        counts = Counter(str(v) for v in y.tolist())
        if len(counts) > MAX_CLASSES:
            raise ApiError(422, f"the labels hold {len(counts)} distinct classes; at most {MAX_CLASSES} are supported")
        summary["label_distribution"] = dict(sorted(counts.items()))
        numeric = y.dtype.kind in "biuf"
        summary["classes"] = sorted(counts, key=(lambda c: float(c)) if numeric else None)
    elif y is not None:
        yf = y.astype(np.float64)
        ok = yf[np.isfinite(yf)]
        summary["label_stats"] = {"min": float(ok.min()), "max": float(ok.max()), "mean": float(ok.mean()),
                                  "missing": int((~np.isfinite(yf)).sum())} if ok.size else {"missing": int(yf.size)}
    return summary


def preprocessing_from_form(fields: dict[str, str], fmt: str) -> dict[str, Any]:
    """The chosen preprocessing (applied at training time, then saved with the model)."""
    scaling = fields.get("scaling", "global_minmax" if fmt == "idx" else "standard")
    missing = fields.get("missing", "drop")
    one_hot = fields.get("one_hot", "false").lower()
    if scaling not in SCALINGS:
        raise ApiError(422, f"field 'scaling' must be one of {list(SCALINGS)}, got {brief(scaling)}")
    if missing not in MISSING:
        raise ApiError(422, f"field 'missing' must be one of {list(MISSING)}, got {brief(missing)}")
    if one_hot not in ("true", "false", "1", "0"):
        raise ApiError(422, f"field 'one_hot' must be true or false, got {brief(one_hot)}")
    return {"scaling": scaling, "missing": missing, "one_hot": one_hot in ("true", "1")}


def save_arrays(storage: Storage, dataset_id: str, x: np.ndarray, y: np.ndarray | None) -> int:
    buf = io.BytesIO()
    if y is None:
        np.savez(buf, x=x)
    else:
        np.savez(buf, x=x, y=y)
    return storage.write_bytes("datasets", dataset_id, buf.getvalue())


def load_arrays(storage: Storage, dataset_id: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The canonical arrays, decrypted in memory (never written back to disk in plaintext)."""
    with np.load(io.BytesIO(storage.read_bytes("datasets", dataset_id)), allow_pickle=False) as npz:
        return npz["x"], (npz["y"] if "y" in npz.files else None)
