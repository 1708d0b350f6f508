"""Losses with Keras names; values and gradients come from `_core.loss_forward_backward`."""

from __future__ import annotations

import numpy as np

from .. import _core
from .._arrays import as_float32
from ..ops import autodiff, math_ops as _m, nn_ops as _nn
from ..ops.tensor import as_tensor_value, wrap

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
    """Base: `loss(y_true, y_pred, sample_weight=None)` -> the batch loss, a scalar tensor. Subclass
    it and define `call(y_true, y_pred)` (one value per sample) for a custom loss, as in Keras 3:
    `Loss(name=None, reduction="sum_over_batch_size", dtype=None)`."""

    kind = ""

    def __init__(self, name: str | None = None, reduction="sum_over_batch_size", dtype=None, *,
                 from_logits: bool = False):
        if reduction not in ("sum_over_batch_size", "auto", None):
            raise ValueError(f"{type(self).__name__}: only reduction 'sum_over_batch_size' is supported, got {reduction!r}")
        if not isinstance(from_logits, bool):
            raise TypeError(f"from_logits must be a bool, got {from_logits!r}")
        self.from_logits = from_logits
        self.name = name or self.kind

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The batch loss as a scalar Tensor, differentiable with respect to y_pred (and anything
        y_pred was computed from). Built-in losses run the fused Rust kernel; a cross-entropy on the
        output of a Dense/Activation softmax or sigmoid is computed from its logits (stable)."""
        if type(self).call is not Loss.call or sample_weight is not None:
            return self._reduce(self.call(y_true, y_pred), sample_weight)
        return fused_loss(self, y_true, y_pred)

    def call(self, y_true, y_pred):
        """One loss value per sample (override this in a custom Loss)."""
        return _FUNCTIONS[self.kind](y_true, y_pred, **({"from_logits": self.from_logits}
                                                         if self.kind in _LOGIT_KINDS else {}))

    def _reduce(self, values, sample_weight):
        from ..ops import math_ops
        if sample_weight is not None:
            sw = as_tensor_value(sample_weight)
            vshape = np.shape(values)
            if sw.ndim < len(vshape):
                sw = sw.reshape(sw.shape + (1,) * (len(vshape) - sw.ndim))
            values = math_ops.multiply(values, sw.astype(np.float32))
        count = max(int(np.size(as_tensor_value(values))), 1)
        return math_ops.divide(math_ops.sum(values), float(count))

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
        super().__init__(name, reduction)

    def get_config(self):
        return {"name": self.name}


class MeanAbsoluteError(Loss):
    kind = "mae"

    def __init__(self, name: str | None = "mean_absolute_error", reduction="sum_over_batch_size"):
        super().__init__(name, reduction)

    def get_config(self):
        return {"name": self.name}


class BinaryCrossentropy(Loss):
    kind = "binary_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, name="binary_crossentropy", reduction="sum_over_batch_size"):
        if label_smoothing:
            raise ValueError("BinaryCrossentropy: label_smoothing is not supported")
        super().__init__(name, reduction, from_logits=from_logits)


class CategoricalCrossentropy(Loss):
    kind = "categorical_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, name="categorical_crossentropy", reduction="sum_over_batch_size"):
        if label_smoothing:
            raise ValueError("CategoricalCrossentropy: label_smoothing is not supported")
        super().__init__(name, reduction, from_logits=from_logits)


class SparseCategoricalCrossentropy(Loss):
    kind = "sparse_categorical_crossentropy"

    def __init__(self, from_logits=False, name="sparse_categorical_crossentropy", reduction="sum_over_batch_size"):
        super().__init__(name, reduction, from_logits=from_logits)


class LossFunctionWrapper(Loss):
    """A loss from a function of (y_true, y_pred) giving one value per sample (or a scalar),
    written with keras.ops / tf functions so it is differentiable; the batch mean is the loss."""

    kind = "custom"

    def __init__(self, fn, name=None, reduction="sum_over_batch_size", **kwargs):
        super().__init__(name or getattr(fn, "__name__", "loss"), reduction)
        self.fn = fn
        self.fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        try:
            return self.fn(y_true, y_pred, **self.fn_kwargs)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"loss function {self.name!r} failed on y_true {tuple(np.shape(y_true))} and y_pred "
                f"{tuple(np.shape(y_pred))}: {exc}"
            ) from exc

    def forward(self, y_pred, y_true) -> float:
        return float(as_tensor_value(self(y_true, y_pred)))

    def get_config(self):
        return {"name": self.name}


def _takes_two(fn) -> bool:
    """Whether `fn` can be called as fn(y_true, y_pred)."""
    import inspect
    try:
        inspect.signature(fn).bind(None, None)
    except TypeError:
        return False
    except ValueError:  # no signature (a builtin): try it at fit time
        return True
    return True


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
    if callable(identifier) and not isinstance(identifier, type) and _takes_two(identifier):
        return LossFunctionWrapper(identifier)  # a user's loss(y_true, y_pred)
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


# ---- loss functions: one value per sample, differentiable (Keras semantics) --------------------
_EPSILON = 1e-7  # Keras backend epsilon: probabilities are clipped to [eps, 1 - eps]


def _pair(y_true, y_pred):
    """(y_true, y_pred): y_pred a float tensor (its graph kept), y_true a constant of its shape."""
    pv = as_tensor_value(y_pred)
    if pv.dtype.kind != "f":
        y_pred = _m.cast(y_pred, np.float32)
        pv = as_tensor_value(y_pred)
    tv = as_tensor_value(y_true)
    if tv.dtype.kind not in "biuf":
        raise TypeError(f"y_true must be numeric, got dtype {tv.dtype}")
    tv = tv.astype(pv.dtype, copy=False)
    if tv.shape != pv.shape:
        if tv.size != pv.size:
            raise ValueError(f"y_true and y_pred must have the same shape, got {tv.shape} and {pv.shape}")
        tv = tv.reshape(pv.shape)
    if pv.ndim == 0:
        raise ValueError("y_pred must have at least one axis (the values of one sample)")
    return (y_true if autodiff.is_tracked(y_true) else wrap(tv)), y_pred


def hinge(y_true, y_pred):
    """mean(max(1 - y_true * y_pred, 0)) over the last axis; labels given as 0/1 count as -1/+1."""
    y_true, y_pred = _pair(y_true, y_pred)
    t = as_tensor_value(y_true)
    if np.all((t == 0) | (t == 1)):
        y_true = wrap(2.0 * t - 1.0)
    return _m.mean(_m.maximum(_m.subtract(1.0, _m.multiply(y_true, y_pred)), 0.0), axis=-1)


class Hinge(LossFunctionWrapper):
    def __init__(self, name="hinge", reduction="sum_over_batch_size"):
        super().__init__(hinge, name=name, reduction=reduction)


def mean_squared_error(y_true, y_pred):
    """mean((y_pred - y_true)^2) over the last axis: one value per sample."""
    y_true, y_pred = _pair(y_true, y_pred)
    return _m.mean(_m.square(_m.subtract(y_pred, y_true)), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """mean(|y_pred - y_true|) over the last axis: one value per sample."""
    y_true, y_pred = _pair(y_true, y_pred)
    return _m.mean(_m.abs(_m.subtract(y_pred, y_true)), axis=-1)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Mean binary cross-entropy over the last axis: one value per sample."""
    y_true, y_pred = _pair(y_true, y_pred)
    if label_smoothing:
        y_true = _m.add(_m.multiply(y_true, 1.0 - label_smoothing), 0.5 * label_smoothing)
    if from_logits:
        return _m.mean(_nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=y_pred), axis=axis)
    p = _m.clip_by_value(y_pred, _EPSILON, 1 - _EPSILON)
    per_value = _m.negative(_m.add(_m.multiply(y_true, _m.log(p)),
                                   _m.multiply(_m.subtract(1.0, y_true), _m.log(_m.subtract(1.0, p)))))
    return _m.mean(per_value, axis=axis)


