"""`Trainer`: Keras 3's training contract, the base `Model` inherits it from.

`fit`, `evaluate` and `predict` call `train_step(data)`, `test_step(data)` and `predict_step(data)`
batch by batch, so a model that overrides them is trained by its own step. The default steps
differentiate `compute_loss` with a GradientTape and apply the optimizer; `self.metrics` is the loss
tracker followed by the compiled metrics, and a step returns `{m.name: m.result()}`.

A Sequential of built-in layers that keeps the default steps takes a fused path instead (the layer
chain's Rust forward and backward without the tape: engine/training.py), with the same results.
"""

from __future__ import annotations

import math

import numpy as np

from ...ops import autodiff, backprop, math_ops
from ...ops.symbolic import flatten
from ...ops.tensor import as_tensor_value, wrap
from .. import losses as losses_mod
from .. import metrics as metrics_mod
from .. import optimizers as optimizers_mod


def unpack_x_y_sample_weight(data):
    """(x, y, sample_weight) from what a step receives: a tuple (x,), (x, y), (x, y, w), or x."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data
    raise ValueError(f"a training batch must be x, (x,), (x, y) or (x, y, sample_weight); got a tuple of {len(data)}")


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    if y is None:
        return (x,)
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


class CompiledMetrics(list):
    """The compiled metrics (a list of Metric objects, created from the compile() specs once the
    outputs are known), with Keras 2's container methods so `self.compiled_metrics.update_state(y,
    y_pred)` works in a custom train_step."""

    def __init__(self, model=None):
        super().__init__()
        self._model = model
        self._routes: list = []   # (output key, metric) for per-output metrics
        self.built = False

    def build(self, y_pred) -> None:
        """Create the metric objects ("accuracy" depends on the loss and the output shape)."""
        model = self._model
        specs = model._metric_specs if model is not None else []
        self.built = True
        if not specs:
            return
        names = model.__dict__.get("output_names")
        if isinstance(y_pred, (list, tuple, dict)):
            keys = list(y_pred) if isinstance(y_pred, dict) else list(range(len(y_pred)))
            for key in keys:
                if isinstance(specs, dict):
                    group = specs.get(key if isinstance(key, str) else (names[key] if names else key), [])
                elif specs and isinstance(specs[0], list):
                    group = specs[key]
                else:
                    group = specs
                label = key if isinstance(key, str) else (names[key] if names else f"output_{key}")
                for spec in group:
                    m = metrics_mod.get(spec, _loss_kind(model.loss, key), tuple(np.shape(_pick(y_pred, key))))
                    m.name = f"{label}_{m.name}"
                    self.append(m)
                    self._routes.append((key, m))
            return
        for spec in specs:
            self.append(metrics_mod.get(spec, _loss_kind(model.loss, None), tuple(np.shape(y_pred))))

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        if not self.built:
            self.build(y_pred)
        if self._routes:
            for key, metric in self._routes:
                metric.update_state(_pick(y_true, key), _pick(y_pred, key), sample_weight)
            return
        for m in self:
            m.update_state(y_true, y_pred, sample_weight)

    def reset_state(self) -> None:
        for m in self:
            m.reset_state()

    def result(self) -> dict:
        return {m.name: m.result() for m in self}


class CompiledLoss:
    """`self.compiled_loss(y, y_pred)` (Keras 2): the compiled loss(es), weighted and summed, plus
    the losses layers added (`regularization_losses`)."""

    def __init__(self, losses, loss_weights=None, tracker=None):
        self.losses = losses            # a Loss, or a list / dict of Losses per output
        self.loss_weights = loss_weights
        self.tracker = tracker          # the model's "loss" Mean: a custom step calling this updates it

    def __call__(self, y_true, y_pred, sample_weight=None, regularization_losses=None, _track=True):
        total = None
        for key, loss, weight in self._routes(y_pred):
            value = loss(_pick(y_true, key), _pick(y_pred, key), sample_weight)
            if weight != 1.0:
                value = math_ops.multiply(value, float(weight))
            total = value if total is None else math_ops.add(total, value)
        for extra in regularization_losses or []:
            total = extra if total is None else math_ops.add(total, extra)
        if _track and self.tracker is not None and total is not None:
            self.tracker.update_state(float(as_tensor_value(total)), sample_weight=batch_size_of(y_pred))
        return total

    def _routes(self, y_pred):
        if isinstance(self.losses, losses_mod.Loss):
            if isinstance(y_pred, (list, tuple)):
                return [(i, self.losses, _weight(self.loss_weights, i)) for i in range(len(y_pred))]
            if isinstance(y_pred, dict):
                return [(k, self.losses, _weight(self.loss_weights, k)) for k in y_pred]
            return [(None, self.losses, 1.0)]
        if isinstance(self.losses, dict):
            return [(k, loss, _weight(self.loss_weights, k)) for k, loss in self.losses.items() if loss is not None]
        return [(i, loss, _weight(self.loss_weights, i)) for i, loss in enumerate(self.losses) if loss is not None]


def _weight(weights, key) -> float:
    if weights is None:
        return 1.0
    if isinstance(weights, dict):
        return float(weights.get(key, 1.0))
    return float(weights[key])


def _pick(structure, key):
    """One output's part of y / y_pred: by position in a list, by name in a dict."""
    if key is None or structure is None:
        return structure
    if isinstance(structure, dict):
        if key not in structure:
            raise KeyError(f"no entry {key!r} among {sorted(structure)}")
        return structure[key]
    if isinstance(key, str):
        raise KeyError(f"output {key!r} is named, but the data is a {type(structure).__name__}, not a dict")
    return structure[key]


class Trainer:
    """The training API of `Model`: compile, the steps, fit / evaluate / predict."""

    # ---- compile ---------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1, jit_compile="auto",
                auto_scale_loss=True) -> None:
        """Set the optimizer, the loss (optional: a model whose train_step or add_loss computes
        its own needs none) and the metrics (names or objects; lists or dicts per output)."""
        self._check_initialized()
        if weighted_metrics is not None:
            raise ValueError("compile: weighted_metrics is not supported")
        opt = optimizers_mod.get(optimizer)
        loss_obj = _compile_losses(loss)
        if loss_weights is not None and not isinstance(loss_weights, (list, tuple, dict)):
            raise TypeError(f"loss_weights must be a list or dict (one weight per output), got {type(loss_weights).__name__}")
        if metrics is None:
            metrics = []
        if isinstance(metrics, (str, metrics_mod.Metric)) or callable(metrics):
            metrics = [metrics]
        if isinstance(metrics, dict):
            specs = {k: [metrics_mod.normalize(m) for m in (v if isinstance(v, (list, tuple)) else [v])]
                     for k, v in metrics.items()}
        elif isinstance(metrics, (list, tuple)):
            if metrics and all(isinstance(m, (list, tuple)) for m in metrics):
                specs = [[metrics_mod.normalize(m) for m in group] for group in metrics]
            else:
                specs = [metrics_mod.normalize(m) for m in metrics]
        else:
            raise TypeError(f"metrics must be a list of names or Metric objects, got {type(metrics).__name__}")
        self.optimizer = opt
        self.loss = loss_obj
        self._loss_weights = loss_weights
        self._metric_specs = specs
        self.compiled_metrics = CompiledMetrics(self)
        self._loss_tracker = metrics_mod.Mean(name="loss")
        self.compiled_loss = CompiledLoss(loss_obj, loss_weights, self._loss_tracker) if loss_obj is not None else None
        self._compile_config = {
            "optimizer": optimizers_mod.serialize(opt),
            "loss": _serialize_losses(loss, loss_obj),
            "metrics": _serialize_specs(specs),
        }
        if loss_weights is not None:
            self._compile_config["loss_weights"] = loss_weights

    @property
    def compiled(self) -> bool:
        return self.optimizer is not None

    @property
    def metrics(self) -> list:
        """The loss tracker, the compiled metrics, then (as Keras 3) the metrics this model and its
        layers hold as attributes, e.g. an endpoint layer's accuracy updated in its call(); a nested
        model's own are its business. Override to list your own trackers."""
        out = []
        if self.__dict__.get("_loss_tracker") is not None:
            out.append(self._loss_tracker)
        out.extend(self.compiled_metrics)
        seen = {id(m) for m in out}
        for path, layer in self._walk(follow=lambda layer: layer is self or not isinstance(layer, Trainer)):
            for value in list(vars(layer).values()):
                held = value if isinstance(value, (list, tuple)) else (value,)
                for m in held:
                    if isinstance(m, metrics_mod.Metric) and id(m) not in seen:
                        seen.add(id(m))
                        out.append(m)
        return out

    @property
    def metrics_names(self) -> list[str]:
        return [m.name for m in self.metrics]

    def reset_metrics(self) -> None:
        for m in self.metrics:
            m.reset_state()

    def _resolve_metrics(self, y_pred) -> CompiledMetrics:
        if not self.compiled_metrics.built:
            self.compiled_metrics.build(y_pred)
        return self.compiled_metrics

    # ---- the steps -------------------------------------------------------------------------
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss of (y, y_pred) plus every loss the layers added (`self.losses`)."""
        extra = list(self.losses)
        if self.compiled_loss is None:
            if not extra:
                raise ValueError(
                    f"model {self.name!r} has no loss: compile it with loss=..., or add losses in call() with "
                    "self.add_loss(...), or override train_step / compute_loss"
                )
            return _sum(extra)
        if y is None:
            raise ValueError("the compiled loss needs targets: pass y to fit/evaluate (or data as (x, y) batches)")
        return self.compiled_loss(y, y_pred, sample_weight, regularization_losses=extra, _track=False)

    def compute_metrics(self, x, y, y_pred, sample_weight=None) -> dict:
        """Update the compiled metrics; return every metric's result by name."""
        if y is not None:
            self._resolve_metrics(y_pred).update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    def get_metrics_result(self) -> dict:
        out = {}
        for m in self.metrics:
            r = m.result()
            if isinstance(r, dict):
                out.update(r)
            else:
                out[m.name] = r
        return out

    def train_step(self, data) -> dict:
        """One optimizer step on a batch: forward under a tape, loss, gradients, update."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        variables = self.trainable_variables
        with backprop.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
        value = float(as_tensor_value(loss))
        self._last_loss = value
        if math.isfinite(value):
            if variables and not autodiff.is_tracked(loss):
                raise ValueError(
                    f"the loss of model {self.name!r} does not depend on any trainable weight: its output was "
                    "computed outside the recorded ops (numpy functions such as np.concatenate on layer outputs are "
                    "not differentiable; use keras.ops / tf functions or layers in call())"
                )
            grads = tape.gradient(loss, variables)
            _check_untracked(self, autodiff.unrequested_leaves())
            _check_unreached(tape._layers, variables, grads)
            self.optimizer.apply_gradients(zip(grads, variables), zeros_for_none=True)
        self._loss_tracker.update_state(value, sample_weight=_batch_size(x))
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def test_step(self, data) -> dict:
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False)
        self._loss_tracker.update_state(float(as_tensor_value(loss)), sample_weight=_batch_size(x))
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def predict_step(self, data):
        x, _, _ = unpack_x_y_sample_weight(data)
        return self(x, training=False)

    # ---- the loops (engine/training.py) --------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0, **kwargs):
        """Train; returns a `History` (`history.history`: loss, metrics, val_* per epoch)."""
        from .training import fit
        return fit(self, x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, callbacks=callbacks,
                   validation_split=validation_split, validation_data=validation_data, shuffle=shuffle,
                   initial_epoch=initial_epoch, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict=False, **kwargs):
        """Loss (scalar) if no metrics were compiled, else [loss, *metrics] (dict with return_dict)."""
        from .training import evaluate
        return evaluate(self, x, y, batch_size=batch_size, verbose=verbose, return_dict=return_dict, **kwargs)

    def predict(self, x, batch_size=None, verbose="auto", **kwargs):
        """Outputs for `x` (first axis = samples), computed in batches, inference mode, as numpy."""
        from .training import predict
        return predict(self, x, batch_size=batch_size, verbose=verbose, **kwargs)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        from .training import train_on_batch
        return train_on_batch(self, x, y, return_dict=return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        from .training import test_on_batch
        return test_on_batch(self, x, y, return_dict=return_dict)

    def predict_on_batch(self, x):
        from .training import predict
        return predict(self, x, batch_size=None, verbose=0, _one_batch=True)


def _check_untracked(model, leaves) -> None:
    """A trainable weight the loss depends on but the model does not list: a layer created outside
    the model (or held somewhere Keras does not track) would silently never be trained or saved."""
    tracked = None
    for leaf in leaves:
        if getattr(leaf, "_auto_watch", False):
            if tracked is None:
                tracked = {id(w) for w in model.weights}
            if id(leaf) in tracked:  # a weight of a frozen part of the model (trainable=False above it)
                continue
            owner = getattr(leaf, "_owner_name", None)
            what = f"layer {owner!r}" if owner else f"variable {leaf.name!r}"
            raise ValueError(
                f"{what} is called in {type(model).__name__}.call() but is not tracked by the model, so it would be "
                "neither trained nor saved: create it in __init__ (or build) and keep it as an attribute, or in a "
                "list or dict attribute"
            )


def _check_unreached(layers, variables, grads) -> None:
    """A built-in layer that ran in the forward pass but got no gradient at all: its output reached
    the loss only through something that is not recorded (a numpy function such as np.concatenate
    applied to tensors returns a plain result), so its weights would silently never train."""
    if not layers:
        return
    got = {id(v) for v, g in zip(variables, grads) if g is not None}
    asked = {id(v) for v in variables}  # not the weights of a frozen part (trainable=False above the layer)
    for layer in layers:
        weights = [w for w in layer._weights if w.trainable and id(w) in asked] if layer.trainable else []
        if weights and not any(id(w) in got for w in weights):
            raise ValueError(
                f"cannot backpropagate through layer {layer.name!r}: its output reaches the loss only through "
                "operations that are not recorded (numpy functions such as np.concatenate or np.stack on tensors "
                "give plain arrays). Use keras.ops / tf functions (ops.concatenate, tf.stack) or layers in call()."
            )


def _batch_size(x) -> int:
    for leaf in flatten(x):
        shape = np.shape(leaf)
        if shape:
            return int(shape[0])
    return 1


batch_size_of = _batch_size


def _sum(values):
    total = values[0]
    for v in values[1:]:
        total = math_ops.add(total, v)
    return total


def _loss_kind(loss, key) -> str:
    if loss is None:
        return ""
    if isinstance(loss, losses_mod.Loss):
        return loss.kind
    try:
        chosen = _pick(loss, key) if key is not None else None
    except (KeyError, IndexError):
        return ""
    return getattr(chosen, "kind", "")


def _compile_losses(loss):
    if loss is None:
        return None
    if isinstance(loss, dict):
        return {k: (None if v is None else losses_mod.get(v)) for k, v in loss.items()}
    if isinstance(loss, (list, tuple)):
        return [None if v is None else losses_mod.get(v) for v in loss]
    return losses_mod.get(loss)


def _serialize_losses(spec, obj):
    if obj is None:
        return None
    if isinstance(obj, dict):
        return {k: (None if v is None else (spec[k] if isinstance(spec[k], str) else losses_mod.serialize(v)))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [None if v is None else (spec[i] if isinstance(spec[i], str) else losses_mod.serialize(v))
                for i, v in enumerate(obj)]
    return spec if isinstance(spec, str) else losses_mod.serialize(obj)


def _serialize_specs(specs):
    if isinstance(specs, dict):
        return {k: [metrics_mod.serialize(m) for m in v] for k, v in specs.items()}
    if specs and isinstance(specs[0], list):
        return [[metrics_mod.serialize(m) for m in group] for group in specs]
    return [metrics_mod.serialize(m) for m in specs]


def as_numpy_logs(logs: dict) -> dict:
    """Step results as plain floats (a metric may return a tensor)."""
    out = {}
    for k, v in logs.items():
        if isinstance(v, dict):
            out.update(as_numpy_logs(v))
            continue
        if isinstance(v, (int, float)):
            out[k] = float(v)
            continue
        try:
            out[k] = float(np.asarray(v))
        except (TypeError, ValueError):
            out[k] = v
    return out


__all__ = ["Trainer", "unpack_x_y_sample_weight", "pack_x_y_sample_weight", "wrap"]
