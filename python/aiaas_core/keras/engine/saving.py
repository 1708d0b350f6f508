"""Saving without pickle: one zip holding config.json (architecture, compile settings,
preprocessing), model.weights.safetensors and optimizer.safetensors; configs are validated data."""

from __future__ import annotations

import io
import json
import os
import zipfile
from typing import Any

import numpy as np
import safetensors.numpy as st

from ..layers import LAYER_CLASSES
from ..layers.base import InputLayer, Layer, claim_unique_name, structure_changed
# The module, not its names: it imports this module too (its configs nest Sequential ones).
from . import functional_config as _functional

FORMAT_VERSION = 1
MEMBERS = ("config.json", "model.weights.safetensors", "optimizer.safetensors")
MAX_LAYERS = 1000
MAX_NESTING = 8  # Sequential inside Sequential, levels deep
MAX_PARAMS = 100_000_000  # 400 MB of float32: a config asking for more is refused before allocating
MAX_CONFIG_BYTES = 10 * 1024 * 1024
# The largest members a valid file can hold (MAX_PARAMS float32 weights, at most 4 optimizer slots (Adam amsgrad with EMA)
# per weight, plus safetensors headers): a bigger declared size is a hostile file (a zip bomb).
_HEADER_BYTES = 16 * 1024 * 1024
MAX_WEIGHTS_BYTES = MAX_PARAMS * 4 + _HEADER_BYTES
MAX_OPTIMIZER_BYTES = 4 * MAX_PARAMS * 4 + _HEADER_BYTES


# ---- architecture <-> config --------------------------------------------------------------
def sequential_config(model) -> dict:
    """Keras-style {"name", "layers": [InputLayer, ...], "build_input_shape"}."""
    if model._build_input_shape is None:
        raise ValueError(f"model {model.name!r} has no input shape yet: build it (or fit) before saving")
    layers = [{"class_name": "InputLayer",
               "config": {"name": model._input_layer.name if model._input_layer else f"{model.name}_input",
                          "batch_shape": list(model._build_input_shape), "dtype": "float32"}}]
    from .sequential import Sequential
    for layer in model.layers:
        if type(layer) is Sequential:  # a nested Sequential (a feature extractor and a head): its own config
            layers.append({"class_name": "Sequential", "config": sequential_config(layer)})
            continue
        if type(layer).__name__ not in LAYER_CLASSES or type(layer) is not LAYER_CLASSES[type(layer).__name__]:
            raise NotImplementedError(
                f"layer {layer.name!r} ({type(layer).__name__}) is not a built-in layer and cannot be saved in a "
                "config; use save_weights"
            )
        layers.append({"class_name": type(layer).__name__, "config": layer.get_config()})
    return {"name": model.name, "trainable": model.trainable, "layers": layers,
            "build_input_shape": list(model._build_input_shape)}


def model_config(model) -> dict:
    from .sequential import Sequential
    if type(model) is _functional.Functional:
        return {"class_name": "Functional", "config": _functional.functional_config(model)}
    if not isinstance(model, Sequential):
        raise NotImplementedError(
            f"{type(model).__name__} is a subclassed model: its architecture is Python code, not a config. "
            "Use model.save_weights(path) and rebuild the class in code."
        )
    return {"class_name": "Sequential", "config": sequential_config(model)}


def clone_model(model, input_tensors=None, clone_function=None, custom_objects=None):
    """Keras's clone_model: a new model of the same architecture with freshly initialized weights
    (not compiled). Sequential and functional models (the same graph, new layers); a subclassed
    model's architecture is its Python class. A functional model holding user layers needs them
    registered or in `custom_objects`."""
    from .sequential import Sequential
    if input_tensors is not None or clone_function is not None:
        raise ValueError("clone_model: input_tensors and clone_function are not supported")
    if type(model) is _functional.Functional:
        return _functional.functional_from_config(_functional.functional_config(model), custom_objects)
    if not isinstance(model, Sequential):
        raise ValueError(
            f"clone_model takes a Sequential or functional model; {type(model).__name__} is subclassed: create a new "
            f"{type(model).__name__}() instead"
        )
    return model_from_config(model_config(model))


def model_to_json(model, **kwargs) -> str:
    return json.dumps(model_config(model), **kwargs)


