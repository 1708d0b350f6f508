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
        if not self._uses_kernel() or sample_weight is not None:
            return self._reduce(self.call(y_true, y_pred), sample_weight)
        return fused_loss(self, y_true, y_pred)

    def _uses_kernel(self) -> bool:
        """Whether the fused Rust kernel computes this loss (a built-in kind with its default
        options); otherwise `call` runs through the op tape."""
        return type(self).call is Loss.call

    def _fn_kwargs(self) -> dict:
        return {"from_logits": self.from_logits} if self.kind in _LOGIT_KINDS else {}

    def call(self, y_true, y_pred):
        """One loss value per sample (override this in a custom Loss)."""
        return _FUNCTIONS[self.kind](y_true, y_pred, **self._fn_kwargs())

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
        super().__init__(name, reduction, from_logits=from_logits)
        self.label_smoothing = _check_smoothing(label_smoothing, "BinaryCrossentropy")

    def _uses_kernel(self):
        # The Rust kernel knows hard targets only: smoothed targets go through the op tape.
        return not self.label_smoothing and super()._uses_kernel()

    def _fn_kwargs(self):
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing}

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


class CategoricalCrossentropy(Loss):
    kind = "categorical_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, name="categorical_crossentropy", reduction="sum_over_batch_size"):
        super().__init__(name, reduction, from_logits=from_logits)
        self.label_smoothing = _check_smoothing(label_smoothing, "CategoricalCrossentropy")

    def _uses_kernel(self):
        # The Rust kernel knows hard targets only: smoothed targets go through the op tape.
        return not self.label_smoothing and super()._uses_kernel()

    def _fn_kwargs(self):
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing}

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def _check_smoothing(value, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{owner}: label_smoothing must be a number in [0, 1], got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{owner}: label_smoothing must be in [0, 1], got {value!r}")
    return float(value)


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



def _float_arg(value, what: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or (positive and value <= 0):
        raise ValueError(f"{what} must be a {'positive ' if positive else ''}finite number, got {value!r}")
    return float(value)


def huber(y_true, y_pred, delta=1.0):
    """Keras huber: mean over the last axis of 0.5 e^2 where |e| <= delta, else delta (|e| - delta / 2)."""
    delta = _float_arg(delta, "huber: delta", positive=True)
    y_true, y_pred = _pair(y_true, y_pred)
    err = _m.subtract(y_pred, y_true)
    a = _m.abs(err)
    small = as_tensor_value(a) <= delta
    quadratic = _m.multiply(_m.square(err), 0.5)
    linear = _m.subtract(_m.multiply(a, delta), 0.5 * delta * delta)
    return _m.mean(_m.where(small, quadratic, linear), axis=-1)


def log_cosh(y_true, y_pred):
    """mean(log(cosh(e))) over the last axis, written as e + softplus(-2e) - log 2 so large
    errors do not overflow cosh."""
    y_true, y_pred = _pair(y_true, y_pred)
    e = _m.subtract(y_pred, y_true)
    return _m.mean(_m.subtract(_m.add(e, _nn.softplus(_m.multiply(e, -2.0))), float(np.log(2.0))), axis=-1)


def kl_divergence(y_true, y_pred):
    """sum(y_true * log(y_true / y_pred)) over the last axis, both clipped to [eps, 1] as Keras does."""
    y_true, y_pred = _pair(y_true, y_pred)
    t = _m.clip_by_value(y_true, _EPSILON, 1.0)
    p = _m.clip_by_value(y_pred, _EPSILON, 1.0)
    return _m.sum(_m.multiply(t, _m.log(_m.divide(t, p))), axis=-1)


def cosine_similarity(y_true, y_pred, axis=-1):
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred)) along `axis` (so minimizing it aligns them)."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"cosine_similarity: axis must be an int, got {axis!r}")
    y_true, y_pred = _pair(y_true, y_pred)
    nd = np.ndim(as_tensor_value(y_pred))
    if not -nd <= axis < nd:
        raise ValueError(f"cosine_similarity: axis {axis} is out of range for y_pred of rank {nd}")
    t = _nn.l2_normalize(y_true, axis=axis, epsilon=_EPSILON)
    p = _nn.l2_normalize(y_pred, axis=axis, epsilon=_EPSILON)
    return _m.negative(_m.sum(_m.multiply(t, p), axis=axis))


def poisson(y_true, y_pred):
    """mean(y_pred - y_true * log(y_pred + eps)) over the last axis."""
    y_true, y_pred = _pair(y_true, y_pred)
    return _m.mean(_m.subtract(y_pred, _m.multiply(y_true, _m.log(_m.add(y_pred, _EPSILON)))), axis=-1)


def _hinge_labels(y_true):
    """Keras converts labels that are all 0 or 1 to -1 / 1; other labels are taken as given."""
    tv = as_tensor_value(y_true)
    if np.all((tv == 0) | (tv == 1)):
        return _m.subtract(_m.multiply(y_true, 2.0), 1.0)
    return y_true


