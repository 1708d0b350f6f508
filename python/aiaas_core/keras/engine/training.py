"""The training loop: one recorded forward, the loss (fused with softmax/sigmoid when possible), a
reverse replay of the recorded layer calls, one optimizer call. Validation happens once per call."""

from __future__ import annotations

import math
import sys
import warnings

import numpy as np

from ..._arrays import as_float32
from .. import backend
from .. import callbacks as callbacks_mod
from .. import metrics as metrics_mod
from ..losses import FUSABLE_ACTIVATION
from .data_checks import as_array, as_inputs, as_targets, check_int, verbosity
from .progress import Progress


class _Plan:
    """What a training step needs, computed once per fit: params, per-layer grad slots, fusion."""

    def __init__(self, model):
        self.model = model
        leaves = model._leaf_layers()
        self.params: list[np.ndarray] = []
        self.leaf_ids = {id(layer) for layer in leaves}
        self.train_layers: list[tuple] = []  # (layer, zero grads used when the layer was not called)
        for layer in leaves:
            tw = layer.trainable_weights
            if tw:
                self.params.extend(w.value for w in tw)
                self.train_layers.append((layer, [np.zeros_like(w.value) for w in tw]))
        chain = getattr(model, "kernel_chain", None)
        self.chain = chain() if chain is not None else None
        kind = model.loss.kind
        self.fuse_activation = None if model.loss.from_logits else FUSABLE_ACTIVATION.get(kind)
        self.loss = model.loss
        self.base_seed = backend.derived_seed(0x5EED)


def _ensure_built(model, x: np.ndarray) -> tuple:
    """Build on the first sample if needed; return the model's output shape (batch axis None)."""
    if not model.built or model._output_shape is None:
        saved = backend.state.call_log
        backend.state.call_log = None
        out = model(x[:1], training=False)
        model._output_shape = (None,) + out.shape[1:]
        backend.state.call_log = saved
    return model._output_shape


def _resolve_metrics(model, output_shape) -> list:
    if len(model.compiled_metrics) != len(model._metric_specs):
        model.compiled_metrics = [metrics_mod.get(m, model.loss.kind, output_shape) for m in model._metric_specs]
    return model.compiled_metrics


def _require_compiled(model, what: str) -> None:
    if not model.compiled:
        raise ValueError(f"{what}: compile the model first (model.compile(optimizer, loss, metrics))")


def _forward_recorded(plan: _Plan, x: np.ndarray):
    """(y_pred, entries) with entries (layer, ctx, x, y) in call order."""
    chain = plan.chain
    if chain is not None:
        entries = []
        h = x
        for layer in chain:
            out, ctx = layer.forward(h, True)
            entries.append((layer, ctx, h, out))
            h = out
        return h, entries
    with backend.TrainingStep(backend.state.step_seed) as tape:
        y_pred = plan.model(x, training=True)
    return y_pred, tape


def _train_step(plan: _Plan, x: np.ndarray, y: np.ndarray):
    """One optimizer step on a batch; returns (loss, y_pred). A non-finite loss skips the update."""
    model = plan.model
    backend.state.step_seed = (plan.base_seed + 1000003 * model.optimizer.iterations) % (2**31)
    backend.state.step_calls = 0
    try:
        y_pred, entries = _forward_recorded(plan, x)
    finally:
        backend.state.step_seed = None
    if not entries:
        raise ValueError(f"model {model.name!r} has no layers that can be trained: call() used no keras layers")
    if plan.chain is None:
        for layer, _, _, _ in entries:
            if id(layer) not in plan.leaf_ids and layer.weights:
                raise ValueError(
                    f"layer {layer.name!r} is called in {type(model).__name__}.call() but is not tracked by the model, "
                    "so it would be neither trained nor saved: create it in __init__ (or build) and keep it as an "
                    "attribute, or in a list or dict attribute"
                )
    last_layer, last_ctx, _, last_out = entries[-1]
    if last_out is not y_pred:
        raise ValueError(
            f"the output of model {model.name!r} is not the output of a layer: call() must return a layer's "
            "output (use keras layers such as Activation or Reshape instead of numpy operations)"
        )
    logits = None
    logits_of = getattr(last_layer, "logits_of", None)
    if logits_of is not None and plan.fuse_activation is not None and last_layer.activation == plan.fuse_activation:
        logits = logits_of(last_ctx, y_pred)
    if logits is not None:
        loss, grad = plan.loss.forward_backward(logits, y, from_logits=True)
    else:
        loss, grad = plan.loss.forward_backward(y_pred, y)
    if not math.isfinite(loss):
        return loss, y_pred
    layer_grads = _backward(entries, grad, x, logits is not None, plan.chain is not None)
    grads = []
    for layer, zeros in plan.train_layers:
        g = layer_grads.get(id(layer))
        grads.extend(g if g is not None else [z.copy() for z in zeros])
    model.optimizer.apply(grads, plan.params)
    return loss, y_pred


