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


_BY_NAME = {
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
}
KNOWN = ("accuracy", "acc", *_BY_NAME)
_CLASSES = {c.__name__: c for c in (BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                                    Accuracy, MeanSquaredError, MeanAbsoluteError, Mean, Sum)}


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
    return cls(name=identifier)  # Keras 3 (compile_utils.get_metric) names a metric given as a string by it


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
            losses.mean_squared_error: "mean_squared_error", losses.mean_absolute_error: "mean_absolute_error",
            # keras.losses functions given as metrics: saved by the name of the matching metric
            losses.mean_absolute_percentage_error: "mean_absolute_percentage_error",
            losses.mean_squared_logarithmic_error: "mean_squared_logarithmic_error",
            losses.kl_divergence: "kl_divergence", losses.poisson: "poisson", losses.hinge: "hinge",
            losses.squared_hinge: "squared_hinge", losses.categorical_hinge: "categorical_hinge",
            losses.log_cosh: "logcosh", top_k_categorical_accuracy: "top_k_categorical_accuracy",
            sparse_top_k_categorical_accuracy: "sparse_top_k_categorical_accuracy"}


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


# ---- metrics over confusion counts, ranks and running sums (Keras 3 names and defaults) -------
_EPS = 1e-7  # Keras backend epsilon


def _div(a, b):
    """a / b, 0 where b == 0 (Keras's divide_no_nan)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    out = np.zeros(np.broadcast(a, b).shape)
    np.divide(a, b, out=out, where=b != 0)
    return out


def _result(value):
    """A scalar result as Scalar (float with .numpy()); vectors stay float32 arrays as Keras returns."""
    value = np.asarray(value, np.float64)
    return Scalar(float(value)) if value.ndim == 0 else value.astype(np.float32)


def _as_pair(y_true, y_pred):
    """float64 arrays; y_true reshaped to y_pred's shape (same size) with a clear error otherwise."""
    y_pred = np.asarray(as_float32(y_pred, "y_pred"), np.float64)
    y_true = np.asarray(y_true)
    if y_true.dtype.kind not in "biuf":
        raise TypeError(f"y_true must be numeric, got dtype {y_true.dtype}")
    y_true = y_true.astype(np.float64)
    if y_true.shape != y_pred.shape:
        if y_true.size != y_pred.size:
            raise ValueError(f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}")
        y_true = y_true.reshape(y_pred.shape)
    return y_true, y_pred


def _value_weights(sample_weight, shape) -> np.ndarray:
    """Weights broadcast to every value of a batch shaped `shape` (one per sample, or per value)."""
    if sample_weight is None:
        return np.ones(shape)
    w = np.asarray(sample_weight, np.float64)
    if w.ndim == 0:
        return np.full(shape, float(w))
    if w.size == int(np.prod(shape)):
        return w.reshape(shape)
    if len(shape) and w.size == shape[0]:
        return np.broadcast_to(w.reshape((-1,) + (1,) * (len(shape) - 1)), shape)
    raise ValueError(f"sample_weight of shape {w.shape} does not match a batch of shape {tuple(shape)}")


def _check_thresholds(thresholds, default, owner):
    """(thresholds array, whether one was given as a scalar): Keras returns a scalar result for one
    threshold and a vector for a list."""
    if thresholds is None:
        return np.array([default], np.float64), True
    if isinstance(thresholds, (int, float, np.integer, np.floating)) and not isinstance(thresholds, bool):
        values, scalar = np.array([float(thresholds)]), True
    elif isinstance(thresholds, (list, tuple, np.ndarray)) and len(thresholds) > 0:
        values, scalar = np.asarray(thresholds, np.float64).reshape(-1), len(thresholds) == 1
    else:
        raise TypeError(f"{owner}: thresholds must be a number or a non-empty list of numbers in [0, 1], got {thresholds!r}")
    if not np.all((values >= 0) & (values <= 1)):
        raise ValueError(f"{owner}: thresholds must be in [0, 1], got {thresholds!r}")
    return values, scalar


