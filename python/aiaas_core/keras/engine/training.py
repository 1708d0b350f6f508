"""The loops of fit / evaluate / predict over the model's train_step / test_step / predict_step
(engine/trainer.py), and the fused step a Sequential of built-in layers takes instead: the Rust
chain forward, the loss fused with softmax/sigmoid when possible, the chain backward, one optimizer
call. Validation runs once per epoch."""

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
from ...ops import autodiff
from ...ops.symbolic import flatten
from ...ops.tensor import as_tensor_value
from .. import losses as losses_mod
from ..layers.base import structure_changed, structure_version
from .trace import layer_chain
from ..layers.base import _takes_training
from .data_adapter import RAN_OUT_MESSAGE, ArrayBatches, is_batched_source, make_batches, take
from .data_checks import as_array, as_inputs, as_targets, check_int, verbosity
from .progress import Progress
from .trainer import CompiledMetrics, Trainer, as_numpy_logs


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
        self.chain = fused_chain(model)
        kind = model.loss.kind
        self.fuse_activation = None if model.loss.from_logits else FUSABLE_ACTIVATION.get(kind)
        self.loss = model.loss
        self.base_seed = backend.derived_seed(0x5EED)


def _step_data(batch):
    """What a step receives, as Keras packs it: x alone when there are no targets or weights (a
    GAN's `train_step(real_images)` gets the image batch, not a 1-tuple), else the tuple."""
    if isinstance(batch, tuple) and len(batch) == 1 and not isinstance(batch[0], (tuple, list)):
        return batch[0]  # several inputs stay in their 1-tuple, (x,), as Keras's pack_x_y_sample_weight
    return batch


def _without_call(model) -> bool:
    """A model that defines no call() (Keras builds it at creation: its train_step drives sub-models
    that are built already), so fit never calls it to build it."""
    return getattr(type(model).call, "_undefined", False)


def _ensure_built(model, x: np.ndarray) -> tuple:
    """Build on the first sample if needed; return the model's output shape (batch axis None)."""
    if _without_call(model):
        return None
    metrics_unbuilt = _metrics_unbuilt(model)
    if not model.built or model._output_shape is None or metrics_unbuilt:
        saved = backend.state.call_log
        backend.state.call_log = None
        try:
            with autodiff.no_recording():
                out = model(x[:1], training=False)
        finally:
            backend.state.call_log = saved
        if metrics_unbuilt:
            model.compiled_metrics.build(out)
        if not hasattr(out, "shape") or isinstance(out, (list, tuple, dict)):
            return None  # several outputs: their targets are checked by the losses
        model._output_shape = (None,) + tuple(out.shape[1:])
    return model._output_shape


def _require_compiled(model, what: str) -> None:
    if not model.compiled:
        raise ValueError(f"{what}: compile the model first (model.compile(optimizer, loss, metrics))")


def _forward_recorded(plan: _Plan, x: np.ndarray):
    """(y_pred, entries) with entries (layer, ctx, x, y) in chain order."""
    entries = []
    h = x
    for layer in plan.chain:
        out, ctx = layer.forward(h, True)
        entries.append((layer, ctx, h, out))
        h = out
    return h, entries


def _train_step(plan: _Plan, x: np.ndarray, y: np.ndarray):
    """The fused step of a Sequential of built-in layers: forward through the Rust chain, the loss
    (fused with softmax/sigmoid when possible), the chain's backward, one optimizer call.
    Returns (loss, y_pred); a non-finite loss skips the update."""
    model = plan.model
    backend.state.step_seed = (plan.base_seed + 1000003 * model.optimizer.iterations) % (2**31)
    backend.state.step_calls = 0
    try:
        y_pred, entries = _forward_recorded(plan, x)
    finally:
        backend.state.step_seed = None
    last_layer, last_ctx, _, _ = entries[-1]
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
    layer_grads = _backward(entries, grad, logits is not None)
    grads = []
    for layer, zeros in plan.train_layers:
        g = layer_grads.get(id(layer))
        grads.extend(g if g is not None else [z.copy() for z in zeros])
    model.optimizer._apply_arrays(grads, plan.params)
    return loss, y_pred