def _backward(entries, grad, x_input, fused_last: bool, is_chain: bool) -> dict:
    """Replay the recorded calls in reverse; returns {id(layer): [grad per trainable weight]}."""
    layer_grads: dict[int, list] = {}
    last = len(entries) - 1
    if is_chain:
        g = grad
        for i in range(last, -1, -1):
            layer, ctx, _, _ = entries[i]
            if i == last and fused_last:
                g, wg = layer.backward(ctx, g, i > 0, wrt_logits=True)
            else:
                g, wg = layer.backward(ctx, g, i > 0)
            if wg:
                layer_grads[id(layer)] = wg
        return layer_grads
    # General case (subclassed models): gradients keyed by the identity of each recorded array.
    pending = {id(entries[last][3]): grad}
    input_id = id(x_input)
    for i in range(last, -1, -1):
        layer, ctx, xin, out = entries[i]
        g = pending.pop(id(out), None)
        if g is None:
            raise ValueError(
                f"cannot backpropagate through layer {layer.name!r}: its output reaches the model output only "
                "through operations outside keras layers (numpy arithmetic, slicing...). Use layers in call()."
            )
        need_dx = id(xin) != input_id
        if i == last and fused_last:
            dx, wg = layer.backward(ctx, g, need_dx, wrt_logits=True)
        else:
            dx, wg = layer.backward(ctx, g, need_dx)
        if wg:
            prev = layer_grads.get(id(layer))
            layer_grads[id(layer)] = wg if prev is None else [a + b for a, b in zip(prev, wg)]
        if dx is not None and need_dx:
            key = id(xin)
            prev = pending.get(key)
            pending[key] = dx if prev is None else prev + dx
    return layer_grads


def _warn_every_time(message: str) -> None:
    """A RuntimeWarning attributed to the caller of model.fit, shown on every fit that stops (a plain
    warnings.warn is shown once per message and place: a second identical stop would be silent)."""
    try:
        frame = sys._getframe(3)  # _warn_every_time <- training.fit <- Model.fit <- the user's code
    except ValueError:  # a shallower stack (fit called directly from the top level)
        frame = sys._getframe(1)
    warnings.warn_explicit(message, RuntimeWarning, frame.f_code.co_filename, frame.f_lineno,
                           module=frame.f_globals.get("__name__"), registry={})


