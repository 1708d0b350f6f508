"""One object holding the whole feature preparation, so training and serving apply the same steps.

A Preprocessor = missing-value policy + optional scaler, fitted on training data, saved as JSON
(`get_config`) next to the model and rebuilt by `preprocessor_from_config`.
"""

from __future__ import annotations

import numpy as np

from .missing import STRATEGIES, MissingValueImputer, _check_x, handle_missing
from .scalers import MinMaxScaler, StandardScaler

SCALER_NAMES = {"standard": StandardScaler, "minmax": MinMaxScaler}


def _make_scaler(scaler):
    if scaler is None or isinstance(scaler, (StandardScaler, MinMaxScaler)):
        return scaler
    if isinstance(scaler, str) and scaler in SCALER_NAMES:
        return SCALER_NAMES[scaler]()
    raise ValueError(
        f"scaler must be None, one of {sorted(SCALER_NAMES)} or a StandardScaler/MinMaxScaler, got {scaler!r}"
    )


class Preprocessor:
    """Missing-value handling then scaling.

    missing: "drop" (training drops rows with NaN; serving rejects them), "mean" / "median" /
    "zero" (fill values learned at fit time), or None (NaN is an error).
    scaler: "standard", "minmax", a scaler instance, or None.
    """

    def __init__(self, missing: str | None = "drop", scaler="standard", columns: list[str] | None = None):
        if missing is not None and missing not in STRATEGIES:
            raise ValueError(f"missing must be None or one of {STRATEGIES}, got {missing!r}")
        self.missing = missing
        self.scaler = _make_scaler(scaler)
        self.columns = [str(c) for c in columns] if columns is not None else None
        self.imputer = MissingValueImputer(missing) if missing not in (None, "drop") else None
        self.n_features_in_: int | None = None

    def _check_columns(self, f: int) -> None:
        if self.columns is not None and len(self.columns) != f:
            raise ValueError(f"x has {f} features but the Preprocessor names {len(self.columns)} columns")

    def fit_clean(self, x, y=None):
        """Fit on training data and return it prepared: `(x, y, report)` (rows may be dropped)."""
        arr = _check_x(x)
        self._check_columns(arr.shape[1])
        if self.missing is None:
            if np.isnan(arr).any():
                raise ValueError("x contains NaN but this Preprocessor has missing=None; choose a missing-value strategy")
            cleaned, y_out, report = handle_missing(arr, y, "drop", columns=self.columns)
        else:
            cleaned, y_out, report = handle_missing(arr, y, self.missing, columns=self.columns)
        if cleaned.shape[0] == 0:
            raise ValueError("no rows left after removing missing values; try an imputing strategy (mean/median/zero)")
        if self.imputer is not None:
            # Learn fill values from the rows kept (same as handle_missing used).
            keep_rows = arr if y is None else arr[~_label_nan(y, arr.shape[0])]
            self.imputer.fit(keep_rows)
        if self.scaler is not None:
            self.scaler.fit(cleaned)
            cleaned = self.scaler.transform(cleaned)
        self.n_features_in_ = int(arr.shape[1])
        return cleaned, y_out, report

    def fit(self, x, y=None) -> "Preprocessor":
        """Learn fill values and scaling statistics from training data x [n, f]."""
        self.fit_clean(x, y)
        return self

    def transform(self, x) -> np.ndarray:
        """Prepare x [n, f] for prediction: one output row per input row (float32 [n, f])."""
        if self.n_features_in_ is None:
            raise ValueError("Preprocessor is not fitted yet; call fit(x) first")
        arr = _check_x(x)
        if arr.shape[1] != self.n_features_in_:
            raise ValueError(f"x has {arr.shape[1]} features but the Preprocessor was fitted on {self.n_features_in_}")
        if self.imputer is not None:
            arr = self.imputer.transform(arr)
        else:
            bad = np.nonzero(np.isnan(arr).any(axis=1))[0]
            if bad.size:
                raise ValueError(
                    f"x rows {bad[:10].tolist()} contain missing values (NaN); this Preprocessor "
                    f"(missing={self.missing!r}) does not fill them at prediction time"
                )
        if self.scaler is not None:
            arr = self.scaler.transform(arr)
        return arr

    def fit_transform(self, x) -> np.ndarray:
        """fit(x) then transform(x) (for x without missing values, or with an imputing strategy)."""
        return self.fit(x).transform(x)

    def get_config(self) -> dict:
        """JSON-able dict: class_name and every fitted step."""
        return {
            "class_name": "Preprocessor",
            "config": {
                "missing": self.missing,
                "imputer": self.imputer.get_config() if self.imputer is not None else None,
                "scaler": self.scaler.get_config() if self.scaler is not None else None,
                "columns": self.columns,
                "n_features": self.n_features_in_,
            },
        }

    @classmethod
    def from_config(cls, config: dict) -> "Preprocessor":
        """Rebuild from the "config" part of get_config()."""
        scaler = config.get("scaler")
        obj = cls(config.get("missing"), None, config.get("columns"))
        if scaler is not None:
            obj.scaler = preprocessor_from_config(scaler)
            if not isinstance(obj.scaler, (StandardScaler, MinMaxScaler)):
                raise ValueError(f"config field 'scaler' must describe a scaler, got {scaler.get('class_name')!r}")
        if config.get("imputer") is not None:
            obj.imputer = MissingValueImputer.from_config(config["imputer"]["config"])
        n = config.get("n_features")
        if n is not None:
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"config field 'n_features' must be a positive int, got {n!r}")
            obj.n_features_in_ = n
        return obj


Pipeline = Preprocessor


def _label_nan(y, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.dtype.kind == "f":
        return np.isnan(y.reshape(n, -1)).any(axis=1)
    return np.zeros(n, dtype=bool)


PREPROCESSOR_CLASSES = {
    "StandardScaler": StandardScaler,
    "MinMaxScaler": MinMaxScaler,
    "MissingValueImputer": MissingValueImputer,
    "Preprocessor": Preprocessor,
    "Pipeline": Preprocessor,
}


def preprocessor_from_config(d: dict):
    """Rebuild any preprocessor (scaler, imputer, Preprocessor) from its get_config() dict."""
    if not isinstance(d, dict):
        raise TypeError(f"preprocessor config must be a dict, got {type(d).__name__}")
    name = d.get("class_name")
    if name not in PREPROCESSOR_CLASSES:
        raise ValueError(f"unknown preprocessor class_name {name!r}; expected one of {sorted(PREPROCESSOR_CLASSES)}")
    config = d.get("config", {})
    if not isinstance(config, dict):
        raise ValueError(f"preprocessor config field 'config' must be a dict, got {type(config).__name__}")
    return PREPROCESSOR_CLASSES[name].from_config(config)