def _backward(entries, grad, fused_last: bool) -> dict:
    """The chain's backward in reverse; returns {id(layer): [grad per trainable weight]}."""
    layer_grads: dict[int, list] = {}
    last = len(entries) - 1
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


def _warn_every_time(message: str, category=RuntimeWarning) -> None:
    """A warning attributed to the caller of model.fit, shown on every fit that stops (a plain
    warnings.warn is shown once per message and place: a second identical stop would be silent)."""
    try:
        frame = sys._getframe(3)  # _warn_every_time <- training.fit <- Model.fit <- the user's code
    except ValueError:  # a shallower stack (fit called directly from the top level)
        frame = sys._getframe(1)
    warnings.warn_explicit(message, category, frame.f_code.co_filename, frame.f_lineno,
                           module=frame.f_globals.get("__name__"), registry={})


def fused_chain(model):
    """The built-in layers the model applies one after another, if that is all its call does: a
    Sequential of built-in layers, or a subclassed model whose call() is such a chain (the seeds'
    ConvNet, RNN and autoencoder: found by tracing it once per structure). None otherwise."""
    if hasattr(model, "kernel_chain"):
        chain = model.kernel_chain()
        if chain and any(layer._regularized for layer in chain):
            return None  # penalties are losses the fused step would not see: the tape adds them
        return chain
    if type(model).__name__ == "Functional" or not model.built or model._build_input_shape is None:
        return None
    if _takes_training(type(model)):
        return None  # call() may branch on `training`: a trace in inference mode would not show it
    cached = model.__dict__.get("_fused_chain")
    version = structure_version()
    if cached is not None and cached[0] == version:
        return cached[1]
    try:
        chain = layer_chain(model)
    except (NotImplementedError, ValueError, TypeError):
        chain = None
    if chain is not None and (model.losses or any(layer.losses or layer._regularized for layer in chain)):
        chain = None  # a layer adds a loss in call(): the fused step would not see it
    if chain is not None:
        tracked = {id(layer) for layer in model._leaf_layers()}
        if any(id(layer) not in tracked for layer in chain):
            chain = None  # a layer the model does not track: the general step names it
    model.__dict__["_fused_chain"] = (version, chain)
    return chain


def _fast_path(model) -> bool:
    """Whether the fused Rust chain can run the steps: a chain of built-in layers (fused_chain),
    the default steps, one compiled built-in loss."""
    cls = type(model)
    if not (cls.train_step is Trainer.train_step and cls.test_step is Trainer.test_step
            and cls.compute_loss is Trainer.compute_loss and isinstance(model.loss, losses_mod.Loss)):
        return False
    chain = fused_chain(model)
    if not chain:
        return False
    return (cls.train_step is Trainer.train_step and cls.test_step is Trainer.test_step
            and cls.compute_loss is Trainer.compute_loss and isinstance(model.loss, losses_mod.Loss)
            and model.loss._uses_kernel())


def _fused_batch(model, batch):
    """A dataset / generator batch as the fused step takes it, (x, y) checked and converted as
    arrays are (float32 inputs, targets shaped like the output), or None when this batch needs
    the general train_step (several inputs, no targets, sample weights)."""
    if len(batch) != 2 or batch[1] is None or not isinstance(batch[0], np.ndarray):
        return None
    xb = as_inputs(model, batch[0], "x (a batch of the training data)")
    output_shape = _ensure_built(model, xb)
    if not (isinstance(output_shape, tuple) and all(isinstance(d, (int, type(None))) for d in output_shape)):
        return None
    return xb, as_targets(model, batch[1], len(xb), output_shape, "y (a batch of the training data)")


def _build_on_batch(model, x) -> None:
    """Build a model on the first sample of a source's first batch, outside the step's tape (arrays
    build in _prepare): weights created while the tape records would not be among the variables
    train_step asked gradients for."""
    if _without_call(model):
        return
    saved = backend.state.call_log
    backend.state.call_log = None
    try:
        with autodiff.no_recording():
            out = model(take(x, slice(0, 1)), training=False)
    finally:
        backend.state.call_log = saved
    if _metrics_unbuilt(model):
        model.compiled_metrics.build(out)