def _input_shape_of(first: dict, layer_cfg: dict | None) -> tuple | None:
    for key in ("batch_shape", "batch_input_shape"):
        if first.get(key) is not None:
            return tuple(first[key])
    if first.get("shape") is not None:
        return (None,) + tuple(first["shape"])
    if layer_cfg is not None:
        if layer_cfg.get("batch_input_shape") is not None:
            return tuple(layer_cfg["batch_input_shape"])
        if layer_cfg.get("input_shape") is not None:
            return (None,) + tuple(layer_cfg["input_shape"])
        if layer_cfg.get("input_dim") is not None:
            return (None, layer_cfg["input_dim"])
    return None


def model_from_config(config: Any, custom_objects=None):
    """A built Sequential from a Keras-style config dict. Every field is checked: an unknown
    class_name, a bad argument or a missing input shape is a ValueError naming the layer and field.
    A layer may itself be a Sequential config (nested at most MAX_NESTING deep; MAX_LAYERS in all).
    A "Functional" config (Keras 3's layout: layers with their inbound nodes) gives a functional
    model; its user layers load from `custom_objects` or the register_keras_serializable registry."""
    if isinstance(config, dict) and config.get("class_name") in ("Functional", "Model"):
        if set(config) - {"class_name", "config", "module", "registered_name", "build_config", "compile_config"}:
            raise ValueError(f"model config: unknown field(s) {sorted(set(config) - {'class_name', 'config'})}")
        return _functional.functional_from_config(config.get("config"), custom_objects)
    if custom_objects:
        raise ValueError("custom_objects are not supported: configs may only name built-in layers")
    return _sequential_from_config(config, depth=0, budget=[MAX_LAYERS])


def _sequential_from_config(config: Any, depth: int, budget: list[int]):
    from .sequential import Sequential
    if not isinstance(config, dict):
        raise ValueError(f"model config must be a JSON object, got {type(config).__name__}")
    cls_name = config.get("class_name")
    if cls_name != "Sequential":
        raise ValueError(f"model config class_name must be 'Sequential', got {cls_name!r}")
    body = config.get("config")
    if isinstance(body, list):  # old Keras: the layer list directly
        body = {"layers": body}
    if not isinstance(body, dict):
        raise ValueError("model config field 'config' must be an object holding 'layers'")
    unknown = set(body) - {"name", "layers", "build_input_shape", "trainable", "dtype"}
    if unknown:
        raise ValueError(f"Sequential config: unknown field(s) {sorted(unknown)}")
    entries = body.get("layers")
    if not isinstance(entries, list) or not entries:
        raise ValueError("Sequential config field 'layers' must be a non-empty list")
    budget[0] -= len(entries)
    if budget[0] < 0:
        raise ValueError(f"the model config has more than {MAX_LAYERS} layers (nested ones included); at most "
                         f"{MAX_LAYERS} are accepted")
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise ValueError("Sequential config field 'name' must be a string")

    layers: list[Layer] = []
    names: set[str] = set()
    input_shape = None
    input_layer = None
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f"layer {i}: each layer must be an object with 'class_name' and 'config'")
        extra = set(entry) - {"class_name", "config", "module", "registered_name", "build_config", "name"}
        if extra:
            raise ValueError(f"layer {i}: unknown field(s) {sorted(extra)}")
        cname = entry.get("class_name")
        cfg = entry.get("config", {})
        if cname == "Sequential":
            if depth >= MAX_NESTING:
                raise ValueError(f"layer {i}: Sequential models nested deeper than {MAX_NESTING} levels are refused")
            try:
                layer = _sequential_from_config(entry, depth + 1, budget)
                claim_unique_name(layer, names)
            except ValueError as exc:
                raise ValueError(f"layer {i} (Sequential): {exc}") from None
            if not layers and input_shape is None:
                input_shape = layer._build_input_shape
            layers.append(layer)
            continue
        if not isinstance(cname, str) or cname not in LAYER_CLASSES:
            raise ValueError(f"layer {i}: unknown class_name {cname!r}; known layers: {', '.join(sorted(LAYER_CLASSES))}")
        if not isinstance(cfg, dict):
            raise ValueError(f"layer {i} ({cname}): field 'config' must be an object")
        if cname == "InputLayer":
            if i != 0:
                raise ValueError(f"layer {i} (InputLayer): an InputLayer may only come first")
            try:
                input_layer = InputLayer.from_config(cfg)
                input_shape = input_layer.shape
            except (ValueError, TypeError) as exc:
                raise ValueError(f"layer {i} (InputLayer): {exc}") from None
            continue
        try:
            layer = LAYER_CLASSES[cname].from_config(dict(cfg))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"layer {i} ({cname}): {exc}") from None
        try:
            claim_unique_name(layer, names)
        except ValueError as exc:
            raise ValueError(f"layer {i} ({cname}): {exc}") from None
        if not layers and input_shape is None:
            input_shape = layer._batch_input_shape
        layers.append(layer)
    if not layers:
        raise ValueError("Sequential config holds no layers besides the input")
    if input_shape is None and body.get("build_input_shape") is not None:
        bis = body["build_input_shape"]
        if not isinstance(bis, list) or len(bis) < 2:
            raise ValueError("Sequential config field 'build_input_shape' must be a list like [null, 100]")
        input_shape = tuple(bis)
    if input_shape is None:
        raise ValueError(
            f"layer 0 ({type(layers[0]).__name__}): missing input shape; give an InputLayer with batch_shape, "
            "or input_shape / batch_input_shape / input_dim on the first layer"
        )
    for d in input_shape[1:]:
        if isinstance(d, bool) or not isinstance(d, int) or d <= 0:
            raise ValueError(f"layer 0: input shape must hold positive ints after the batch axis, got {list(input_shape)}")
    _check_size(layers, input_shape)
    model = Sequential(name=name)
    model._input_layer = input_layer  # keeps its name: get_config of the result equals the config read
    for layer in layers:
        model._layers.append(layer)
        structure_changed()
    model.build(input_shape)  # raises "layer i (...)" on a shape the layers cannot take
    return model


