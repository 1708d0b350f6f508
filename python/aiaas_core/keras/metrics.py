"""Metrics with Keras names: running means over the samples seen since `reset_state()`."""

from __future__ import annotations

import numpy as np

from .._arrays import as_float32


class Metric:
    """Base: `update_state(y_true, y_pred)`, `result() -> float`, `reset_state()`."""

    default_name = "metric"

    def __init__(self, name: str | None = None):
        self.name = name or self.default_name
        self.reset_state()

    def reset_state(self) -> None:
        self._total = 0.0
        self._count = 0

    def _values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        if sample_weight is not None:
            raise ValueError(f"{self.name}: sample_weight is not supported")
        if not isinstance(y_pred, np.ndarray) or y_pred.dtype != np.float32:
            y_pred = as_float32(y_pred, "y_pred")
        if not isinstance(y_true, np.ndarray):
            y_true = np.asarray(y_true)
        values = self._values(y_true, y_pred)
        self._total += float(values.sum())
        self._count += values.size

    def result(self) -> float:
        return self._total / self._count if self._count else 0.0

    def __call__(self, y_true, y_pred) -> float:
        self.update_state(y_true, y_pred)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name}


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


_BY_NAME = {
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
}
KNOWN = ("accuracy", "acc", *_BY_NAME)
_CLASSES = {c.__name__: c for c in (BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                                    Accuracy, MeanSquaredError, MeanAbsoluteError)}


def get(identifier, loss_kind: str, output_shape: tuple | None = None) -> Metric:
    """A Metric; "accuracy"/"acc" resolve from the loss as Keras does (binary/categorical/sparse)."""
    if isinstance(identifier, Metric):
        return identifier
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


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