def _metrics_unbuilt(model) -> bool:
    """The compiled metrics exist once the outputs are known; fit and evaluate create them before
    the first step, so a custom train_step looping over `self.metrics` sees them from the start."""
    cm = model.__dict__.get("compiled_metrics")
    return isinstance(cm, CompiledMetrics) and not cm.built and bool(model.__dict__.get("_metric_specs"))


def _single_array(x, model=None) -> bool:
    """Whether `x` is one array for the model. Lists / tuples / dicts are several inputs only for
    a model that takes several (a functional model with several inputs, or a subclassed model
    whose call reads a structure); for a Sequential they are one array, checked as such."""
    if is_batched_source(x):
        return False
    if model is not None and _takes_one_input(model):
        return True
    return not isinstance(x, dict) and not (isinstance(x, (list, tuple)) and x and not _is_nested_numbers(x))


def _takes_one_input(model) -> bool:
    from .sequential import Sequential
    if isinstance(model, Sequential):
        return True
    inputs = model.__dict__.get("_input_struct")
    return inputs is not None and not isinstance(inputs, (list, tuple, dict))


def _is_nested_numbers(x) -> bool:
    first = x[0]
    while isinstance(first, (list, tuple)) and first:
        first = first[0]
    return isinstance(first, (int, float, bool, np.number))


def _prepare(model, x, y, sample_weight, what="x", y_what="y"):
    """Validated arrays for single-input models with a compiled loss: (x, y) with the shape checks
    and messages of data_checks; otherwise the data as given (checked by make_batches)."""
    if _single_array(x, model) and isinstance(model.loss, losses_mod.Loss) and (y is not None or sample_weight is None):
        xs = as_inputs(model, x, what)
        if y is None:
            return xs, None
        raw_y = as_array(y, y_what)
        if raw_y.ndim > 0 and len(raw_y) != len(xs):
            raise ValueError(f"{what} and {y_what} must have the same number of samples: {what} has {len(xs)}, "
                             f"{y_what} has {len(raw_y)}")
        output_shape = _ensure_built(model, xs)
        if isinstance(output_shape, tuple) and all(isinstance(d, (int, type(None))) for d in output_shape):
            return xs, as_targets(model, y, len(xs), output_shape, y_what)
        return xs, raw_y
    if _single_array(x, model):
        return as_inputs(model, x, what), y
    return x, y


