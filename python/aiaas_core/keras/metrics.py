"""Metrics with Keras names: running means over the samples seen since `reset_state()`."""

from __future__ import annotations

import numpy as np

from .._arrays import as_float32


class Scalar(float):
    """A metric result: a float that also answers `.numpy()` as a TensorFlow scalar does."""

    def numpy(self):
        return np.float32(self)


class Metric:
    """Base: `update_state(y_true, y_pred, sample_weight=None)`, `result()`, `reset_state()`;
    calling it updates and returns the result (`train_accuracy(labels, predictions)`)."""

    default_name = "metric"

    def __init__(self, name: str | None = None, dtype=None):
        self.name = name or self.default_name
        self.reset_state()

    def reset_state(self) -> None:
        self._total = 0.0
        self._count = 0.0

    reset_states = reset_state  # Keras 2 spelling

    def _values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        if not isinstance(y_pred, np.ndarray) or y_pred.dtype != np.float32 or type(y_pred) is not np.ndarray:
            y_pred = as_float32(y_pred, "y_pred")
        y_true = np.asarray(y_true)
        if type(y_true) is not np.ndarray:
            y_true = y_true.view(np.ndarray)
        values = np.asarray(self._values(y_true, y_pred), np.float64)
        if sample_weight is None:
            self._total += float(values.sum())
            self._count += values.size
            return
        w = _weights_for(sample_weight, values)
        self._total += float((values * w).sum())
        self._count += float(w.sum())

    def result(self) -> Scalar:
        return Scalar(self._total / self._count if self._count else 0.0)

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    @property
    def variables(self) -> list:
        return []

    def get_config(self) -> dict:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> "Metric":
        return cls(**config)


def _weights_for(sample_weight, values: np.ndarray) -> np.ndarray:
    """Per-value weights: one per sample (broadcast over the sample's values) or one per value."""
    w = np.asarray(sample_weight, np.float64)
    if w.ndim == 0:
        return np.full(values.shape, float(w))
    if w.size == values.size:
        return w.reshape(values.shape)
    if values.ndim and w.shape[0] == values.shape[0] and w.size == values.shape[0]:
        return np.broadcast_to(w.reshape((-1,) + (1,) * (values.ndim - 1)), values.shape)
    raise ValueError(f"sample_weight of shape {w.shape} does not match values of shape {values.shape}")


class Mean(Metric):
    """The (weighted) mean of the values given to update_state(values, sample_weight=None)."""

    default_name = "mean"

    def update_state(self, values, sample_weight=None) -> None:
        v = np.asarray(values if not hasattr(values, "_auto_watch") else np.asarray(values), np.float64)
        if sample_weight is None:
            self._total += float(v.sum())
            self._count += v.size
            return
        w = _weights_for(sample_weight, v) if v.ndim else np.asarray(float(np.asarray(sample_weight)))
        self._total += float((v * w).sum())
        self._count += float(np.sum(w))


class Sum(Metric):
    """The (weighted) sum of the values given to update_state(values, sample_weight=None)."""

    default_name = "sum"

    def update_state(self, values, sample_weight=None) -> None:
        v = np.asarray(values, np.float64)
        w = 1.0 if sample_weight is None else _weights_for(sample_weight, v)
        self._total += float(np.sum(v * w))
        self._count = 1.0

    def result(self) -> Scalar:
        return Scalar(self._total)


