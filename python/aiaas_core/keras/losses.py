"""Losses with Keras names; values and gradients come from `_core.loss_forward_backward`."""

from __future__ import annotations

import numpy as np

from .. import _core
from .._arrays import as_float32

# Keras names -> the core's name
_ALIASES = {
    "mse": "mse", "mean_squared_error": "mse", "MeanSquaredError": "mse",
    "mae": "mae", "mean_absolute_error": "mae", "MeanAbsoluteError": "mae",
    "binary_crossentropy": "binary_crossentropy", "BinaryCrossentropy": "binary_crossentropy",
    "categorical_crossentropy": "categorical_crossentropy",
    "CategoricalCrossentropy": "categorical_crossentropy",
    "sparse_categorical_crossentropy": "sparse_categorical_crossentropy",
    "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
    # Keras 3's short aliases (keras.losses.ALL_OBJECTS_DICT)
    "MSE": "mse", "MAE": "mae", "bce": "binary_crossentropy", "BCE": "binary_crossentropy",
}
# The output activation each cross-entropy can absorb (compute from logits: stable, gradient p - y).
FUSABLE_ACTIVATION = {
    "binary_crossentropy": "sigmoid",
    "categorical_crossentropy": "softmax",
    "sparse_categorical_crossentropy": "softmax",
}


class Loss:
    """Base: `loss(y_true, y_pred) -> float` (mean over the batch, Keras reduction)."""

    kind = ""

    def __init__(self, from_logits: bool = False, name: str | None = None, reduction="sum_over_batch_size"):
        if reduction not in ("sum_over_batch_size", "auto", None):
            raise ValueError(f"{type(self).__name__}: only reduction 'sum_over_batch_size' is supported, got {reduction!r}")
        if not isinstance(from_logits, bool):
            raise TypeError(f"from_logits must be a bool, got {from_logits!r}")
        self.from_logits = from_logits
        self.name = name or self.kind

    def __call__(self, y_true, y_pred) -> float:
        y_pred = as_float32(y_pred, "y_pred", finite=True)
        y_true = as_float32(y_true, "y_true", finite=True)
        if self.kind != "sparse_categorical_crossentropy" and y_true.size == y_pred.size:
            y_true = y_true.reshape(y_pred.shape)
        return float(_core.loss_forward(self.kind, y_pred, y_true, self.from_logits))

    def forward_backward(self, y_pred: np.ndarray, y_true: np.ndarray, from_logits: bool | None = None):
        """(mean loss, d loss / d y_pred) for arrays already prepared by the model."""
        return _core.loss_forward_backward(
            self.kind, y_pred, y_true, self.from_logits if from_logits is None else from_logits
        )

    def forward(self, y_pred: np.ndarray, y_true: np.ndarray) -> float:
        return _core.loss_forward(self.kind, y_pred, y_true, self.from_logits)

    def get_config(self) -> dict:
        return {"name": self.name, "from_logits": self.from_logits}


class MeanSquaredError(Loss):
    kind = "mse"

    def __init__(self, name: str | None = "mean_squared_error", reduction="sum_over_batch_size"):
        super().__init__(False, name, reduction)

    def get_config(self):
        return {"name": self.name}


class MeanAbsoluteError(Loss):
    kind = "mae"

    def __init__(self, name: str | None = "mean_absolute_error", reduction="sum_over_batch_size"):
        super().__init__(False, name, reduction)

    def get_config(self):
        return {"name": self.name}


class BinaryCrossentropy(Loss):
    kind = "binary_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, name="binary_crossentropy", reduction="sum_over_batch_size"):
        if label_smoothing:
            raise ValueError("BinaryCrossentropy: label_smoothing is not supported")
        super().__init__(from_logits, name, reduction)


class CategoricalCrossentropy(Loss):
    kind = "categorical_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, name="categorical_crossentropy", reduction="sum_over_batch_size"):
        if label_smoothing:
            raise ValueError("CategoricalCrossentropy: label_smoothing is not supported")
        super().__init__(from_logits, name, reduction)


class SparseCategoricalCrossentropy(Loss):
    kind = "sparse_categorical_crossentropy"

    def __init__(self, from_logits=False, name="sparse_categorical_crossentropy", reduction="sum_over_batch_size"):
        super().__init__(from_logits, name, reduction)


_CLASSES = {cls.kind: cls for cls in (MeanSquaredError, MeanAbsoluteError, BinaryCrossentropy,
                                      CategoricalCrossentropy, SparseCategoricalCrossentropy)}
KNOWN = tuple(k for k in _ALIASES if k[0].islower())