def _check_size(layers: list[Layer], input_shape: tuple) -> None:
    """Walk the shapes without allocating: a layer that cannot take its input, or a model over
    MAX_PARAMS weights, is a ValueError naming the layer."""
    shape = (None,) + tuple(input_shape[1:])
    total = 0
    for i, layer in enumerate(layers):
        try:
            layer._check_input_rank((1,) + shape[1:])
            total += int(layer.params_for(shape))
            shape = tuple(layer.compute_output_shape(shape))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"layer {i} ({type(layer).__name__} {layer.name!r}): {exc}") from None
        if total > MAX_PARAMS:
            raise ValueError(
                f"layer {i} ({type(layer).__name__} {layer.name!r}): the model would hold {total:,} weights; "
                f"at most {MAX_PARAMS:,} are accepted"
            )


def model_from_json(json_string: str, custom_objects=None):
    if not isinstance(json_string, (str, bytes)):
        raise TypeError(f"model_from_json takes a JSON string, got {type(json_string).__name__}")
    if len(json_string) > MAX_CONFIG_BYTES:
        raise ValueError(f"model JSON is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        config = json.loads(json_string)
    except json.JSONDecodeError as exc:
        raise ValueError(f"model JSON is not valid JSON: {exc}") from None
    except RecursionError:
        raise ValueError("model JSON is nested too deeply") from None
    return model_from_config(config, custom_objects)


# ---- weights ---------------------------------------------------------------------------------
def _weights_bytes(model) -> bytes:
    return st.save({name: np.ascontiguousarray(var.value) for name, var in model.named_weights()})


def _read_safetensors(blob: bytes, what: str) -> dict[str, np.ndarray]:
    try:
        return st.load(blob)
    except Exception as exc:  # safetensors raises its own error types on malformed headers
        raise ValueError(f"{what} is not a valid safetensors file: {exc}") from None


def _assign_named(model, tensors: dict[str, np.ndarray], what: str) -> None:
    named = model.named_weights()
    expected = {n for n, _ in named}
    if set(tensors) != expected:
        missing, extra = sorted(expected - set(tensors)), sorted(set(tensors) - expected)
        raise ValueError(f"{what} does not match the model: missing {missing[:8]}, unexpected {extra[:8]}")
    for name, var in named:
        arr = tensors[name]
        if arr.dtype != np.float32:
            raise ValueError(f"{what}: weight {name!r} must be float32, got {arr.dtype}")
        if arr.shape != var.shape:
            raise ValueError(f"{what}: weight {name!r} must have shape {var.shape}, got {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{what}: weight {name!r} holds NaN or infinite values")
    for name, var in named:
        np.copyto(var.value, tensors[name])


def save_weights(model, filepath, overwrite: bool = True) -> None:
    model._require_built("save_weights")
    path = os.fspath(filepath)
    if not overwrite and os.path.exists(path):
        raise ValueError(f"{path} exists and overwrite=False")
    _atomic_write(path, _weights_bytes(model))


def load_weights(model, filepath) -> None:
    model._require_built("load_weights")
    path = os.fspath(filepath)
    if not os.path.isfile(path):
        raise ValueError(f"weights file not found: {path}")
    with open(path, "rb") as f:
        blob = f.read()
    _assign_named(model, _read_safetensors(blob, path), path)


def _atomic_write(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


# ---- whole model ---------------------------------------------------------------------------
def save_model(model, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
    path = os.fspath(filepath)
    if not overwrite and os.path.exists(path):
        raise ValueError(f"{path} exists and overwrite=False")
    arch = model_config(model)
    pre = getattr(model, "preprocessing", None)
    pre_cfg = None
    if pre is not None:
        get_config = getattr(pre, "get_config", None)
        if get_config is None:
            raise TypeError("model.preprocessing must have get_config() returning a JSON-able dict")
        pre_cfg = get_config()
        try:
            json.dumps(pre_cfg)
        except TypeError as exc:
            raise TypeError(f"model.preprocessing.get_config() is not JSON-able: {exc}") from None
    config = {
        "format_version": FORMAT_VERSION,
        "producer": "aiaas_core.keras",
        "model": arch,
        "compile": model._compile_config if model.compiled else None,
        "preprocessing": pre_cfg,
        "weights": [{"name": n, "shape": list(v.shape), "dtype": "float32"} for n, v in model.named_weights()],
    }
    opt_state = {"iterations": np.array([0], np.int64)}
    if include_optimizer and model.compiled:
        opt_state = model.optimizer.variables_dict()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("config.json", json.dumps(config, indent=1))
        zf.writestr("model.weights.safetensors", _weights_bytes(model))
        zf.writestr("optimizer.safetensors", st.save(opt_state))
    _atomic_write(path, buf.getvalue())


def _read_members(path: str) -> dict[str, bytes]:
    if os.path.isdir(path):
        raise ValueError(
            f"{path} is a directory, not a model file: load_model reads the single file model.save writes "
            "(a TensorFlow SavedModel folder cannot be loaded)"
        )
    if not os.path.isfile(path):
        raise ValueError(f"model file not found: {path}")
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if sorted(names) != sorted(MEMBERS):
                raise ValueError(
                    f"{path} is not an aiaas_core model file: expected members {list(MEMBERS)}, got {names[:10]}"
                )
            limits = {"config.json": MAX_CONFIG_BYTES, "model.weights.safetensors": MAX_WEIGHTS_BYTES,
                      "optimizer.safetensors": MAX_OPTIMIZER_BYTES}
            for info in zf.infolist():  # declared sizes, checked before anything is decompressed
                if info.file_size > limits[info.filename]:
                    raise ValueError(
                        f"{path}: member {info.filename} declares {info.file_size:,} bytes; a valid model file "
                        f"holds at most {limits[info.filename]:,}"
                    )
            return {name: zf.read(name) for name in MEMBERS}  # CRC-checked
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{path} is not a valid model file (truncated or corrupted zip): {exc}") from None
    except (OSError, EOFError, RuntimeError) as exc:
        raise ValueError(f"{path} could not be read as a model file: {exc}") from None


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """Rebuild a model saved by `model.save`: architecture, weights, compile settings, optimizer
    state and preprocessing. A truncated, tampered or foreign file is a ValueError."""
    from .. import losses as losses_mod
    from .. import metrics as metrics_mod
    from .. import optimizers as optimizers_mod
    from .training import _Plan

    path = os.fspath(filepath)
    members = _read_members(path)
    try:
        config = json.loads(members["config.json"])
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: config.json is not valid JSON: {exc}") from None
    if not isinstance(config, dict) or config.get("format_version") != FORMAT_VERSION:
        got = config.get("format_version") if isinstance(config, dict) else None
        raise ValueError(f"{path}: unsupported format_version {got!r} (expected {FORMAT_VERSION})")
    model = model_from_config(config.get("model"), custom_objects)
    _assign_named(model, _read_safetensors(members["model.weights.safetensors"], f"{path} weights"), f"{path} weights")
    opt_state = _read_safetensors(members["optimizer.safetensors"], f"{path} optimizer state")
    comp = config.get("compile")
    if compile and comp is not None and type(model) is _functional.Functional:
        _compile_functional(model, comp, opt_state, path)
    elif compile and comp is not None:
        if not isinstance(comp, dict) or set(comp) != {"optimizer", "loss", "metrics"}:
            raise ValueError(f"{path}: compile settings must hold optimizer, loss and metrics")
        if not isinstance(comp["metrics"], list):
            raise ValueError(f"{path}: compile metrics must be a list")
        model.compile(
            optimizer=optimizers_mod.deserialize(comp["optimizer"]),
            loss=losses_mod.deserialize(comp["loss"]),
            metrics=[metrics_mod.deserialize(m) for m in comp["metrics"]],
        )
        model._compile_config = comp
        model.optimizer.load_variables_dict(opt_state, _Plan(model).params)
    pre_cfg = config.get("preprocessing")
    if pre_cfg is not None:
        if not isinstance(pre_cfg, dict):
            raise ValueError(f"{path}: 'preprocessing' must be an object")
        try:
            from ...data import preprocessor_from_config
        except ImportError as exc:
            raise ValueError(
                f"{path} carries preprocessing but aiaas_core.data.preprocessor_from_config is unavailable: {exc}"
            ) from None
        try:
            model.preprocessing = preprocessor_from_config(pre_cfg)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{path}: bad 'preprocessing' config: {exc}") from None
    return model


def _is_serialized_object(value: dict) -> bool:
    """`{"class_name": ..., "config": {...}}` (one loss object), not a dict keyed by output names."""
    return set(value) == {"class_name", "config"} and isinstance(value["class_name"], str)


def _compile_functional(model, comp, opt_state: dict, path: str) -> None:
    """Compile a loaded functional model as it was saved: per-output losses (a list or a dict, None
    for an output without one), loss_weights and metrics per output; then the optimizer state,
    whose slots follow `model.trainable_variables` (the order its train_step updates)."""
    from .. import losses as losses_mod
    from .. import metrics as metrics_mod
    from .. import optimizers as optimizers_mod

    if not isinstance(comp, dict) or not {"optimizer", "loss", "metrics"} <= set(comp) or \
            set(comp) - {"optimizer", "loss", "metrics", "loss_weights"}:
        raise ValueError(f"{path}: compile settings must hold optimizer, loss, metrics (and optionally loss_weights)")

    def loss_of(spec, where):
        if spec is None:
            return None
        try:
            return losses_mod.deserialize(spec)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}: compile {where}: {exc}") from None

    loss = comp["loss"]
    if isinstance(loss, dict) and not _is_serialized_object(loss):  # one loss per named output
        loss = {str(k): loss_of(v, f"loss[{k!r}]") for k, v in loss.items()}
    elif isinstance(loss, list):
        loss = [loss_of(v, f"loss[{i}]") for i, v in enumerate(loss)]
    else:
        loss = loss_of(loss, "loss")

    def metric_list(specs, where):
        if not isinstance(specs, list):
            raise ValueError(f"{path}: compile {where} must be a list of metrics")
        return [metrics_mod.deserialize(m) for m in specs]

    metrics = comp["metrics"]
    if isinstance(metrics, dict):
        metrics = {str(k): metric_list(v, f"metrics[{k!r}]") for k, v in metrics.items()}
    elif isinstance(metrics, list) and metrics and all(isinstance(m, list) for m in metrics):
        metrics = [metric_list(group, f"metrics[{i}]") for i, group in enumerate(metrics)]
    else:
        metrics = metric_list(metrics, "metrics")
    weights = comp.get("loss_weights")
    if weights is not None:
        values = weights.values() if isinstance(weights, dict) else weights if isinstance(weights, list) else None
        if values is None or any(isinstance(w, bool) or not isinstance(w, (int, float)) for w in values):
            raise ValueError(f"{path}: compile loss_weights must be a list or an object of numbers")
    model.compile(optimizer=optimizers_mod.deserialize(comp["optimizer"]), loss=loss, metrics=metrics,
                  loss_weights=weights)
    model._compile_config = comp
    model.optimizer.load_variables_dict(opt_state, [w.value for w in model.trainable_variables])