def _confusion_update(counts: dict, y_true, y_pred, sample_weight, thresholds, *, top_k=None, class_id=None):
    """Add to counts["tp"/"fp"/"tn"/"fn"] (one entry per threshold): a prediction is positive when it
    is > threshold (strictly, as Keras), after keeping only each row's top_k values and the
    class_id column when asked; every value of the batch counts once, weighted by its sample."""
    y_true, y_pred = _as_pair(y_true, y_pred)
    w = _value_weights(sample_weight, y_pred.shape)
    if top_k is not None:
        if y_pred.ndim == 0 or y_pred.shape[-1] < 1:
            raise ValueError("top_k needs predictions with a class axis")
        # Keras keeps the k largest values per row and sets the rest to -inf (never positive).
        order = np.argsort(-y_pred, axis=-1, kind="stable")[..., :top_k]
        keep = np.zeros(y_pred.shape, bool)
        np.put_along_axis(keep, order, True, axis=-1)
        y_pred = np.where(keep, y_pred, -np.inf)
    if class_id is not None:
        if y_pred.ndim == 0 or not 0 <= class_id < y_pred.shape[-1]:
            raise ValueError(f"class_id {class_id} is out of range for predictions of shape {y_pred.shape}")
        y_true, y_pred, w = y_true[..., class_id], y_pred[..., class_id], w[..., class_id]
    t = y_true.reshape(-1) > 0.5 if y_true.dtype == bool else y_true.reshape(-1).astype(bool)
    p = y_pred.reshape(-1)
    w = w.reshape(-1)
    above = p[None, :] > thresholds[:, None]
    counts["tp"] += (above & t).astype(np.float64) @ w
    counts["fp"] += (above & ~t).astype(np.float64) @ w
    counts["fn"] += (~above & t).astype(np.float64) @ w
    counts["tn"] += (~above & ~t).astype(np.float64) @ w


def _check_top_k_class_id(top_k, class_id, owner):
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1):
        raise ValueError(f"{owner}: top_k must be a positive int or None, got {top_k!r}")
    if class_id is not None and (isinstance(class_id, bool) or not isinstance(class_id, (int, np.integer)) or class_id < 0):
        raise ValueError(f"{owner}: class_id must be a non-negative int or None, got {class_id!r}")
    return (None if top_k is None else int(top_k)), (None if class_id is None else int(class_id))