def _log_probs(y_pred, from_logits: bool):
    if from_logits:
        return _nn.log_softmax(y_pred)
    p = _m.divide(y_pred, _m.sum(y_pred, axis=-1, keepdims=True))  # Keras renormalizes probabilities
    return _m.log(_m.clip_by_value(p, _EPSILON, 1 - _EPSILON))


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """-sum(y_true * log p) over the last (class) axis: one value per sample."""
    y_true, y_pred = _pair(y_true, y_pred)
    if label_smoothing:
        k = np.shape(y_pred)[-1]
        y_true = _m.add(_m.multiply(y_true, 1.0 - label_smoothing), label_smoothing / k)
    return _m.negative(_m.sum(_m.multiply(y_true, _log_probs(y_pred, from_logits)), axis=-1))


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """-log p[class id] for integer class ids y_true: one value per sample."""
    from ..ops import array_ops as _a
    pv = as_tensor_value(y_pred)
    if pv.dtype.kind != "f":
        raise TypeError(f"y_pred must be float, got dtype {pv.dtype}")
    ids = as_tensor_value(y_true)
    if ids.dtype.kind not in "biuf" or (ids.dtype.kind == "f" and (ids != np.round(ids)).any()):
        raise ValueError("y_true must hold integer class ids")
    if pv.ndim == 0 or ids.size * pv.shape[-1] != pv.size:
        raise ValueError(f"y_true must hold one class id per row of y_pred {pv.shape}, got shape {ids.shape}")
    ids = ids.astype(np.int64).reshape(pv.shape[:-1])
    classes = pv.shape[-1]
    if ids.size and (ids.min() < 0 or ids.max() >= classes):
        raise ValueError(f"class ids must be in [0, {classes}), got range [{ids.min()}, {ids.max()}]")
    logp = _log_probs(y_pred, from_logits)
    return _m.negative(_a.squeeze(_a.take_along_axis(logp, wrap(ids[..., None]), axis=-1), -1))


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error