def _batches(n: int, batch_size: int):
    return [(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]


def _epoch_order(epoch: int, n: int) -> np.ndarray:
    """The shuffle of one epoch: a function of (global seed, epoch) when seeded, so resumed fits match."""
    if backend.seeded():
        return np.random.default_rng(backend.derived_seed(0x5AFF1E, epoch)).permutation(n)
    return backend.rng().permutation(n)


def fit(model, x, y, *, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
        validation_data=None, shuffle=True, initial_epoch=0, steps_per_epoch=None, class_weight=None,
        sample_weight=None, validation_batch_size=None, validation_freq=1):
    _require_compiled(model, "fit")
    for name, value in (("steps_per_epoch", steps_per_epoch), ("class_weight", class_weight),
                        ("sample_weight", sample_weight)):
        if value is not None:
            raise ValueError(f"fit: {name} is not supported")
    if validation_freq != 1:
        raise ValueError(f"fit: only validation_freq=1 is supported, got {validation_freq!r}")
    batch_size = check_int(32 if batch_size is None else batch_size, "batch_size", 1)
    val_batch = check_int(batch_size if validation_batch_size is None else validation_batch_size,
                          "validation_batch_size", 1)
    epochs = check_int(epochs, "epochs", 0)
    initial_epoch = check_int(initial_epoch, "initial_epoch", 0)
    verbose = verbosity(verbose)
    if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float)) or not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be a number in [0, 1), got {validation_split!r}")
    if callbacks is not None and not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a list of Callback instances, got {type(callbacks).__name__}")

    xs = as_inputs(model, x)
    n = len(xs)
    raw_y = as_array(y, "y") if y is not None else None
    if raw_y is not None and raw_y.ndim > 0 and len(raw_y) != n:
        raise ValueError(f"x and y must have the same number of samples: x has {n}, y has {len(raw_y)}")
    output_shape = _ensure_built(model, xs)
    ys = as_targets(model, y, n, output_shape)
    val = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data must be a tuple (x_val, y_val)")
        xv = as_inputs(model, validation_data[0], "validation x")
        val = (xv, as_targets(model, validation_data[1], len(xv), output_shape, "validation y"))
    elif validation_split:
        n_val = int(n * validation_split)
        if n_val == 0 or n_val == n:
            raise ValueError(f"validation_split={validation_split} leaves {n - n_val} training and {n_val} validation samples")
        val = (xs[n - n_val:], ys[n - n_val:])
        xs, ys, n = xs[:n - n_val], ys[:n - n_val], n - n_val

    metrics = _resolve_metrics(model, output_shape)
    plan = _Plan(model)
    history = callbacks_mod.History()
    cb_list = list(callbacks or [])
    if not any(isinstance(c, callbacks_mod.History) for c in cb_list):
        cb_list.append(history)  # last, as in Keras: it records what other callbacks add to the logs
    else:
        history = next(c for c in cb_list if isinstance(c, callbacks_mod.History))
    batches = _batches(n, batch_size)
    # "metrics": the keys every epoch's logs will hold (Keras 2's params), so callbacks can check
    # what they refer to before the first step.
    log_keys = ["loss"] + [m.name for m in metrics]
    if val is not None:
        log_keys += [f"val_{k}" for k in log_keys]
    cbs = callbacks_mod.CallbackList(cb_list, model, {"epochs": epochs, "steps": len(batches), "verbose": verbose,
                                                      "metrics": log_keys})
    model.stop_training = False
    model.history = history
    cbs.call("on_train_begin", {})
    logs: dict = {}
    for epoch in range(initial_epoch, epochs):
        cbs.call("on_epoch_begin", epoch, {})
        if shuffle and n > 1:
            order = _epoch_order(epoch, n)
            ex, ey = xs[order], ys[order]  # one gather per epoch; batches below are views
        else:
            ex, ey = xs, ys
        for m in metrics:
            m.reset_state()
        total, seen = 0.0, 0
        progress = Progress(verbose, len(batches), f"Epoch {epoch + 1}/{epochs}")

        def running_logs():
            out = {"loss": total / max(seen, 1)}
            out.update((m.name, m.result()) for m in metrics)
            return out

        for step, (s, e) in enumerate(batches):
            for cb in cbs.batch_begin:
                cb.on_train_batch_begin(step, {})
            xb, yb = ex[s:e], ey[s:e]
            loss, y_pred = _train_step(plan, xb, yb)
            if not math.isfinite(loss):
                _warn_every_time(
                    f"fit: the loss became {loss} at epoch {epoch + 1}, batch {step + 1}; training stopped "
                    "(the update was skipped). Lower the learning rate or check the data scale."
                )
                model.stop_training = True
                for cb in cbs.batch_end:
                    cb.on_train_batch_end(step, {"loss": loss})
                break
            nb = e - s
            total += loss * nb
            seen += nb
            for m in metrics:
                m.update_state(yb, y_pred)
            if cbs.batch_end:
                batch_logs = running_logs()
                for cb in cbs.batch_end:
                    cb.on_train_batch_end(step, batch_logs)
            progress.update(step + 1, running_logs)
            if model.stop_training:
                break
        logs = running_logs() if seen else {"loss": float("nan")}
        if val is not None and not (model.stop_training and not seen):
            cbs.call("on_test_begin", {})
            val_logs = _evaluate_arrays(model, val[0], val[1], val_batch, metrics_for_eval(model, output_shape),
                                        cbs=cbs)
            cbs.call("on_test_end", dict(val_logs))
            logs.update((f"val_{k}", v) for k, v in val_logs.items())
        progress.close(len(batches), logs)
        cbs.call("on_epoch_end", epoch, logs)
        if model.stop_training:
            break
    cbs.call("on_train_end", logs)
    return history


def metrics_for_eval(model, output_shape) -> list:
    """Fresh metric objects (so validation does not disturb the training metrics' state)."""
    out = []
    for spec, live in zip(model._metric_specs, _resolve_metrics(model, output_shape)):
        if isinstance(spec, str):
            out.append(metrics_mod.get(spec, model.loss.kind, output_shape))
        else:
            out.append(type(live).from_config(live.get_config()) if hasattr(type(live), "from_config") else live)
    return out


def _evaluate_arrays(model, x, y, batch_size, metrics, progress: Progress | None = None,
                     cbs: callbacks_mod.CallbackList | None = None) -> dict:
    for m in metrics:
        m.reset_state()
    total, seen = 0.0, 0
    call = _inference_fn(model)

    def running_logs():
        return {"loss": total / seen, **{m.name: m.result() for m in metrics}}

    for i, (s, e) in enumerate(_batches(len(x), batch_size)):
        if cbs is not None:
            for cb in cbs.test_batch_begin:
                cb.on_test_batch_begin(i, {})
        y_pred = call(x[s:e])
        yb = y[s:e]
        total += model.loss.forward(y_pred, yb) * (e - s)
        seen += e - s
        for m in metrics:
            m.update_state(yb, y_pred)
        if cbs is not None and cbs.test_batch_end:
            batch_logs = running_logs()
            for cb in cbs.test_batch_end:
                cb.on_test_batch_end(i, batch_logs)
        if progress is not None:
            progress.update(i + 1, running_logs)
    logs = {"loss": total / seen}
    logs.update((m.name, m.result()) for m in metrics)
    return logs