class _ConfusionMetric(Metric):
    """Running weighted confusion counts at `thresholds` (y_pred > threshold is a positive)."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        self.init_thresholds = thresholds
        self.thresholds, self._scalar = _check_thresholds(thresholds, 0.5, type(self).__name__)
        self.top_k, self.class_id = _check_top_k_class_id(top_k, class_id, type(self).__name__)
        super().__init__(name, dtype)

    def reset_state(self) -> None:
        self._counts = {k: np.zeros(len(self.thresholds)) for k in ("tp", "fp", "tn", "fn")}

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        _confusion_update(self._counts, y_true, y_pred, sample_weight, self.thresholds,
                          top_k=self.top_k, class_id=self.class_id)

    def _value(self):
        raise NotImplementedError

    def result(self):
        value = self._value()
        return _result(value[0] if self._scalar else value)

    def get_config(self):
        return {"name": self.name, "thresholds": self.init_thresholds}


class TruePositives(_ConfusionMetric):
    default_name = "true_positives"

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(thresholds, name=name, dtype=dtype)

    def _value(self):
        return self._counts["tp"]


class FalsePositives(TruePositives):
    default_name = "false_positives"

    def _value(self):
        return self._counts["fp"]


class TrueNegatives(TruePositives):
    default_name = "true_negatives"

    def _value(self):
        return self._counts["tn"]


class FalseNegatives(TruePositives):
    default_name = "false_negatives"

    def _value(self):
        return self._counts["fn"]


class Precision(_ConfusionMetric):
    """tp / (tp + fp) at each threshold (default 0.5); top_k and class_id as Keras."""

    default_name = "precision"

    def _value(self):
        c = self._counts
        return _div(c["tp"], c["tp"] + c["fp"])

    def get_config(self):
        return {**super().get_config(), "top_k": self.top_k, "class_id": self.class_id}


class Recall(Precision):
    """tp / (tp + fn) at each threshold (default 0.5); top_k and class_id as Keras."""

    default_name = "recall"

    def _value(self):
        c = self._counts
        return _div(c["tp"], c["tp"] + c["fn"])


class AUC(Metric):
    """Area under the ROC or PR curve from weighted confusion counts at `num_thresholds` thresholds
    (Keras 3: evenly spaced in (0, 1) plus -eps and 1 + eps; interpolation by the trapezoid rule,
    PR by Davis & Goadrich's interpolation). Values are flattened (multi_label=False)."""

    default_name = "auc"

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None,
                 dtype=None, thresholds=None, multi_label=False, num_labels=None, label_weights=None,
                 from_logits=False):
        if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, (int, np.integer)) or num_thresholds <= 1:
            raise ValueError(f"AUC: num_thresholds must be an int > 1, got {num_thresholds!r}")
        if not isinstance(curve, str) or curve.upper() not in ("ROC", "PR"):
            raise ValueError(f"AUC: curve must be 'ROC' or 'PR', got {curve!r}")
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(f"AUC: summation_method must be 'interpolation', 'minoring' or 'majoring', got {summation_method!r}")
        if not isinstance(multi_label, bool):
            raise TypeError(f"AUC: multi_label must be a bool, got {multi_label!r}")
        if num_labels is not None and (isinstance(num_labels, bool) or not isinstance(num_labels, (int, np.integer))
                                       or num_labels < 1):
            raise ValueError(f"AUC: num_labels must be a positive int or None, got {num_labels!r}")
        if label_weights is not None:
            if not multi_label:
                raise ValueError("AUC: label_weights is supported with multi_label=True only")
            label_weights = [float(w) for w in np.asarray(label_weights, np.float64).reshape(-1)]
            if any(w < 0 or not np.isfinite(w) for w in label_weights):
                raise ValueError(f"AUC: label_weights must be finite numbers >= 0, got {label_weights!r}")
        self.curve = curve.upper()
        self.summation_method = summation_method
        self.from_logits = bool(from_logits)
        self.multi_label = multi_label
        self.num_labels = None if num_labels is None else int(num_labels)
        self.label_weights = label_weights
        if thresholds is not None:
            given, _ = _check_thresholds(list(thresholds) if not np.isscalar(thresholds) else thresholds, 0.5, "AUC")
            self._init_thresholds = [float(t) for t in given]
            inner = sorted(self._init_thresholds)
        else:
            self._init_thresholds = None
            n = int(num_thresholds)
            inner = [(i + 1) / (n - 1) for i in range(n - 2)]
        # the end points make every prediction count at the first threshold and none at the last
        self.thresholds = np.array([0.0 - _EPS] + list(inner) + [1.0 + _EPS])
        self.num_thresholds = len(self.thresholds)
        super().__init__(name, dtype)

    def reset_state(self) -> None:
        # multi_label: one column of counts per label, sized on the first update (or num_labels)
        shape = (self.num_thresholds,) if not self.multi_label else (self.num_thresholds, self.num_labels or 0)
        self._counts = {k: np.zeros(shape) for k in ("tp", "fp", "tn", "fn")}

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        if self.from_logits:
            y_pred = 1.0 / (1.0 + np.exp(-np.asarray(as_float32(y_pred, "y_pred"), np.float64)))
        if not self.multi_label:
            _confusion_update(self._counts, y_true, y_pred, sample_weight, self.thresholds)
            return
        t, p = _as_pair(y_true, y_pred)
        if p.ndim != 2:
            raise ValueError(f"AUC(multi_label=True) expects y_pred of shape (samples, labels), got {p.shape}")
        labels = p.shape[1]
        if self._counts["tp"].shape[1] == 0:
            self._counts = {k: np.zeros((self.num_thresholds, labels)) for k in self._counts}
        if labels != self._counts["tp"].shape[1]:
            raise ValueError(f"AUC: y_pred has {labels} labels, expected {self._counts['tp'].shape[1]}")
        w = _value_weights(sample_weight, p.shape)
        pos = t.astype(bool)
        above = p[None] > self.thresholds[:, None, None]  # [thresholds, samples, labels]
        self._counts["tp"] += np.einsum("tnl,nl->tl", above & pos, w)
        self._counts["fp"] += np.einsum("tnl,nl->tl", above & ~pos, w)
        self._counts["fn"] += np.einsum("tnl,nl->tl", ~above & pos, w)
        self._counts["tn"] += np.einsum("tnl,nl->tl", ~above & ~pos, w)

    def _by_label(self, per_label):
        """Keras: the mean of the labels' areas, or their label_weights-weighted mean."""
        if not self.multi_label:
            return float(per_label)
        if self.label_weights is None:
            return float(np.mean(per_label)) if per_label.size else 0.0
        lw = np.asarray(self.label_weights)
        if lw.shape != per_label.shape:
            raise ValueError(f"AUC: {lw.size} label_weights for {per_label.size} labels")
        return float(np.sum(per_label * lw) / np.sum(lw)) if lw.sum() else 0.0

    def _interpolate_pr_auc(self):
        tp, fp, fn = self._counts["tp"], self._counts["fp"], self._counts["fn"]
        n = self.num_thresholds
        dtp = tp[:n - 1] - tp[1:]
        p = tp + fp
        dp = p[:n - 1] - p[1:]
        slope = _div(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:n - 1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _div(p[:n - 1], np.maximum(p[1:], 0)), 1.0)
        return self._by_label(np.sum(_div(slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0)),
                                     axis=0))

    def result(self):
        if self.curve == "PR" and self.summation_method == "interpolation":
            return Scalar(self._interpolate_pr_auc())
        c = self._counts
        recall = _div(c["tp"], c["tp"] + c["fn"])
        if self.curve == "ROC":
            x, y = _div(c["fp"], c["fp"] + c["tn"]), recall
        else:
            x, y = recall, _div(c["tp"], c["tp"] + c["fp"])
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return Scalar(self._by_label(np.sum((x[:-1] - x[1:]) * heights, axis=0)))

    def get_config(self):
        config = {"name": self.name, "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "from_logits": self.from_logits,
                  "multi_label": self.multi_label, "num_labels": self.num_labels, "label_weights": self.label_weights}
        if self._init_thresholds is not None:
            config["thresholds"] = self._init_thresholds
            del config["num_thresholds"]
        return config


