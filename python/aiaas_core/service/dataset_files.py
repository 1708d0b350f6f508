"""Turning an upload into validated arrays, a summary, and the canonical encrypted .npz the workers read."""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

import numpy as np

from .errors import ApiError
from .storage import Storage
from .uploads import Form

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


def parse_upload(form: Form) -> tuple[str, np.ndarray, np.ndarray | None, list[str] | None]:
    """(format, x [n, ...] float32 with NaN for missing, y [n] or None, feature column names)."""
    from aiaas_core import data

    upload = form.files.get("file")
    if upload is None:
        raise ApiError(422, "multipart part 'file' is required (a .csv, .npz or IDX file)")
    fmt = _kind(upload.filename)
    try:
        if fmt == "csv":
            label = form.fields.get("label_column") or None
            if label is None:
                raise ApiError(422, "field 'label_column' is required for a CSV upload (the column holding the target)")
            x, y, columns = data.load_csv(upload.path, label)
            return fmt, x, y, list(columns)
        if fmt == "npz":
            x, y = data.load_npz(upload.path)
            return fmt, x, y, None
        labels = form.files.get("labels")
        images = data.load_idx(upload.path).astype(np.float32)
        y = data.load_idx(labels.path).astype(np.int64) if labels is not None else None
        if y is not None and (y.ndim != 1 or y.shape[0] != images.shape[0]):
            raise ApiError(422, f"IDX labels must be 1-D with one label per image: images {images.shape}, labels {y.shape}")
        return fmt, images, y, None
    except ApiError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise ApiError(422, f"could not read the {fmt} upload: {exc}") from exc


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
        raise ApiError(422, f"field 'scaling' must be one of {list(SCALINGS)}, got {scaling!r}")
    if missing not in MISSING:
        raise ApiError(422, f"field 'missing' must be one of {list(MISSING)}, got {missing!r}")
    if one_hot not in ("true", "false", "1", "0"):
        raise ApiError(422, f"field 'one_hot' must be true or false, got {one_hot!r}")
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
