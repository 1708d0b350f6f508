"""Reading a CSV file with a header row into a float32 feature matrix and an optional label vector.

Streams the file line by line through the `csv` module (no pandas), so a large upload never has to
be held as text in memory twice.
"""

from __future__ import annotations

import csv
import math
import os
from collections import Counter
from pathlib import Path

import numpy as np

# Cell texts read as "missing" (compared after strip() and lower()).
MISSING_TOKENS = frozenset({"", "na", "nan", "n/a", "null", "none"})
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _parse_feature(cell: str, row: int, column: str) -> float:
    text = cell.strip()
    if text.lower() in MISSING_TOKENS:
        return float("nan")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(
            f"CSV row {row}, column {column!r}: value {cell!r} is not a number "
            f"(expected a number, or empty/NA/nan for a missing value)"
        ) from None
    _check_finite(value, cell, row, column)
    return value


def _check_finite(value: float, cell: str, row: int, column: str) -> None:
    """'inf', or a number float32 cannot hold (it would become inf), is an error naming the cell."""
    if not math.isfinite(value) or abs(value) > _FLOAT32_MAX:
        raise ValueError(
            f"CSV row {row}, column {column!r}: value {cell!r} is infinite or beyond float32's range "
            f"(|v| <= {_FLOAT32_MAX:.3g}); expected a finite number, or empty/NA/nan for a missing value"
        )


def _labels_to_array(labels: list[str], column: str, first_data_row: int) -> np.ndarray:
    """Numeric labels -> int64 (all integers) or float32 (NaN for missing); otherwise a str array."""
    stripped = [s.strip() for s in labels]
    missing = [s.lower() in MISSING_TOKENS for s in stripped]
    try:
        as_float = [float("nan") if m else float(s) for s, m in zip(stripped, missing)]
    except ValueError:
        # String (class name) labels: a missing class cannot be guessed, so it is an error.
        for i, m in enumerate(missing):
            if m:
                raise ValueError(
                    f"CSV row {first_data_row + i}, label column {column!r}: missing value "
                    f"{labels[i]!r}; a string label column needs a class name in every row"
                ) from None
        return np.asarray(stripped, dtype=str)
    for i, (value, m) in enumerate(zip(as_float, missing)):
        if not m:
            _check_finite(value, labels[i], first_data_row + i, column)
    values = np.asarray(as_float, dtype=np.float64)
    if not any(missing) and np.all(np.isfinite(values)) and np.all(values == np.round(values)):
        return values.astype(np.int64)
    return values.astype(np.float32)


def load_csv(
    path: str | os.PathLike, label_column: str | None = None, *, delimiter: str = ","
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Read a CSV file with a header row.

    Returns `(x, y, columns)`: x float32 [n, f] (empty / NA / nan cells become NaN), y the label
    column (int64 if all integers, float32 if numeric, str array for class names; None when
    `label_column` is None) and the feature column names in order.
    Raises ValueError naming row (1-based file line), column and value for a non-numeric feature,
    a row of the wrong length, an unknown label column, or a file without header or data rows.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like, got {type(path).__name__}")
    if label_column is not None and not isinstance(label_column, str):
        raise TypeError(f"label_column must be a column name (str) or None, got {type(label_column).__name__}")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ValueError(f"delimiter must be a single character, got {delimiter!r}")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"CSV file not found: {p}")

    try:
        return _read(p, label_column, delimiter)
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"CSV file {p} is not UTF-8 text (it holds byte 0x{exc.object[exc.start]:02x}, which UTF-8 cannot "
            "decode); save it as UTF-8 (e.g. 'CSV UTF-8' in a spreadsheet program)"
        ) from None


def _read(p: Path, label_column: str | None, delimiter: str):
    # utf-8-sig drops the byte-order mark spreadsheet programs put in front of the header.
    with p.open("r", newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"CSV file {p} is empty; expected a header row with column names") from None
        except csv.Error as exc:
            raise ValueError(f"CSV file {p}: cannot parse the header: {exc}") from None
        header = [h.strip() for h in header]
        if not header or any(h == "" for h in header):
            raise ValueError(f"CSV file {p}: the header row has an empty column name: {header}")
        dupes = sorted(h for h, n in Counter(header).items() if n > 1)  # one pass: a wide header is O(n)
        if dupes:
            raise ValueError(f"CSV file {p}: duplicate column names in the header: {dupes}")
        label_idx = None
        if label_column is not None:
            if label_column not in header:
                raise ValueError(
                    f"label_column {label_column!r} is not a column of {p}; columns are {header}"
                )
            label_idx = header.index(label_column)
        feature_idx = [i for i in range(len(header)) if i != label_idx]
        columns = [header[i] for i in feature_idx]

        rows: list[list[float]] = []
        labels: list[str] = []
        first_data_line = None
        try:
            for cells in reader:
                line = reader.line_num
                if not cells or (len(cells) == 1 and cells[0].strip() == ""):
                    continue  # blank line
                if first_data_line is None:
                    first_data_line = line
                if len(cells) != len(header):
                    raise ValueError(
                        f"CSV row {line} has {len(cells)} cells, expected {len(header)} (one per column of the header)"
                    )
                rows.append([_parse_feature(cells[i], line, header[i]) for i in feature_idx])
                if label_idx is not None:
                    labels.append(cells[label_idx])
        except csv.Error as exc:
            raise ValueError(f"CSV file {p}, row {reader.line_num}: {exc}") from None

    if not rows:
        raise ValueError(f"CSV file {p} has a header but no data rows")
    x = np.asarray(rows, dtype=np.float32).reshape(len(rows), len(feature_idx))
    y = _labels_to_array(labels, label_column, first_data_line) if label_idx is not None else None
    return x, y, columns