def _check_k(k, owner):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{owner}: k must be a positive int, got {k!r}")
    return int(k)


def _in_top_k(ids: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """Whether the score of each row's target is among the k largest (ties count as in, as
    TensorFlow's in_top_k)."""
    if y_pred.ndim < 1 or ids.size * y_pred.shape[-1] != y_pred.size:
        raise ValueError(f"y_true must hold one class per row of y_pred {y_pred.shape}, got {ids.size} values")
    ids = ids.astype(np.int64).reshape(y_pred.shape[:-1])
    if ids.size and (ids.min() < 0 or ids.max() >= y_pred.shape[-1]):
        raise ValueError(f"class ids must be in [0, {y_pred.shape[-1]}), got range [{ids.min()}, {ids.max()}]")
    target = np.take_along_axis(y_pred, ids[..., None], axis=-1)
    return (y_pred > target).sum(-1) < k


class TopKCategoricalAccuracy(Metric):
    """How often the one-hot target is among the k highest predictions."""

    default_name = "top_k_categorical_accuracy"

    def __init__(self, k=5, name=None, dtype=None):
        self.k = _check_k(k, type(self).__name__)
        super().__init__(name, dtype)

    def _values(self, y_true, y_pred):
        return _in_top_k(y_true.reshape(y_pred.shape).argmax(-1), y_pred, self.k)

    def get_config(self):
        return {"name": self.name, "k": self.k}


class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    """How often the integer class id is among the k highest predictions."""

    default_name = "sparse_top_k_categorical_accuracy"

    def _values(self, y_true, y_pred):
        return _in_top_k(np.asarray(y_true), y_pred, self.k)


class RootMeanSquaredError(Metric):
    """sqrt of the (weighted) mean of (y_pred - y_true)^2 over every value seen."""

    default_name = "root_mean_squared_error"

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true, y_pred = _as_pair(y_true, y_pred)
        w = _value_weights(sample_weight, y_pred.shape)
        self._total += float(((y_pred - y_true) ** 2 * w).sum())
        self._count += float(w.sum())

    def result(self):
        return Scalar(np.sqrt(self._total / self._count) if self._count else 0.0)


class R2Score(Metric):
    """Coefficient of determination 1 - SS_res / SS_tot per output column (Keras 3): aggregated by
    `class_aggregation` ("uniform_average", "variance_weighted_average" or None for one per
    output), adjusted for `num_regressors` when > 0."""

    default_name = "r2_score"

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None):
        if class_aggregation not in (None, "uniform_average", "variance_weighted_average"):
            raise ValueError("R2Score: class_aggregation must be None, 'uniform_average' or "
                             f"'variance_weighted_average', got {class_aggregation!r}")
        if isinstance(num_regressors, bool) or not isinstance(num_regressors, (int, np.integer)) or num_regressors < 0:
            raise ValueError(f"R2Score: num_regressors must be an int >= 0, got {num_regressors!r}")
        self.class_aggregation = class_aggregation
        self.num_regressors = int(num_regressors)
        super().__init__(name, dtype)

    def reset_state(self) -> None:
        self._sums = None  # per output: sum w, sum w y, sum w y^2, sum w (y - p)^2, samples

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true, y_pred = _as_pair(y_true, y_pred)
        if y_pred.ndim == 1:
            y_true, y_pred = y_true[:, None], y_pred[:, None]
        if y_pred.ndim != 2:
            raise ValueError(f"R2Score expects y_pred of shape (samples, outputs), got {y_pred.shape}")
        w = _value_weights(sample_weight, y_pred.shape)
        sums = np.stack([w.sum(0), (w * y_true).sum(0), (w * y_true ** 2).sum(0), (w * (y_true - y_pred) ** 2).sum(0)])
        if self._sums is None:
            self._sums, self._samples = sums, 0
        elif self._sums.shape != sums.shape:
            raise ValueError(f"R2Score: y_pred has {sums.shape[1]} outputs, earlier batches had {self._sums.shape[1]}")
        else:
            self._sums = self._sums + sums
        self._samples += y_pred.shape[0]

    def result(self):
        if self._sums is None:
            return Scalar(0.0)
        count, total, total_sq, residual = self._sums
        mean = total / np.where(count == 0, 1, count)
        ss_tot = total_sq - total * mean
        raw = 1 - _div(residual, ss_tot)
        raw = np.where(np.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            r2 = np.mean(raw)
        elif self.class_aggregation == "variance_weighted_average":
            r2 = np.sum(raw * _div(ss_tot, np.sum(ss_tot)))
        else:
            r2 = raw
        if self.num_regressors:
            n, p = self._samples, self.num_regressors
            if n - p - 1 > 0:  # Keras warns and leaves r2 unadjusted otherwise
                r2 = 1 - (1 - r2) * (n - 1) / (n - p - 1)
        return _result(r2)

    def get_config(self):
        return {"name": self.name, "class_aggregation": self.class_aggregation, "num_regressors": self.num_regressors}


class FBetaScore(Metric):
    """F-beta per class from running tp / fp / fn (Keras 3): `average` None (one per class),
    "micro", "macro" or "weighted"; `threshold` None marks each row's highest prediction."""

    default_name = "fbeta_score"

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"{type(self).__name__}: average must be None, 'micro', 'macro' or 'weighted', got {average!r}")
        if isinstance(beta, bool) or not isinstance(beta, (int, float, np.integer, np.floating)) or not beta > 0:
            raise ValueError(f"{type(self).__name__}: beta must be a number > 0, got {beta!r}")
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.integer, np.floating))
                                      or not 0 <= threshold <= 1):
            raise ValueError(f"{type(self).__name__}: threshold must be a number in [0, 1] or None, got {threshold!r}")
        self.average, self.beta = average, float(beta)
        self.threshold = None if threshold is None else float(threshold)
        super().__init__(name, dtype)

    def reset_state(self) -> None:
        self._state = None  # tp, fp, fn, support per class

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true, y_pred = _as_pair(y_true, y_pred)
        if y_pred.ndim != 2:
            raise ValueError(f"{type(self).__name__} expects y_pred of shape (samples, classes), got {y_pred.shape}")
        if self.threshold is None:
            pred = (y_pred == y_pred.max(-1, keepdims=True)).astype(np.float64)
        else:
            pred = (y_pred > self.threshold).astype(np.float64)
        w = _value_weights(sample_weight, y_pred.shape)
        state = np.stack([(pred * y_true * w).sum(0), (pred * (1 - y_true) * w).sum(0),
                          ((1 - pred) * y_true * w).sum(0), (y_true * w).sum(0)])
        if self._state is not None and self._state.shape != state.shape:
            raise ValueError(f"{type(self).__name__}: y_pred has {state.shape[1]} classes, earlier batches had {self._state.shape[1]}")
        self._state = state if self._state is None else self._state + state

    def result(self):
        if self._state is None:
            return Scalar(0.0)
        tp, fp, fn, support = self._state
        if self.average == "micro":
            tp, fp, fn, support = tp.sum(), fp.sum(), fn.sum(), support.sum()
        precision = _div(tp, tp + fp + _EPS)
        recall = _div(tp, tp + fn + _EPS)
        b2 = self.beta ** 2
        f = _div((1 + b2) * precision * recall, b2 * precision + recall + _EPS)
        if self.average == "weighted":
            f = np.sum(f * _div(support, np.sum(support)))
        elif self.average == "macro":
            f = np.mean(f)
        return _result(f)

    def get_config(self):
        return {"name": self.name, "average": self.average, "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    default_name = "f1_score"

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "average": self.average, "threshold": self.threshold}


