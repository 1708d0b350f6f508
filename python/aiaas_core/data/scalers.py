"""Feature scaling (StandardScaler, MinMaxScaler) with sklearn's formulas and JSON configs."""

from __future__ import annotations

import numpy as np

from .._arrays import as_float32


def _check_2d_finite(x, name: str) -> np.ndarray:
    arr = as_float32(x, name, ndim=(2,))
    if arr.size and not np.isfinite(arr).all():
        raise ValueError(
            f"{name} contains NaN or infinite values; handle missing values first "
            f"(aiaas_core.data.handle_missing or a Preprocessor with a missing-value strategy)"
        )
    return arr


def _stat_vector(values, name: str, n: int | None = None) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        raise ValueError(f"config field {name!r} must be a list of {n if n is not None else 'n'} numbers, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"config field {name!r} must hold finite numbers")
    return arr


def _nonzero(scale: np.ndarray) -> np.ndarray:
    """Zero spread (a constant column) would divide by zero; like sklearn, scale by 1 instead."""
    out = scale.copy()
    out[out < 10 * np.finfo(np.float64).eps] = 1.0
    return out


class _Scaler:
    """Shared checks: fitted-or-not, feature count, fit_transform."""

    n_features_in_: int | None = None

    def _require_fitted(self) -> None:
        if self.n_features_in_ is None:
            raise ValueError(f"{type(self).__name__} is not fitted yet; call fit(x) first")

    def _check_input(self, x, name: str = "x") -> np.ndarray:
        self._require_fitted()
        arr = _check_2d_finite(x, name)
        if arr.shape[1] != self.n_features_in_:
            raise ValueError(
                f"{name} has {arr.shape[1]} features but {type(self).__name__} was fitted on {self.n_features_in_}"
            )
        return arr

    def fit_transform(self, x) -> np.ndarray:
        """fit(x) then transform(x)."""
        return self.fit(x).transform(x)


class StandardScaler(_Scaler):
    """z = (x - mean) / std per column (population std, as sklearn); constant columns keep scale 1."""

    def __init__(self, with_mean: bool = True, with_std: bool = True):
        self.with_mean = bool(with_mean)
        self.with_std = bool(with_std)
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.n_features_in_ = None

    def fit(self, x) -> "StandardScaler":
        """Learn per-column mean and std from x [n, f] (finite values, n >= 1)."""
        arr = _check_2d_finite(x, "x")
        if arr.shape[0] == 0:
            raise ValueError("x must have at least one row to fit a StandardScaler")
        x64 = arr.astype(np.float64)
        f = arr.shape[1]
        self.mean_ = x64.mean(axis=0) if self.with_mean else np.zeros(f)
        if self.with_std:
            var = x64.var(axis=0)
            # Constant column test on the variance, with sklearn's bound for its rounding error.
            eps = np.finfo(np.float64).eps
            n = arr.shape[0]
            constant = var <= n * eps * var + (n * x64.mean(axis=0) * eps) ** 2
            self.scale_ = np.where(constant, 1.0, np.sqrt(var))
        else:
            self.scale_ = np.ones(f)
        self.n_features_in_ = f
        return self

    def transform(self, x) -> np.ndarray:
        """x [n, f] -> float32 [n, f] standardized with the fitted statistics."""
        arr = self._check_input(x)
        return ((arr - self.mean_) / self.scale_).astype(np.float32)

    def inverse_transform(self, z) -> np.ndarray:
        """Undo transform: z * std + mean."""
        arr = self._check_input(z, "z")
        return (arr * self.scale_ + self.mean_).astype(np.float32)

    def get_config(self) -> dict:
        """JSON-able dict: class_name, options and (when fitted) the statistics."""
        fitted = self.n_features_in_ is not None
        return {
            "class_name": "StandardScaler",
            "config": {
                "with_mean": self.with_mean,
                "with_std": self.with_std,
                "mean": self.mean_.tolist() if fitted else None,
                "scale": self.scale_.tolist() if fitted else None,
            },
        }

    @classmethod
    def from_config(cls, config: dict) -> "StandardScaler":
        """Rebuild from the "config" part of get_config()."""
        obj = cls(config.get("with_mean", True), config.get("with_std", True))
        if config.get("mean") is not None or config.get("scale") is not None:
            obj.mean_ = _stat_vector(config.get("mean"), "mean")
            obj.scale_ = _stat_vector(config.get("scale"), "scale", obj.mean_.shape[0])
            if (obj.scale_ <= 0).any():
                raise ValueError("config field 'scale' must hold positive numbers")
            obj.n_features_in_ = int(obj.mean_.shape[0])
        return obj


class MinMaxScaler(_Scaler):
    """Maps each column's [min, max] onto feature_range; constant columns map to feature_range[0]."""

    def __init__(self, feature_range: tuple[float, float] = (0.0, 1.0)):
        try:
            lo, hi = (float(v) for v in feature_range)
        except (TypeError, ValueError):
            raise TypeError(f"feature_range must be a pair of numbers (min, max), got {feature_range!r}") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"feature_range must satisfy min < max (finite), got {feature_range!r}")
        self.feature_range = (lo, hi)
        self.data_min_: np.ndarray | None = None
        self.data_max_: np.ndarray | None = None
        self.n_features_in_ = None

    def _set_stats(self, data_min: np.ndarray, data_max: np.ndarray) -> None:
        lo, hi = self.feature_range
        self.data_min_, self.data_max_ = data_min, data_max
        self.scale_ = (hi - lo) / _nonzero(data_max - data_min)
        self.min_ = lo - data_min * self.scale_
        self.n_features_in_ = int(data_min.shape[0])

    def fit(self, x) -> "MinMaxScaler":
        """Learn per-column min and max from x [n, f] (finite values, n >= 1)."""
        arr = _check_2d_finite(x, "x")
        if arr.shape[0] == 0:
            raise ValueError("x must have at least one row to fit a MinMaxScaler")
        x64 = arr.astype(np.float64)
        self._set_stats(x64.min(axis=0), x64.max(axis=0))
        return self

    def transform(self, x) -> np.ndarray:
        """x [n, f] -> float32 [n, f] = x * scale + min."""
        arr = self._check_input(x)
        return (arr * self.scale_ + self.min_).astype(np.float32)

    def inverse_transform(self, z) -> np.ndarray:
        """Undo transform: (z - min) / scale."""
        arr = self._check_input(z, "z")
        return ((arr - self.min_) / self.scale_).astype(np.float32)

    def get_config(self) -> dict:
        """JSON-able dict: class_name, feature_range and (when fitted) data_min / data_max."""
        fitted = self.n_features_in_ is not None
        return {
            "class_name": "MinMaxScaler",
            "config": {
                "feature_range": list(self.feature_range),
                "data_min": self.data_min_.tolist() if fitted else None,
                "data_max": self.data_max_.tolist() if fitted else None,
            },
        }

    @classmethod
    def from_config(cls, config: dict) -> "MinMaxScaler":
        """Rebuild from the "config" part of get_config()."""
        obj = cls(tuple(config.get("feature_range", (0.0, 1.0))))
        if config.get("data_min") is not None or config.get("data_max") is not None:
            dmin = _stat_vector(config.get("data_min"), "data_min")
            dmax = _stat_vector(config.get("data_max"), "data_max", dmin.shape[0])
            if (dmax < dmin).any():
                raise ValueError("config fields data_min/data_max: every data_min must be <= data_max")
            obj._set_stats(dmin, dmax)
        return obj
