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
    """A Loss from a Keras name or an instance; unknown names list the known ones."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        kind = _ALIASES.get(identifier)
        if kind is None:
            raise ValueError(f"unknown loss {identifier!r}; known losses: {', '.join(KNOWN)}")
        loss = _CLASSES[kind]()
        loss.name = identifier
        return loss
    raise TypeError(f"loss must be a name ({', '.join(KNOWN)}) or a keras.losses.Loss, got {type(identifier).__name__}")


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


def mean_squared_error(y_true, y_pred) -> float:
    return MeanSquaredError()(y_true, y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False) -> float:
    return BinaryCrossentropy(from_logits=from_logits)(y_true, y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False) -> float:
    return CategoricalCrossentropy(from_logits=from_logits)(y_true, y_pred)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False) -> float:
    return SparseCategoricalCrossentropy(from_logits=from_logits)(y_true, y_pred)


mse = mean_squared_error