def get(identifier) -> Loss:
    """A Loss from a Keras name, a `keras.losses` function (`mean_squared_error`...) or an instance;
    anything else lists the known names."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        kind = _ALIASES.get(identifier)
        if kind is None:
            raise ValueError(f"unknown loss {identifier!r}; known losses: {', '.join(KNOWN)}")
        loss = _CLASSES[kind]()
        loss.name = identifier
        return loss
    kind = _FUNCTION_KINDS.get(identifier) if callable(identifier) else None
    if kind is not None:  # Keras accepts the loss functions themselves: compile(loss=losses.mse)
        loss = _CLASSES[kind]()
        loss.name = identifier.__name__
        return loss
    raise TypeError(
        f"loss must be a name ({', '.join(KNOWN)}) or a keras.losses function or Loss, got {identifier!r}"
    )


def serialize(loss: Loss) -> dict:
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(config) -> Loss:
    """From a name or `serialize()` output."""
    if isinstance(config, str):
        return get(config)
    if not isinstance(config, dict) or config.get("class_name") not in {c.__name__ for c in _CLASSES.values()}:
        raise ValueError(f"unknown loss config {config!r}")
    cls = next(c for c in _CLASSES.values() if c.__name__ == config["class_name"])
    try:
        return cls(**(config.get("config") or {}))
    except TypeError as exc:
        raise ValueError(f"bad loss config for {config['class_name']}: {exc}") from None


# ---- loss functions: one value per sample (Keras semantics; the Loss classes take the batch mean) ----
_EPSILON = 1e-7  # Keras backend epsilon: probabilities are clipped to [eps, 1 - eps]


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_pred = as_float32(y_pred, "y_pred", finite=True)
    y_true = as_float32(y_true, "y_true", finite=True)
    if y_true.shape != y_pred.shape:
        if y_true.size != y_pred.size:
            raise ValueError(f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}")
        y_true = y_true.reshape(y_pred.shape)
    if y_pred.ndim == 0:
        raise ValueError("y_pred must have at least one axis (the values of one sample)")
    return y_true, y_pred


def mean_squared_error(y_true, y_pred) -> np.ndarray:
    """mean((y_pred - y_true)^2) over the last axis: one value per sample."""
    y_true, y_pred = _pair(y_true, y_pred)
    return np.square(y_pred - y_true).mean(axis=-1)


def mean_absolute_error(y_true, y_pred) -> np.ndarray:
    """mean(|y_pred - y_true|) over the last axis: one value per sample."""
    y_true, y_pred = _pair(y_true, y_pred)
    return np.abs(y_pred - y_true).mean(axis=-1)


def binary_crossentropy(y_true, y_pred, from_logits=False) -> np.ndarray:
    """Mean binary cross-entropy over the last axis: one value per sample."""
    y_true, y_pred = _pair(y_true, y_pred)
    if from_logits:  # log(1 + e^z) - y z, computed without overflow
        z = y_pred
        return (np.maximum(z, 0) - z * y_true + np.log1p(np.exp(-np.abs(z)))).mean(axis=-1)
    p = np.clip(y_pred, _EPSILON, 1 - _EPSILON)
    return -(y_true * np.log(p) + (1 - y_true) * np.log(1 - p)).mean(axis=-1)


def _log_probs(y_pred: np.ndarray, from_logits: bool) -> np.ndarray:
    if from_logits:
        shifted = y_pred - y_pred.max(axis=-1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    p = y_pred / y_pred.sum(axis=-1, keepdims=True)  # Keras renormalizes probabilities
    return np.log(np.clip(p, _EPSILON, 1 - _EPSILON))


def categorical_crossentropy(y_true, y_pred, from_logits=False) -> np.ndarray:
    """-sum(y_true * log p) over the last (class) axis: one value per sample."""
    y_true, y_pred = _pair(y_true, y_pred)
    return -(y_true * _log_probs(y_pred, from_logits)).sum(axis=-1)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False) -> np.ndarray:
    """-log p[class id] for integer class ids y_true: one value per sample."""
    y_pred = as_float32(y_pred, "y_pred", finite=True)
    ids = np.asarray(y_true)
    if ids.dtype.kind not in "biuf" or (ids.dtype.kind == "f" and (ids != np.round(ids)).any()):
        raise ValueError("y_true must hold integer class ids")
    if y_pred.ndim == 0 or ids.size * y_pred.shape[-1] != y_pred.size:
        raise ValueError(f"y_true must hold one class id per row of y_pred {y_pred.shape}, got shape {ids.shape}")
    ids = ids.astype(np.int64).reshape(y_pred.shape[:-1])
    classes = y_pred.shape[-1]
    if ids.size and (ids.min() < 0 or ids.max() >= classes):
        raise ValueError(f"class ids must be in [0, {classes}), got range [{ids.min()}, {ids.max()}]")
    logp = _log_probs(y_pred, from_logits)
    return -np.take_along_axis(logp, ids[..., None], axis=-1)[..., 0]


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error

# The function objects compile() accepts, by the kind of Loss they stand for.
_FUNCTION_KINDS = {
    mean_squared_error: "mse", mean_absolute_error: "mae", binary_crossentropy: "binary_crossentropy",
    categorical_crossentropy: "categorical_crossentropy",
    sparse_categorical_crossentropy: "sparse_categorical_crossentropy",
}