# The function objects compile() accepts, by the kind of Loss they stand for.
_FUNCTION_KINDS = {
    mean_squared_error: "mse", mean_absolute_error: "mae", binary_crossentropy: "binary_crossentropy",
    categorical_crossentropy: "categorical_crossentropy",
    sparse_categorical_crossentropy: "sparse_categorical_crossentropy",
}
_FUNCTIONS = {kind: fn for fn, kind in _FUNCTION_KINDS.items()}
_LOGIT_KINDS = ("binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy")


def _kernel_targets(loss: Loss, y_true, y_pred_value: np.ndarray) -> np.ndarray:
    """Targets as the Rust loss kernel reads them: float32 shaped like y_pred (class ids for sparse)."""
    tv = as_float32(y_true, "y_true", finite=True)
    if loss.kind == "sparse_categorical_crossentropy":
        if tv.size * y_pred_value.shape[-1] != y_pred_value.size:
            raise ValueError(f"y_true must hold one class id per row of y_pred {y_pred_value.shape}, got shape {tv.shape}")
        classes = y_pred_value.shape[-1]
        if tv.size and (tv.min() < 0 or tv.max() >= classes or (tv != np.round(tv)).any()):
            raise ValueError(f"y_true must hold integer class ids in [0, {classes}), got range [{tv.min():g}, {tv.max():g}]")
        return tv.reshape(y_pred_value.shape[:-1])
    if tv.shape != y_pred_value.shape:
        if tv.size != y_pred_value.size:
            raise ValueError(f"y_true and y_pred must have the same shape, got {tv.shape} and {y_pred_value.shape}")
        tv = tv.reshape(y_pred_value.shape)
    return tv


def fused_loss(loss: Loss, y_true, y_pred):
    """A built-in loss as one recorded node: value and gradient from the Rust kernel, computed from
    the logits when y_pred is a softmax/sigmoid layer output and the loss is the matching
    cross-entropy (the gradient is then p - y, with no division by p)."""
    node = getattr(y_pred, "_node", None)
    layer = getattr(node, "layer", None)
    if (node is not None and layer is not None and not loss.from_logits
            and getattr(layer, "logits_of", None) is not None
            and FUSABLE_ACTIVATION.get(loss.kind) == getattr(layer, "activation", None)):
        pv = as_tensor_value(y_pred)
        logits = layer.logits_of(node.ctx, pv)
        if logits is not None:
            value, grad = _core.loss_forward_backward(loss.kind, np.ascontiguousarray(logits, np.float32),
                                                      _kernel_targets(loss, y_true, pv), True)
            out = wrap(np.asarray(value, np.float32))
            if autodiff.recording():
                autodiff.attach(out, node.parents, lambda g: node.backward(_scale(grad, g), wrt_logits=True),
                                "fused_" + loss.kind)
            return out
    pv = as_float32(y_pred, "y_pred", finite=True)
    value, grad = _core.loss_forward_backward(loss.kind, pv, _kernel_targets(loss, y_true, pv), loss.from_logits)
    out = wrap(np.asarray(value, np.float32))
    if autodiff.any_tracked((y_pred,)):
        autodiff.attach(out, (y_pred,), lambda g: (_m.multiply(wrap(grad), g),), loss.kind)
    return out


def _scale(grad: np.ndarray, g) -> np.ndarray:
    s = float(as_tensor_value(g))
    return grad if s == 1.0 else grad * np.float32(s)