class MeanIoU(Metric):
    """Mean over classes of tp / (tp + fp + fn) from a running confusion matrix (Keras 3); classes
    that never appear in y_true or y_pred are left out of the mean."""

    default_name = "mean_iou"

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise ValueError(f"MeanIoU: num_classes must be a positive int, got {num_classes!r}")
        if ignore_class is not None and (isinstance(ignore_class, bool) or not isinstance(ignore_class, (int, np.integer))):
            raise ValueError(f"MeanIoU: ignore_class must be an int or None, got {ignore_class!r}")
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"MeanIoU: axis must be an int, got {axis!r}")
        self.num_classes, self.ignore_class = int(num_classes), ignore_class
        self.sparse_y_true, self.sparse_y_pred, self.axis = bool(sparse_y_true), bool(sparse_y_pred), int(axis)
        super().__init__(name, dtype)

    def reset_state(self) -> None:
        self._cm = np.zeros((self.num_classes, self.num_classes))  # rows: true class, columns: predicted

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
        if not self.sparse_y_pred:
            y_pred = np.argmax(y_pred, axis=self.axis)
        if not self.sparse_y_true:
            y_true = np.argmax(y_true, axis=self.axis)
        t = y_true.reshape(-1).astype(np.int64)
        p = y_pred.reshape(-1).astype(np.int64)
        if t.size != p.size:
            raise ValueError(f"MeanIoU: y_true has {t.size} labels and y_pred {p.size}")
        w = np.ones(t.size) if sample_weight is None else _value_weights(sample_weight, y_true.shape).reshape(-1)
        if self.ignore_class is not None:
            keep = t != self.ignore_class
            t, p, w = t[keep], p[keep], w[keep]
        for name, ids in (("y_true", t), ("y_pred", p)):
            if ids.size and (ids.min() < 0 or ids.max() >= self.num_classes):
                raise ValueError(f"MeanIoU: {name} holds class ids outside [0, {self.num_classes}): "
                                 f"range [{ids.min()}, {ids.max()}]")
        np.add.at(self._cm, (t, p), w)

    def result(self):
        tp = np.diag(self._cm)
        denom = self._cm.sum(0) + self._cm.sum(1) - tp
        present = denom > 0
        return Scalar(float(np.sum(_div(tp, denom)) / max(int(present.sum()), 1)))

    def get_config(self):
        return {"name": self.name, "num_classes": self.num_classes, "ignore_class": self.ignore_class,
                "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


_NEW_METRICS = (TruePositives, FalsePositives, TrueNegatives, FalseNegatives, Precision, Recall, AUC,
                TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, RootMeanSquaredError, R2Score,
                FBetaScore, F1Score, MeanIoU)
_CLASSES.update({c.__name__: c for c in _NEW_METRICS})
# Keras 3 resolves a metric string by class name or its snake_case (keras.metrics.get)
_BY_NAME.update({c.default_name: c for c in _NEW_METRICS if c is not MeanIoU})
_BY_NAME.update({c.__name__: c for c in _NEW_METRICS if c is not MeanIoU})
_BY_NAME.update({"rmse": RootMeanSquaredError, "RMSE": RootMeanSquaredError})
KNOWN = ("accuracy", "acc", *_BY_NAME)


def top_k_categorical_accuracy(y_true, y_pred, k=5) -> np.ndarray:
    """1.0 where the one-hot target is among the k highest predictions, per sample."""
    y_pred = as_float32(y_pred, "y_pred")
    return _in_top_k(np.asarray(y_true).reshape(y_pred.shape).argmax(-1), y_pred, _check_k(k, "top_k_categorical_accuracy")).astype(np.float32)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5) -> np.ndarray:
    """1.0 where the class id is among the k highest predictions, per sample."""
    y_pred = as_float32(y_pred, "y_pred")
    return _in_top_k(np.asarray(y_true), y_pred, _check_k(k, "sparse_top_k_categorical_accuracy")).astype(np.float32)