def check_class_weight(class_weight) -> dict:
    """`fit(class_weight=...)`: a dict of class index (int) -> weight (a finite number >= 0)."""
    if not isinstance(class_weight, dict):
        raise TypeError(f"fit: class_weight must be a dict of class index -> weight, got {type(class_weight).__name__}")
    out = {}
    for key, value in class_weight.items():
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or key < 0:
            raise ValueError(f"fit: class_weight keys must be class indices (ints >= 0), got {key!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not math.isfinite(value) or value < 0:
            raise ValueError(f"fit: class_weight[{key}] must be a finite number >= 0, got {value!r}")
        out[int(key)] = float(value)
    return out


def class_sample_weights(y, class_weight: dict, sample_weight=None) -> np.ndarray:
    """One weight per sample from its class (Keras 3: the argmax of one-hot targets, else the rounded
    label; classes missing from the dict weigh 1), times `sample_weight` when given."""
    if y is None or isinstance(y, (list, tuple, dict)):
        raise ValueError("fit: class_weight is only supported for models with a single output and array targets")
    labels = np.asarray(y)
    if labels.dtype.kind not in "biuf":
        raise TypeError(f"fit: class_weight needs numeric targets, got dtype {labels.dtype}")
    if labels.ndim > 1:
        labels = labels.argmax(-1) if labels.shape[-1] != 1 else labels[..., 0]
    if labels.ndim != 1:
        raise ValueError(f"fit: class_weight needs one class per sample, got targets of shape {np.shape(y)}")
    ids = np.round(labels).astype(np.int64)
    lookup = np.ones(max(int(ids.max(initial=0)), max(class_weight, default=0)) + 1, np.float32)
    for key, value in class_weight.items():
        lookup[key] = value
    weights = lookup[np.clip(ids, 0, None)]
    weights[ids < 0] = 1.0
    if sample_weight is not None:
        sw = np.asarray(sample_weight, np.float32)
        if sw.shape[:1] != weights.shape:
            raise ValueError(f"fit: sample_weight has {sw.shape[:1]} entries for {weights.shape[0]} samples")
        weights = sw * weights.reshape((-1,) + (1,) * (sw.ndim - 1))
    return weights


def _weigh_source_batches(data, class_weight: dict) -> None:
    """A dataset's or generator's batches (x, y[, w]) become (x, y, w * class weight of y), as Keras
    applies class_weight batch by batch."""
    epoch = data.epoch

    def weighted(number):
        for batch in epoch(number):
            if len(batch) < 2 or batch[1] is None:
                raise ValueError("fit: class_weight needs targets: the dataset must yield (x, y) batches")
            yield (batch[0], batch[1], class_sample_weights(batch[1], class_weight,
                                                            batch[2] if len(batch) > 2 else None))
    data.epoch = weighted


def fit(model, x=None, y=None, *, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
        validation_data=None, shuffle=True, initial_epoch=0, steps_per_epoch=None, class_weight=None,
        sample_weight=None, validation_batch_size=None, validation_freq=1, validation_steps=None):
    _require_compiled(model, "fit")
    structure_changed()  # layers appended in place to a tracked list since the last walk are seen
    if class_weight is not None:
        class_weight = check_class_weight(class_weight)
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

    x, y = _prepare(model, x, y, sample_weight)
    val = None
    if validation_data is not None:
        if is_batched_source(validation_data):
            val = make_batches(validation_data, steps=validation_steps, what="validation_data")
        else:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight), "
                                 "or a dataset")
            xv, yv = _prepare(model, validation_data[0], validation_data[1], None, "validation x", "validation y")
            wv = validation_data[2] if len(validation_data) == 3 else None
            val = make_batches(xv, yv, wv, batch_size=val_batch, what="validation x")
    elif validation_split:
        if is_batched_source(x):
            raise ValueError("validation_split is only supported for arrays: a dataset, generator or PyDataset "
                             "cannot be split; pass validation_data (a dataset of (x, y) batches) instead")
        n = len(flatten(x)[0])
        n_val = n - int(math.floor(n * (1.0 - validation_split)))  # Keras 3's split point
        if n_val == 0 or n_val == n:
            raise ValueError(f"validation_split={validation_split} leaves {n - n_val} training and {n_val} validation samples")
        cut = slice(n - n_val, n)
        val = make_batches(take(x, cut), take(y, cut), take(sample_weight, cut), batch_size=val_batch,
                           what="validation x")
        keep = slice(0, n - n_val)
        x, y, sample_weight = take(x, keep), take(y, keep), take(sample_weight, keep)
    if class_weight is not None and not is_batched_source(x):
        # training samples only, after the validation split (as Keras)
        sample_weight = class_sample_weights(y, class_weight, sample_weight)
    data = make_batches(x, y, sample_weight, batch_size=batch_size, shuffle=bool(shuffle), steps=steps_per_epoch)
    if class_weight is not None and not isinstance(data, ArrayBatches):
        _weigh_source_batches(data, class_weight)
    from_source = not isinstance(data, ArrayBatches)
    # A source's model may be built only by its first batch: the step is chosen there (None until then).
    fast = None if from_source else (_fast_path(model) and sample_weight is None and y is not None)
    plan = _Plan(model) if fast else None
    base_seed = plan.base_seed if plan is not None else backend.derived_seed(0x5EED)

    history = callbacks_mod.History()
    cb_list = list(callbacks or [])
    if not any(isinstance(c, callbacks_mod.History) for c in cb_list):
        cb_list.append(history)  # last, as in Keras: it records what other callbacks add to the logs
    else:
        history = next(c for c in cb_list if isinstance(c, callbacks_mod.History))
    steps = data.steps
    # "metrics": the keys every epoch's logs will hold (Keras 2's params), so callbacks can check
    # what they refer to before the first step.
    log_keys = ["loss"] + [m if isinstance(m, str) else getattr(m, "name", "metric")
                           for m in _flat_specs(model._metric_specs)]
    if val is not None:
        log_keys += [f"val_{k}" for k in log_keys]
    cbs = callbacks_mod.CallbackList(cb_list, model, {"epochs": epochs, "steps": steps, "verbose": verbose,
                                                      "metrics": log_keys})
    model.stop_training = False
    model.history = history
    cbs.call("on_train_begin", {})
    logs: dict = {}
    for epoch in range(initial_epoch, epochs):
        cbs.call("on_epoch_begin", epoch, {})
        model.reset_metrics()
        progress = Progress(verbose, steps, f"Epoch {epoch + 1}/{epochs}")
        step_logs: dict = {}
        seen = 0
        for step, batch in enumerate(data.epoch(epoch)):
            for cb in cbs.batch_begin:
                cb.on_train_batch_begin(step, {})
            if fast is None:
                if not model.built or _metrics_unbuilt(model):
                    _build_on_batch(model, batch[0])
                fast = _fast_path(model)
            fused = (batch if not from_source else _fused_batch(model, batch)) if fast else None
            if fused is not None:
                xb, yb = fused[0], fused[1]
                if plan is None:
                    plan = _Plan(model)
                    plan.base_seed = base_seed
                loss, y_pred = _train_step(plan, xb, yb)
                loss = float(np.float32(loss))  # float32 like the loss tensor of the general step
                if math.isfinite(loss):
                    model._loss_tracker.update_state(loss, sample_weight=len(xb))
                    model._resolve_metrics(y_pred).update_state(yb, y_pred)
            else:
                model._last_loss = None
                # dropout masks depend on (seed, step) alone, as in the fused path: resumed fits match
                st = backend.state
                st.step_seed = (base_seed + 1000003 * model.optimizer.iterations) % (2**31)
                st.step_calls = 0
                try:
                    step_logs = model.train_step(_step_data(batch))
                finally:
                    st.step_seed = None
                loss = model.__dict__.get("_last_loss")
                if loss is None:
                    loss = _loss_from_logs(step_logs)
            if loss is not None and not math.isfinite(loss):
                _warn_every_time(
                    f"fit: the loss became {loss} at epoch {epoch + 1}, batch {step + 1}; training stopped "
                    "(the update was skipped). Lower the learning rate or check the data scale."
                )
                model.stop_training = True
                for cb in cbs.batch_end:
                    cb.on_train_batch_end(step, {"loss": loss})
                break
            seen += 1

            def running_logs(step_logs=step_logs):
                return as_numpy_logs(model.get_metrics_result() if fast else step_logs)

            if cbs.batch_end:
                batch_logs = running_logs()
                for cb in cbs.batch_end:
                    cb.on_train_batch_end(step, batch_logs)
            progress.update(step + 1, running_logs)
            if model.stop_training:
                break
        if seen:
            logs = as_numpy_logs(model.get_metrics_result() if fast else step_logs)
        else:
            logs = {"loss": float("nan")}
            if not model.stop_training and epoch == initial_epoch:
                raise ValueError(f"fit: the training data yielded no batches: {_why_no_batches(data)}")
        if getattr(data, "ran_out", False):
            # Keras's behaviour: warn, finish this (short) epoch, train no further.
            _warn_every_time(f"fit: {RAN_OUT_MESSAGE} (epoch {epoch + 1} got {seen} batches)", UserWarning)
            model.stop_training = True
            if not seen:  # nothing trained in this epoch: it leaves no record
                progress.close(0, {})
                break
        if val is not None and not (model.stop_training and not seen):
            cbs.call("on_test_begin", {})
            val_logs = _run_evaluation(model, val, cbs=cbs)
            cbs.call("on_test_end", dict(val_logs))
            logs.update((f"val_{k}", v) for k, v in val_logs.items())
        progress.close(seen, logs)
        cbs.call("on_epoch_end", epoch, logs)
        if model.stop_training:
            break
    if getattr(model.optimizer, "use_ema", False) and epochs > initial_epoch:
        # Keras 3: with use_ema the trained weights become their moving averages at the end of fit
        model.optimizer.finalize_variable_values(model.trainable_variables)
    cbs.call("on_train_end", logs)
    return history