class MeanMetricWrapper(Metric):
    """The mean of `fn(y_true, y_pred)` (one value per sample): a metric from any such function."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        self._fn = fn
        self._fn_kwargs = kwargs
        super().__init__(name or getattr(fn, "__name__", "metric"))

    def _values(self, y_true, y_pred):
        return np.asarray(self._fn(y_true, y_pred, **self._fn_kwargs))


class BinaryAccuracy(Metric):
    default_name = "binary_accuracy"

    def __init__(self, name=None, threshold: float = 0.5):
        self.threshold = float(threshold)
        super().__init__(name)

    def _values(self, y_true, y_pred):
        return (y_pred > self.threshold) == (y_true.reshape(y_pred.shape) > 0.5)

    def get_config(self):
        return {"name": self.name, "threshold": self.threshold}


class CategoricalAccuracy(Metric):
    default_name = "categorical_accuracy"

    def _values(self, y_true, y_pred):
        return y_pred.argmax(-1) == y_true.reshape(y_pred.shape).argmax(-1)


class SparseCategoricalAccuracy(Metric):
    default_name = "sparse_categorical_accuracy"

    def _values(self, y_true, y_pred):
        return y_pred.argmax(-1) == y_true.reshape(y_pred.shape[:-1])


class Accuracy(Metric):
    """Exact equality of y_true and y_pred (Keras `Accuracy`)."""

    default_name = "accuracy"

    def _values(self, y_true, y_pred):
        return y_true.reshape(y_pred.shape) == y_pred


class MeanSquaredError(Metric):
    default_name = "mean_squared_error"

    def _values(self, y_true, y_pred):
        d = y_pred - y_true.reshape(y_pred.shape)
        return (d * d).reshape(d.shape[0], -1).mean(axis=1)


class MeanAbsoluteError(Metric):
    default_name = "mean_absolute_error"

    def _values(self, y_true, y_pred):
        d = np.abs(y_pred - y_true.reshape(y_pred.shape))
        return d.reshape(d.shape[0], -1).mean(axis=1)


class MeanAbsolutePercentageError(Metric):
    """100 * mean(|y_true - y_pred| / max(|y_true|, epsilon)) per sample (Keras's MAPE)."""

    default_name = "mean_absolute_percentage_error"

    def _values(self, y_true, y_pred):
        t = y_true.reshape(y_pred.shape).astype(np.float64)
        d = np.abs(t - y_pred) / np.maximum(np.abs(t), 1e-7)
        return 100.0 * d.reshape(d.shape[0], -1).mean(axis=1)


class _Confusion(Metric):
    """Weighted confusion counts of (y_pred > threshold) against y_true (nonzero = positive), as
    Keras's TruePositives ... Recall with one threshold (0.5 unless `thresholds` names another)."""

    _key = ""           # the count a counting metric reports
    _ratio = None       # (numerator, denominator keys) for Precision / Recall

    def __init__(self, thresholds=None, name=None, dtype=None, top_k=None, class_id=None):
        if isinstance(thresholds, (list, tuple)) and len(thresholds) == 1:
            thresholds = thresholds[0]
        if (thresholds is not None and (isinstance(thresholds, bool) or not isinstance(thresholds, (int, float)))) \
                or top_k is not None or class_id is not None:
            raise ValueError(f"{type(self).__name__}: one threshold is supported (None or a number); got "
                             f"thresholds={thresholds!r}, top_k={top_k!r}, class_id={class_id!r}")
        self.threshold = 0.5 if thresholds is None else float(thresholds)
        super().__init__(name)

    def reset_state(self) -> None:
        self._counts = {"tp": 0.0, "fp": 0.0, "tn": 0.0, "fn": 0.0}

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        p = as_float32(y_pred, "y_pred") > self.threshold
        t = np.asarray(y_true).reshape(p.shape) != 0
        w = np.ones(p.shape) if sample_weight is None else _weights_for(sample_weight, p.astype(np.float64))
        for key, hit in (("tp", p & t), ("fp", p & ~t), ("tn", ~p & ~t), ("fn", ~p & t)):
            self._counts[key] += float((w * hit).sum())

    def result(self) -> Scalar:
        c = self._counts
        if self._ratio is None:
            return Scalar(c[self._key])
        num, den = c[self._ratio[0]], sum(c[k] for k in self._ratio[1])
        return Scalar(num / den if den else 0.0)

    def get_config(self):
        return {"name": self.name, "thresholds": self.threshold}


TruePositives = type("TruePositives", (_Confusion,), {"_key": "tp", "default_name": "true_positives"})
FalsePositives = type("FalsePositives", (_Confusion,), {"_key": "fp", "default_name": "false_positives"})
TrueNegatives = type("TrueNegatives", (_Confusion,), {"_key": "tn", "default_name": "true_negatives"})
FalseNegatives = type("FalseNegatives", (_Confusion,), {"_key": "fn", "default_name": "false_negatives"})
Precision = type("Precision", (_Confusion,), {"_ratio": ("tp", ("tp", "fp")), "default_name": "precision"})
Recall = type("Recall", (_Confusion,), {"_ratio": ("tp", ("tp", "fn")), "default_name": "recall"})


_BY_NAME = {
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mape": MeanAbsolutePercentageError, "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
}
KNOWN = ("accuracy", "acc", *_BY_NAME)
_CLASSES = {c.__name__: c for c in (BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                                    Accuracy, MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
                                    Mean, Sum, TruePositives, FalsePositives, TrueNegatives, FalseNegatives,
                                    Precision, Recall)}


def get(identifier, loss_kind: str, output_shape: tuple | None = None) -> Metric:
    """A Metric; "accuracy"/"acc" resolve from the loss as Keras does (binary/categorical/sparse)."""
    if isinstance(identifier, Metric):
        return identifier
    if callable(identifier) and not isinstance(identifier, str):
        return MeanMetricWrapper(identifier)  # a function of (y_true, y_pred): its per-sample mean
    if not isinstance(identifier, str):
        raise TypeError(f"metric must be a name ({', '.join(KNOWN)}) or a keras.metrics.Metric, got {type(identifier).__name__}")
    if identifier in ("accuracy", "acc"):
        if loss_kind == "binary_crossentropy":
            cls = BinaryAccuracy
        elif loss_kind == "sparse_categorical_crossentropy":
            cls = SparseCategoricalAccuracy
        elif loss_kind == "categorical_crossentropy":
            cls = CategoricalAccuracy
        elif output_shape is not None and output_shape[-1] == 1:
            cls = BinaryAccuracy
        else:
            cls = CategoricalAccuracy
        return cls(name=identifier)
    cls = _BY_NAME.get(identifier)
    if cls is None:
        raise ValueError(f"unknown metric {identifier!r}; known metrics: {', '.join(KNOWN)}")
    return cls(name=identifier)


def check_name(identifier) -> None:
    """Validate a metric identifier at compile time (before the loss/output are known)."""
    if isinstance(identifier, Metric):
        return
    if not isinstance(identifier, str):
        raise TypeError(
            f"metric must be a name ({', '.join(KNOWN)}), a keras.metrics function or a keras.metrics.Metric, "
            f"got {identifier!r}"
        )
    if identifier not in KNOWN:
        raise ValueError(f"unknown metric {identifier!r}; known metrics: {', '.join(KNOWN)}")


def normalize(identifier):
    """A metric spec as compile stores it: a Metric, or a name; a known function (keras.metrics.mae,
    keras.losses.mean_squared_error...) becomes its name, which is also how Keras names its logs."""
    if callable(identifier) and not isinstance(identifier, Metric):
        name = _function_names().get(identifier)
        if name is not None:
            return name
        return identifier  # a user's metric function: the mean of its per-sample values
    check_name(identifier)
    return identifier


def _function_names() -> dict:
    from . import losses
    return {binary_accuracy: "binary_accuracy", categorical_accuracy: "categorical_accuracy",
            sparse_categorical_accuracy: "sparse_categorical_accuracy",
            mean_squared_error: "mean_squared_error", mean_absolute_error: "mean_absolute_error",
            losses.mean_squared_error: "mean_squared_error", losses.mean_absolute_error: "mean_absolute_error"}


def serialize(identifier):
    if isinstance(identifier, str):
        return identifier
    if callable(identifier) and not isinstance(identifier, Metric):
        return {"class_name": "function", "config": {"name": getattr(identifier, "__name__", "metric")}}
    return {"class_name": type(identifier).__name__, "config": identifier.get_config()}


def deserialize(config):
    if isinstance(config, str):
        check_name(config)
        return config
    if not isinstance(config, dict) or config.get("class_name") not in _CLASSES:
        raise ValueError(f"unknown metric config {config!r}; known classes: {', '.join(_CLASSES)}")
    try:
        return _CLASSES[config["class_name"]](**(config.get("config") or {}))
    except TypeError as exc:
        raise ValueError(f"bad metric config for {config['class_name']}: {exc}") from None


# ---- metric functions: one value per sample (Keras semantics) ---------------------------------
def _per_sample(cls, y_true, y_pred) -> np.ndarray:
    y_pred = as_float32(y_pred, "y_pred")
    y_true = np.asarray(y_true)
    values = np.asarray(cls()._values(y_true, y_pred), np.float32)
    if values.ndim == y_pred.ndim and values.ndim > 1:  # per value (binary accuracy): Keras means the last axis
        values = values.mean(axis=-1)
    return values


def binary_accuracy(y_true, y_pred) -> np.ndarray:
    """1.0 where (y_pred > 0.5) matches y_true, per value."""
    return _per_sample(BinaryAccuracy, y_true, y_pred)


def categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """1.0 where argmax(y_pred) == argmax(y_true), per sample."""
    return _per_sample(CategoricalAccuracy, y_true, y_pred)


def sparse_categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """1.0 where argmax(y_pred) equals the class id, per sample."""
    return _per_sample(SparseCategoricalAccuracy, y_true, y_pred)


def mean_squared_error(y_true, y_pred) -> np.ndarray:
    return _per_sample(MeanSquaredError, y_true, y_pred)


def mean_absolute_error(y_true, y_pred) -> np.ndarray:
    return _per_sample(MeanAbsoluteError, y_true, y_pred)


def mean_absolute_percentage_error(y_true, y_pred) -> np.ndarray:
    return _per_sample(MeanAbsolutePercentageError, y_true, y_pred)


mape = MAPE = mean_absolute_percentage_error
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