# ---- the regression / hinge / divergence metrics: means of the matching loss functions ---------
class _LossMean(Metric):
    """The (weighted) mean over samples of a keras.losses function (Keras 3's MeanMetricWrapper
    metrics of the same names)."""

    loss_name = ""

    def __init__(self, name=None, dtype=None):
        super().__init__(name, dtype)

    def _values(self, y_true, y_pred):
        from . import losses
        return np.asarray(getattr(losses, self.loss_name)(y_true, y_pred))


def _loss_mean(class_name, name, loss_name):
    return type(class_name, (_LossMean,), {"default_name": name, "loss_name": loss_name,
                                           "__doc__": f"Mean of keras.losses.{loss_name} over samples."})


MeanAbsolutePercentageError = _loss_mean("MeanAbsolutePercentageError", "mean_absolute_percentage_error",
                                         "mean_absolute_percentage_error")
MeanSquaredLogarithmicError = _loss_mean("MeanSquaredLogarithmicError", "mean_squared_logarithmic_error",
                                         "mean_squared_logarithmic_error")
KLDivergence = _loss_mean("KLDivergence", "kl_divergence", "kl_divergence")
Poisson = _loss_mean("Poisson", "poisson", "poisson")
Hinge = _loss_mean("Hinge", "hinge", "hinge")
SquaredHinge = _loss_mean("SquaredHinge", "squared_hinge", "squared_hinge")
CategoricalHinge = _loss_mean("CategoricalHinge", "categorical_hinge", "categorical_hinge")
LogCoshError = _loss_mean("LogCoshError", "logcosh", "log_cosh")
for _cls in (MeanAbsolutePercentageError, MeanSquaredLogarithmicError, KLDivergence, Poisson, Hinge, SquaredHinge,
             CategoricalHinge, LogCoshError):
    _cls.__module__ = __name__
_LOSS_METRICS = (MeanAbsolutePercentageError, MeanSquaredLogarithmicError, KLDivergence, Poisson, Hinge,
                 SquaredHinge, CategoricalHinge, LogCoshError)
_NEW_METRICS = _NEW_METRICS + _LOSS_METRICS
_CLASSES.update({c.__name__: c for c in _LOSS_METRICS})
_BY_NAME.update({c.default_name: c for c in _LOSS_METRICS})
_BY_NAME.update({c.__name__: c for c in _LOSS_METRICS})
_BY_NAME.update({"mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
                 "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError,
                 "kld": KLDivergence, "log_cosh_error": LogCoshError})
KNOWN = ("accuracy", "acc", *_BY_NAME)