def _flat_specs(specs) -> list:
    if isinstance(specs, dict):
        return [m for group in specs.values() for m in group]
    if specs and isinstance(specs[0], list):
        return [m for group in specs for m in group]
    return list(specs)


def _loss_from_logs(logs) -> float | None:
    value = logs.get("loss") if isinstance(logs, dict) else None
    try:
        return None if value is None else float(as_tensor_value(value))
    except (TypeError, ValueError):
        return None


def _run_evaluation(model, batches, progress: Progress | None = None,
                    cbs: callbacks_mod.CallbackList | None = None) -> dict:
    """Run test_step over every batch (the fused chain when the steps are the defaults); logs."""
    model.reset_metrics()
    fast = _fast_path(model) and isinstance(batches, ArrayBatches) and batches.y is not None \
        and batches.sample_weight is None
    call = _inference_fn(model) if fast else None
    logs: dict = {}
    seen = 0
    for i, batch in enumerate(batches.epoch(0)):
        if cbs is not None:
            for cb in cbs.test_batch_begin:
                cb.on_test_batch_begin(i, {})
        if i == 0 and not fast and (not model.built or _metrics_unbuilt(model)):
            _build_on_batch(model, batch[0])
        if fast:
            xb, yb = batch[0], batch[1]
            y_pred = call(xb)
            model._loss_tracker.update_state(model.loss.forward(y_pred, yb), sample_weight=len(xb))
            model._resolve_metrics(y_pred).update_state(yb, y_pred)
        else:
            logs = model.test_step(_step_data(batch))
        seen += 1

        def running_logs(logs=logs):
            return as_numpy_logs(model.get_metrics_result() if fast else logs)

        if cbs is not None and cbs.test_batch_end:
            batch_logs = running_logs()
            for cb in cbs.test_batch_end:
                cb.on_test_batch_end(i, batch_logs)
        if progress is not None:
            progress.update(i + 1, running_logs)
    if not seen:
        raise ValueError(f"evaluate: the data yielded no batches: {_why_no_batches(batches)}")
    if getattr(batches, "ran_out", False):
        warnings.warn(f"evaluate: the data ran out after {seen} of the {batches.limit} steps asked for; the results "
                      "cover those batches", UserWarning, stacklevel=3)
    return as_numpy_logs(model.get_metrics_result() if fast else logs)