def hinge(y_true, y_pred):
    """mean(max(1 - y_true * y_pred, 0)) over the last axis; y_true in {-1, 1} (or {0, 1}, converted)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return _m.mean(_m.maximum(_m.subtract(1.0, _m.multiply(_hinge_labels(y_true), y_pred)), 0.0), axis=-1)


def squared_hinge(y_true, y_pred):
    """mean(max(1 - y_true * y_pred, 0)^2) over the last axis."""
    y_true, y_pred = _pair(y_true, y_pred)
    margin = _m.maximum(_m.subtract(1.0, _m.multiply(_hinge_labels(y_true), y_pred)), 0.0)
    return _m.mean(_m.square(margin), axis=-1)


def categorical_hinge(y_true, y_pred):
    """max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0) for one-hot y_true."""
    y_true, y_pred = _pair(y_true, y_pred)
    pos = _m.sum(_m.multiply(y_true, y_pred), axis=-1)
    neg = _m.max(_m.multiply(_m.subtract(1.0, y_true), y_pred), axis=-1)
    return _m.maximum(_m.add(_m.subtract(neg, pos), 1.0), 0.0)


def mean_squared_logarithmic_error(y_true, y_pred):
    """mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1))^2) over the last axis."""
    y_true, y_pred = _pair(y_true, y_pred)
    first = _m.log(_m.add(_m.maximum(y_pred, _EPSILON), 1.0))
    second = _m.log(_m.add(_m.maximum(y_true, _EPSILON), 1.0))
    return _m.mean(_m.square(_m.subtract(first, second)), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    """100 * mean(|y_true - y_pred| / max(|y_true|, eps)) over the last axis."""
    y_true, y_pred = _pair(y_true, y_pred)
    diff = _m.divide(_m.abs(_m.subtract(y_true, y_pred)), _m.maximum(_m.abs(y_true), _EPSILON))
    return _m.multiply(_m.mean(diff, axis=-1), 100.0)


class _OpLoss(Loss):
    """A built-in loss computed with ops (no Rust kernel): `fn` gives one value per sample;
    `options` are the constructor arguments passed on to it (and saved in the config)."""

    fn = None
    options: tuple = ()

    def _uses_kernel(self):
        return False

    def call(self, y_true, y_pred):
        return type(self).fn(y_true, y_pred, **{k: getattr(self, k) for k in self.options})

    def get_config(self):
        return {"name": self.name, **{k: getattr(self, k) for k in self.options}}


class Huber(_OpLoss):
    kind = "huber"
    fn = staticmethod(huber)
    options = ("delta",)

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(name, reduction)
        self.delta = _float_arg(delta, "Huber: delta", positive=True)


class LogCosh(_OpLoss):
    kind = "log_cosh"
    fn = staticmethod(log_cosh)

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(name, reduction)


class KLDivergence(_OpLoss):
    kind = "kl_divergence"
    fn = staticmethod(kl_divergence)

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(name, reduction)


class CosineSimilarity(_OpLoss):
    kind = "cosine_similarity"
    fn = staticmethod(cosine_similarity)
    options = ("axis",)

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None):
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"CosineSimilarity: axis must be an int, got {axis!r}")
        super().__init__(name, reduction)
        self.axis = int(axis)


class Poisson(_OpLoss):
    kind = "poisson"
    fn = staticmethod(poisson)

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(name, reduction)


class Hinge(_OpLoss):
    kind = "hinge"
    fn = staticmethod(hinge)

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(name, reduction)


class SquaredHinge(_OpLoss):
    kind = "squared_hinge"
    fn = staticmethod(squared_hinge)

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(name, reduction)


class CategoricalHinge(_OpLoss):
    kind = "categorical_hinge"
    fn = staticmethod(categorical_hinge)

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(name, reduction)


class MeanSquaredLogarithmicError(_OpLoss):
    kind = "msle"
    fn = staticmethod(mean_squared_logarithmic_error)

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(name, reduction)


class MeanAbsolutePercentageError(_OpLoss):
    kind = "mape"
    fn = staticmethod(mean_absolute_percentage_error)

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error", dtype=None):
        super().__init__(name, reduction)


_OP_CLASSES = (Huber, LogCosh, KLDivergence, CosineSimilarity, Poisson, Hinge, SquaredHinge,
               CategoricalHinge, MeanSquaredLogarithmicError, MeanAbsolutePercentageError)
_CLASSES.update({cls.kind: cls for cls in _OP_CLASSES})
_ALIASES.update({
    "huber": "huber", "huber_loss": "huber", "Huber": "huber",
    "log_cosh": "log_cosh", "logcosh": "log_cosh", "LogCosh": "log_cosh",
    "kl_divergence": "kl_divergence", "kld": "kl_divergence", "KLD": "kl_divergence",
    "kullback_leibler_divergence": "kl_divergence", "KLDivergence": "kl_divergence",
    "cosine_similarity": "cosine_similarity", "CosineSimilarity": "cosine_similarity",
    "poisson": "poisson", "Poisson": "poisson",
    "hinge": "hinge", "Hinge": "hinge", "squared_hinge": "squared_hinge", "SquaredHinge": "squared_hinge",
    "categorical_hinge": "categorical_hinge", "CategoricalHinge": "categorical_hinge",
    "msle": "msle", "MSLE": "msle", "mean_squared_logarithmic_error": "msle",
    "MeanSquaredLogarithmicError": "msle",
    "mape": "mape", "MAPE": "mape", "mean_absolute_percentage_error": "mape",
    "MeanAbsolutePercentageError": "mape",
})
KNOWN = tuple(k for k in _ALIASES if k[0].islower())


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
msle = MSLE = mean_squared_logarithmic_error
mape = MAPE = mean_absolute_percentage_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh

# The function objects compile() accepts, by the kind of Loss they stand for.
_FUNCTION_KINDS = {
    mean_squared_error: "mse", mean_absolute_error: "mae", binary_crossentropy: "binary_crossentropy",
    categorical_crossentropy: "categorical_crossentropy",
    sparse_categorical_crossentropy: "sparse_categorical_crossentropy",
    huber: "huber", log_cosh: "log_cosh", kl_divergence: "kl_divergence", cosine_similarity: "cosine_similarity",
    poisson: "poisson", hinge: "hinge", squared_hinge: "squared_hinge", categorical_hinge: "categorical_hinge",
    mean_squared_logarithmic_error: "msle", mean_absolute_percentage_error: "mape",
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