def _inference_fn(model):
    """Forward in inference mode: the Rust layer chain directly for Sequential, else model.__call__."""
    chain = model.kernel_chain() if hasattr(model, "kernel_chain") else None
    if chain is None:
        return lambda xb: model(xb, training=False)

    def run(xb):
        h = xb
        for layer in chain:
            h = layer.forward(h, False)[0]
        return h
    return run


def evaluate(model, x, y, *, batch_size=None, verbose="auto", return_dict=False, steps=None,
             callbacks=None, sample_weight=None):
    _require_compiled(model, "evaluate")
    if sample_weight is not None or steps is not None:
        raise ValueError("evaluate: sample_weight and steps are not supported")
    model._require_built("evaluate")
    batch_size = check_int(32 if batch_size is None else batch_size, "batch_size", 1)
    verbose = verbosity(verbose)
    xs = as_inputs(model, x)
    output_shape = _ensure_built(model, xs)
    ys = as_targets(model, y, len(xs), output_shape)
    metrics = _resolve_metrics(model, output_shape)
    steps_total = len(_batches(len(xs), batch_size))
    cbs = callbacks_mod.callback_list(callbacks, model, {"verbose": verbose, "steps": steps_total})
    progress = Progress(verbose, steps_total, "Evaluate")
    cbs.call("on_test_begin", {})
    logs = _evaluate_arrays(model, xs, ys, batch_size, metrics, progress, cbs)
    progress.close(steps_total, logs)
    cbs.call("on_test_end", dict(logs))
    if return_dict:
        return logs
    return logs["loss"] if len(logs) == 1 else list(logs.values())


def predict(model, x, *, batch_size=None, verbose="auto", steps=None, callbacks=None) -> np.ndarray:
    model._require_built("predict")
    if steps is not None:
        raise ValueError("predict: steps is not supported (x is an array: every sample is predicted)")
    batch_size = check_int(32 if batch_size is None else batch_size, "batch_size", 1)
    verbose = verbosity(verbose)
    xs = as_inputs(model, x)
    call = _inference_fn(model)
    batches = _batches(len(xs), batch_size)
    cbs = callbacks_mod.callback_list(callbacks, model, {"verbose": verbose, "steps": len(batches)})
    progress = Progress(verbose if len(batches) > 1 else 0, len(batches), "Predict")
    cbs.call("on_predict_begin", {})
    out = None
    for i, (s, e) in enumerate(batches):
        for cb in cbs.predict_batch_begin:
            cb.on_predict_batch_begin(i, {})
        yb = call(xs[s:e])
        if out is None:
            out = np.empty((len(xs),) + yb.shape[1:], np.float32)
        out[s:e] = yb
        for cb in cbs.predict_batch_end:
            cb.on_predict_batch_end(i, {"outputs": yb})
        progress.update(i + 1, dict)
    progress.close(len(batches), {})
    cbs.call("on_predict_end", {})
    return out


def _logs_result(logs: dict, return_dict: bool):
    if return_dict:
        return logs
    return logs["loss"] if len(logs) == 1 else list(logs.values())


def train_on_batch(model, x, y, return_dict=False):
    """One optimizer step on (x, y); returns the batch loss (and metrics) as Keras."""
    _require_compiled(model, "train_on_batch")
    xs = as_inputs(model, x)
    output_shape = _ensure_built(model, xs)
    ys = as_targets(model, y, len(xs), output_shape)
    metrics = _resolve_metrics(model, output_shape)
    loss, y_pred = _train_step(_Plan(model), xs, ys)
    logs = {"loss": float(loss)}
    for m in metrics:
        m.reset_state()
        m.update_state(ys, y_pred)
        logs[m.name] = m.result()
    return _logs_result(logs, return_dict)


def test_on_batch(model, x, y, return_dict=False):
    _require_compiled(model, "test_on_batch")
    model._require_built("test_on_batch")
    xs = as_inputs(model, x)
    output_shape = _ensure_built(model, xs)
    ys = as_targets(model, y, len(xs), output_shape)
    logs = _evaluate_arrays(model, xs, ys, max(1, len(xs)), _resolve_metrics(model, output_shape))
    return _logs_result(logs, return_dict)