def _why_no_batches(batches) -> str:
    describe = getattr(batches, "no_batches_message", None)
    return describe() if describe is not None else "the data is empty"


def _inference_fn(model):
    """Forward in inference mode: the Rust layer chain directly when the model is one (fused_chain),
    else model.__call__."""
    chain = fused_chain(model)
    if chain is None:
        return lambda xb: model(xb, training=False)

    def run(xb):
        h = xb
        for layer in chain:
            h = layer.forward(h, False)[0]
        return h
    return run


def evaluate(model, x=None, y=None, *, batch_size=None, verbose="auto", return_dict=False, steps=None,
             callbacks=None, sample_weight=None):
    _require_compiled(model, "evaluate")  # an unbuilt model is built on the first batch, as Keras
    batch_size = check_int(32 if batch_size is None else batch_size, "batch_size", 1)
    verbose = verbosity(verbose)
    x, y = _prepare(model, x, y, sample_weight)
    batches = make_batches(x, y, sample_weight, batch_size=batch_size, steps=steps)
    steps_total = batches.steps
    cbs = callbacks_mod.callback_list(callbacks, model, {"verbose": verbose, "steps": steps_total})
    progress = Progress(verbose, steps_total, "Evaluate")
    cbs.call("on_test_begin", {})
    logs = _run_evaluation(model, batches, progress, cbs)
    progress.close(steps_total or 0, logs)
    cbs.call("on_test_end", dict(logs))
    return _logs_result(logs, return_dict)


