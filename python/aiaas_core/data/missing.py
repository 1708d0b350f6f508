"""Missing values (NaN): drop the rows, or fill each column with its mean / median / zero."""

from __future__ import annotations

import numpy as np

from .._arrays import as_float32

STRATEGIES = ("drop", "mean", "median", "zero")
IMPUTE_STRATEGIES = ("mean", "median", "zero")
MAX_REPORTED_ROWS = 100  # dropped row indices listed in a report (the count is always exact)


def _check_x(x, name: str = "x") -> np.ndarray:
    arr = as_float32(x, name, ndim=(2,))
    if np.isinf(arr).any():
        raise ValueError(f"{name} contains infinite values; only NaN is treated as missing")
    return arr


def _column_names(columns, f: int) -> list[str]:
    if columns is None:
        return [str(i) for i in range(f)]
    names = [str(c) for c in columns]
    if len(names) != f:
        raise ValueError(f"columns has {len(names)} names but x has {f} features")
    return names


def _missing_labels(y, n: int) -> tuple[np.ndarray | None, np.ndarray]:
    """Validate y and return (y, mask of rows whose label is NaN)."""
    if y is None:
        return None, np.zeros(n, dtype=bool)
    y = np.asarray(y)
    if y.ndim < 1 or y.shape[0] != n:
        raise ValueError(f"x and y must have the same number of samples, got {n} rows in x and y of shape {y.shape}")
    if y.dtype.kind == "f":
        return y, np.isnan(y.reshape(n, -1)).any(axis=1)
    if y.dtype.kind not in "biuUS":
        raise TypeError(f"y must be numeric or strings, got dtype {y.dtype}")
    return y, np.zeros(n, dtype=bool)


class MissingValueImputer:
    """Fills NaN per column with a statistic learned at fit time (so serving fills like training).

    Columns that are entirely NaN at fit time are filled with 0 (there is no statistic to learn).
    """

    def __init__(self, strategy: str = "mean"):
        if strategy not in IMPUTE_STRATEGIES:
            raise ValueError(f"strategy must be one of {IMPUTE_STRATEGIES}, got {strategy!r}")
        self.strategy = strategy
        self.fill_values_: np.ndarray | None = None

    def fit(self, x) -> "MissingValueImputer":
        """Learn one fill value per column of x [n, f] from its non-NaN entries."""
        arr = _check_x(x)
        f = arr.shape[1]
        if self.strategy == "zero":
            fill = np.zeros(f)
        else:
            x64 = arr.astype(np.float64)
            present = ~np.isnan(x64)
            fill = np.zeros(f)
            has = present.any(axis=0)
            if has.any():
                stat = np.nanmean if self.strategy == "mean" else np.nanmedian
                fill[has] = stat(x64[:, has], axis=0)
        self.fill_values_ = fill
        return self

    def transform(self, x) -> np.ndarray:
        """Return a float32 copy of x with each NaN replaced by its column's fill value."""
        if self.fill_values_ is None:
            raise ValueError("MissingValueImputer is not fitted yet; call fit(x) first")
        arr = _check_x(x)
        if arr.shape[1] != self.fill_values_.shape[0]:
            raise ValueError(f"x has {arr.shape[1]} features but the imputer was fitted on {self.fill_values_.shape[0]}")
        out = arr.copy()
        rows, cols = np.nonzero(np.isnan(out))
        out[rows, cols] = self.fill_values_[cols]
        return out

    def fit_transform(self, x) -> np.ndarray:
        """fit(x) then transform(x)."""
        return self.fit(x).transform(x)

    def get_config(self) -> dict:
        """JSON-able dict with class_name, strategy and the learned fill values."""
        fill = self.fill_values_.tolist() if self.fill_values_ is not None else None
        return {"class_name": "MissingValueImputer", "config": {"strategy": self.strategy, "fill_values": fill}}

    @classmethod
    def from_config(cls, config: dict) -> "MissingValueImputer":
        """Rebuild from the "config" part of get_config()."""
        obj = cls(config.get("strategy", "mean"))
        fill = config.get("fill_values")
        if fill is not None:
            arr = np.asarray(fill, dtype=np.float64)
            if arr.ndim != 1 or not np.isfinite(arr).all():
                raise ValueError("config field 'fill_values' must be a list of finite numbers")
            obj.fill_values_ = arr
        return obj


def handle_missing(x, y=None, strategy: str = "drop", *, columns: list[str] | None = None):
    """Clean NaN out of x [n, f] (and drop rows whose numeric label y is NaN).

    strategy "drop" removes rows with any NaN; "mean" / "median" / "zero" fill per column.
    Returns `(x, y, report)`; report is a JSON-able dict: strategy, rows_in, rows_out,
    rows_dropped, rows_missing_label, missing_values {column: NaN count in x}, dropped_rows (indices
    into x, the first MAX_REPORTED_ROWS) and dropped_rows_truncated, values_imputed {column: count},
    fill_values {column: value} (None for "drop"). `columns` names the features in the report (default "0", "1", ...).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    arr = _check_x(x)
    n, f = arr.shape
    names = _column_names(columns, f)
    y, label_missing = _missing_labels(y, n)
    nan_mask = np.isnan(arr)
    if strategy == "drop":
        keep = ~(nan_mask.any(axis=1) | label_missing)
        imputed = {c: 0 for c in names}
        fill_report = None
        out = arr[keep]
    else:
        keep = ~label_missing
        kept = arr[keep]
        imputer = MissingValueImputer(strategy).fit(kept)
        counts = np.isnan(kept).sum(axis=0)
        imputed = {c: int(k) for c, k in zip(names, counts)}
        fill_report = {c: float(v) for c, v in zip(names, imputer.fill_values_)}
        out = imputer.transform(kept)
    dropped = np.flatnonzero(~keep)
    report = {
        "strategy": strategy,
        "rows_in": int(n),
        "rows_out": int(keep.sum()),
        "rows_dropped": int(n - keep.sum()),
        "rows_missing_label": int(label_missing.sum()),
        "missing_values": {c: int(k) for c, k in zip(names, nan_mask.sum(axis=0))},
        # Which rows went (their index in x), so a user can look at them; the list is capped.
        "dropped_rows": dropped[:MAX_REPORTED_ROWS].tolist(),
        "dropped_rows_truncated": bool(dropped.size > MAX_REPORTED_ROWS),
        "values_imputed": imputed,
        "fill_values": fill_report,
    }
    return np.ascontiguousarray(out), (y[keep] if y is not None else None), report