def predict(model, x, *, batch_size=None, verbose="auto", steps=None, callbacks=None, _one_batch=False):
    """Outputs as numpy arrays (a list / dict of them for several outputs), batch by batch. An
    unbuilt model is built on the first sample (arrays) or by its first predict_step, as Keras."""
    verbose = verbosity(verbose)
    if _single_array(x, model):
        xs = as_inputs(model, x)
        if not model.built:
            _ensure_built(model, xs)
        if _one_batch:
            batch_size = max(1, len(xs))
        batches = make_batches(xs, batch_size=check_int(32 if batch_size is None else batch_size, "batch_size", 1),
                               steps=steps)
    else:
        if _one_batch and not is_batched_source(x):
            batch_size = max(1, len(flatten(x)[0]))
        batches = make_batches(x, batch_size=batch_size, steps=steps)
    model_steps = batches.steps
    fast = type(model).predict_step is Trainer.predict_step and isinstance(batches, ArrayBatches)
    call = _inference_fn(model) if fast else None
    cbs = callbacks_mod.callback_list(callbacks, model, {"verbose": verbose, "steps": model_steps})
    progress = Progress(verbose if (model_steps or 2) > 1 else 0, model_steps, "Predict")
    cbs.call("on_predict_begin", {})
    outs = []
    out = None
    n = batches.n if isinstance(batches, ArrayBatches) else None
    offset = 0
    for i, batch in enumerate(batches.epoch(0)):
        for cb in cbs.predict_batch_begin:
            cb.on_predict_batch_begin(i, {})
        yb = call(batch[0]) if fast else model.predict_step(_step_data(batch))
        if n is not None and isinstance(yb, np.ndarray) and not isinstance(yb, (list, tuple, dict)):
            if out is None:
                out = np.empty((n,) + tuple(yb.shape[1:]), yb.dtype)
            out[offset:offset + len(yb)] = yb
            offset += len(yb)
        else:
            outs.append(yb)
        for cb in cbs.predict_batch_end:
            cb.on_predict_batch_end(i, {"outputs": yb})
        progress.update(i + 1, dict)
    progress.close(i + 1 if (out is not None or outs) else 0, {})
    cbs.call("on_predict_end", {})
    if out is not None:
        return out
    if not outs:
        raise ValueError(f"predict: the data yielded no batches: {_why_no_batches(batches)}")
    if getattr(batches, "ran_out", False):
        warnings.warn(f"predict: the data ran out after {len(outs)} of the {batches.limit} steps asked for; the "
                      "outputs cover those batches", UserWarning, stacklevel=3)
    return _concat_outputs(outs)


def _concat_outputs(outs):
    first = outs[0]
    if isinstance(first, dict):
        return {k: np.concatenate([np.asarray(o[k]) for o in outs]) for k in first}
    if isinstance(first, (list, tuple)):
        return [np.concatenate([np.asarray(o[i]) for o in outs]) for i in range(len(first))]
    return np.concatenate([np.asarray(o) for o in outs])


def _logs_result(logs: dict, return_dict: bool):
    if return_dict:
        return logs
    return logs["loss"] if len(logs) == 1 else list(logs.values())


def train_on_batch(model, x, y=None, return_dict=False):
    """One optimizer step on (x, y); returns the batch loss (and metrics) as Keras."""
    _require_compiled(model, "train_on_batch")
    x, y = _prepare(model, x, y, None)
    model.reset_metrics()
    if _fast_path(model) and y is not None and isinstance(x, np.ndarray):
        loss, y_pred = _train_step(_Plan(model), x, y)
        model._loss_tracker.update_state(loss, sample_weight=len(x))
        model._resolve_metrics(y_pred).update_state(y, y_pred)
        logs = as_numpy_logs(model.get_metrics_result())
    else:
        logs = as_numpy_logs(model.train_step((x,) if y is None else (x, y)))
    return _logs_result(logs, return_dict)


def test_on_batch(model, x, y=None, return_dict=False):
    _require_compiled(model, "test_on_batch")
    model._require_built("test_on_batch")
    x, y = _prepare(model, x, y, None)
    n = len(flatten(x)[0])
    logs = _run_evaluation(model, make_batches(x, y, batch_size=max(1, n)))
    return _logs_result(logs, return_dict)
