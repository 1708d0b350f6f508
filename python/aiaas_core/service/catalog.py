"""The architectures catalog: named model families with JSON-schema hyperparameters, plus custom configs.

A builder turns (hyperparameters, signature) into a Keras-style layer list; training compiles it.
A custom architecture is the JSON config `model.save` writes, checked by `model_from_config` (data,
never code).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from aiaas_core.keras import activations as keras_activations

from .errors import ApiError, brief, clip

# What the catalog offers is what the kernels implement (keras.activations keeps the one list): a name
# the kernels lack would pass this check and then fail the job in the worker. Softmax is a head, not a
# hidden activation.
ACTIVATIONS = [a for a in keras_activations.KNOWN if a != "softmax"]
RECURRENT_ACTIVATIONS = list(keras_activations.RECURRENT)
_COMMON = {
    "epochs": {"type": "integer", "minimum": 1, "default": 10},
    "batch_size": {"type": "integer", "minimum": 1, "default": 32},
    "learning_rate": {"type": "number", "exclusiveMinimum": 0, "default": 0.001},
    "optimizer": {"type": "string", "enum": ["adam", "sgd", "rmsprop"], "default": "adam"},
    "validation_split": {"type": "number", "minimum": 0, "exclusiveMaximum": 1, "default": 0.0},
    "seed": {"type": "integer", "minimum": 0, "default": 0},
}


@dataclass(frozen=True)
class Signature:
    """What the data says about the model: per-sample input shape, task, number of outputs."""

    input_shape: tuple[int, ...]
    task: str  # classification | regression | reconstruction
    n_outputs: int  # classes, regression targets, or features to reconstruct


@dataclass(frozen=True)
class Architecture:
    name: str
    description: str
    params: dict[str, dict[str, Any]]
    tasks: tuple[str, ...]
    build: Callable[[dict[str, Any], Signature, Any], list]  # (hyperparameters, signature, keras module)

    def schema(self) -> dict[str, Any]:
        return {"type": "object", "properties": {**_COMMON, **self.params}, "additionalProperties": False}


def _head(keras, sig: Signature) -> list:
    if sig.task == "classification":
        return [keras.layers.Dense(sig.n_outputs, activation="softmax")]
    return [keras.layers.Dense(sig.n_outputs)]


def _flatten_if_needed(keras, sig: Signature) -> list:
    return [keras.layers.Flatten()] if len(sig.input_shape) > 1 else []


def _linear(hp, sig, keras):
    return [*_flatten_if_needed(keras, sig), keras.layers.Dense(sig.n_outputs)]


def _logistic(hp, sig, keras):
    return [*_flatten_if_needed(keras, sig), keras.layers.Dense(sig.n_outputs, activation="softmax")]


def _hidden_units(hp) -> list[int]:
    units = hp.get("units", 64)
    return list(units) if isinstance(units, list) else [int(units)] * int(hp.get("layers", 2))


def _mlp(hp, sig, keras):
    layers = _flatten_if_needed(keras, sig)
    for u in _hidden_units(hp):
        layers.append(keras.layers.Dense(u, activation=hp.get("activation", "relu")))
        if hp.get("dropout", 0.0) > 0:
            layers.append(keras.layers.Dropout(hp["dropout"]))
    return layers + _head(keras, sig)


def _cnn(hp, sig, keras):
    shape = sig.input_shape
    if len(shape) not in (2, 3):
        raise ApiError(422, f"architecture 'cnn' needs images shaped (height, width) or (height, width, channels); the dataset's samples are {list(shape)}")
    layers = [keras.layers.Reshape((*shape, 1))] if len(shape) == 2 else []
    k = hp.get("kernel_size", 3)
    for f in hp.get("filters", [16, 32]):
        layers += [keras.layers.Conv2D(f, (k, k), activation=hp.get("activation", "relu"), padding="same"),
                   keras.layers.MaxPooling2D((2, 2))]
    layers += [keras.layers.Flatten(), keras.layers.Dense(hp.get("dense_units", 64), activation=hp.get("activation", "relu"))]
    if hp.get("dropout", 0.0) > 0:
        layers.append(keras.layers.Dropout(hp["dropout"]))
    return layers + _head(keras, sig)


def _lstm(hp, sig, keras):
    shape = sig.input_shape
    if len(shape) not in (1, 2):
        raise ApiError(422, f"architecture 'lstm' needs sequences shaped (timesteps,) or (timesteps, features); the dataset's samples are {list(shape)}")
    layers = [keras.layers.Reshape((shape[0], 1))] if len(shape) == 1 else []
    units = _hidden_units({"units": hp.get("units", 32), "layers": hp.get("layers", 1)})
    for i, u in enumerate(units):
        layers.append(keras.layers.LSTM(u, activation=hp.get("activation", "tanh"), return_sequences=i < len(units) - 1))
    return layers + _head(keras, sig)


def _autoencoder(hp, sig, keras):
    size = int(math.prod(sig.input_shape))
    act = hp.get("activation", "relu")
    layers = _flatten_if_needed(keras, sig)
    hidden = hp.get("units", [32])
    for u in hidden:
        layers.append(keras.layers.Dense(u, activation=act))
    layers.append(keras.layers.Dense(hp.get("encoding_dim", 8), activation=act))
    for u in reversed(hidden):
        layers.append(keras.layers.Dense(u, activation=act))
    layers.append(keras.layers.Dense(size, activation=hp.get("output_activation", "linear")))
    if len(sig.input_shape) > 1:
        layers.append(keras.layers.Reshape(sig.input_shape))
    return layers


_UNITS = {"oneOf": [{"type": "integer", "minimum": 1, "maximum": 4096},
                    {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 4096}, "minItems": 1, "maxItems": 16}]}
_ACT = {"type": "string", "enum": ACTIVATIONS}
_RECURRENT_ACT = {"type": "string", "enum": RECURRENT_ACTIVATIONS}
_DROPOUT = {"type": "number", "minimum": 0, "exclusiveMaximum": 1, "default": 0.0}

CATALOG: dict[str, Architecture] = {a.name: a for a in [
    Architecture("linear", "Linear regression: one Dense layer, mean squared error.", {}, ("regression",), _linear),
    Architecture("logistic", "Logistic (softmax) regression: one Dense softmax layer, cross-entropy.", {},
                 ("classification",), _logistic),
    Architecture("mlp", "Fully connected network (seed 002's Dense network): hidden Dense layers, then a softmax or linear head.",
                 {"units": {**_UNITS, "default": 64}, "layers": {"type": "integer", "minimum": 1, "maximum": 16, "default": 2},
                  "activation": {**_ACT, "default": "relu"}, "dropout": _DROPOUT},
                 ("classification", "regression"), _mlp),
    Architecture("cnn", "ConvNet for images (the seeds' ConvNet): Conv2D+MaxPooling blocks, Dense, softmax.",
                 {"filters": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 512}, "minItems": 1, "maxItems": 6, "default": [16, 32]},
                  "kernel_size": {"type": "integer", "minimum": 1, "maximum": 7, "default": 3},
                  "dense_units": {"type": "integer", "minimum": 1, "maximum": 4096, "default": 64},
                  "activation": {**_ACT, "default": "relu"}, "dropout": _DROPOUT},
                 ("classification", "regression"), _cnn),
    Architecture("lstm", "LSTM over sequences (timesteps[, features]), then a softmax or linear head.",
                 {"units": {**_UNITS, "default": 32}, "layers": {"type": "integer", "minimum": 1, "maximum": 4, "default": 1},
                  "activation": {**_RECURRENT_ACT, "default": "tanh"}},
                 ("classification", "regression"), _lstm),
    Architecture("autoencoder", "Dense autoencoder: encoder down to encoding_dim, decoder back; trained to reconstruct x (labels ignored).",
                 {"units": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 4096}, "maxItems": 8, "default": [32]},
                  "encoding_dim": {"type": "integer", "minimum": 1, "maximum": 4096, "default": 8},
                  "activation": {**_ACT, "default": "relu"}, "output_activation": {**_ACT, "default": "linear"}},
                 ("reconstruction",), _autoencoder),
]}


def _check_value(name: str, value: Any, spec: dict[str, Any]) -> None:
    if "oneOf" in spec:
        errors = []
        for alt in spec["oneOf"]:
            try:
                _check_value(name, value, alt)
                return
            except ApiError as exc:
                errors.append(exc.detail)
        raise ApiError(422, " or ".join(errors))
    kind = spec.get("type")
    if kind == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
        raise ApiError(422, f"hyperparameter {name!r} must be an integer, got {brief(value)}")
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)):
        raise ApiError(422, f"hyperparameter {name!r} must be a finite number, got {brief(value)}")
    if kind == "string" and not isinstance(value, str):
        raise ApiError(422, f"hyperparameter {name!r} must be a string, got {brief(value)}")
    if kind == "array":
        if not isinstance(value, list) or not spec.get("minItems", 0) <= len(value) <= spec.get("maxItems", 10**6):
            raise ApiError(422, f"hyperparameter {name!r} must be a list of {spec.get('minItems', 0)}..{spec.get('maxItems')} items, got {brief(value)}")
        for i, item in enumerate(value):
            _check_value(f"{name}[{i}]", item, spec["items"])
        return
    if "enum" in spec and value not in spec["enum"]:
        raise ApiError(422, f"hyperparameter {name!r} must be one of {spec['enum']}, got {brief(value)}")
    if "minimum" in spec and value < spec["minimum"] or "maximum" in spec and value > spec["maximum"]:
        raise ApiError(422, f"hyperparameter {name!r} must be in {spec.get('minimum')}..{spec.get('maximum')}, got {brief(value)}")
    if "exclusiveMinimum" in spec and value <= spec["exclusiveMinimum"] or "exclusiveMaximum" in spec and value >= spec["exclusiveMaximum"]:
        raise ApiError(422, f"hyperparameter {name!r} is out of range: {spec}, got {brief(value)}")


def validate_hyperparameters(architecture: str | dict, hp: dict[str, Any]) -> None:
    """422 naming the first bad or unknown hyperparameter."""
    if isinstance(architecture, dict):
        allowed = {**_COMMON, "loss": {"type": "string"}, "task": {"type": "string", "enum": ["classification", "regression", "reconstruction"]}}
    else:
        allowed = CATALOG[architecture].schema()["properties"]
    for name, value in hp.items():
        if name not in allowed:
            raise ApiError(422, f"unknown hyperparameter {brief(name)}; expected some of {sorted(allowed)}")
        _check_value(name, value, allowed[name])
    if "loss" in hp:  # a name compile() would refuse inside the worker, after the job was queued
        from aiaas_core.keras import losses

        try:
            losses.get(hp["loss"])
        except (ValueError, TypeError) as exc:
            raise ApiError(422, f"hyperparameter 'loss': {exc}") from None


def resolve(architecture: str | dict) -> Architecture | dict:
    """The catalog entry for a name, or the custom config checked by model_from_config (422 if bad)."""
    if isinstance(architecture, str):
        if architecture not in CATALOG:
            raise ApiError(422, f"unknown architecture {brief(architecture)}; expected one of {sorted(CATALOG)} or a model config object")
        return CATALOG[architecture]
    build_custom(architecture)
    return architecture


def build_custom(config: dict):
    """The model a custom config describes, built (its weights allocated: up to MAX_PARAMS), or 422."""
    from aiaas_core import keras

    try:
        return keras.models.model_from_config(config)
    except (ValueError, TypeError, KeyError) as exc:
        raise ApiError(422, f"invalid architecture config: {clip(str(exc))}") from exc


def check_custom_fits(model, summary: dict[str, Any], task: str | None = None) -> None:
    """422 when a custom model's (build_custom) input or output shape cannot take this dataset (caught
    before queueing). `task` is the job's hyperparameter (None: the dataset's own task)."""
    in_shape, out_shape = getattr(model, "input_shape", None), getattr(model, "output_shape", None)
    x_shape = summary.get("x_shape")
    if in_shape is not None and x_shape is not None and list(in_shape[1:]) != list(x_shape):
        raise ApiError(422, f"the architecture takes inputs shaped {list(in_shape[1:])} but the dataset's samples are {x_shape}")
    task = task or summary.get("task")
    classes = summary.get("classes")
    if out_shape is not None and task == "classification" and classes and out_shape[-1] != len(classes):
        raise ApiError(422, f"the architecture ends in {out_shape[-1]} outputs but the dataset has {len(classes)} classes")
    if out_shape is not None and task == "reconstruction" and x_shape is not None and list(out_shape[1:]) != list(x_shape):
        raise ApiError(422, f"task 'reconstruction' trains the model to output its input, but the architecture "
                            f"outputs {list(out_shape[1:])} for samples shaped {x_shape}")


def check_catalog_fits(architecture: str, hp: dict[str, Any], summary: dict[str, Any]) -> list:
    """The named architecture's (unbuilt) layers for this dataset; 422 at submission when they cannot
    take the dataset's samples (a cnn on a table) or would hold more weights than a custom config may
    (mlp units=4096, layers=16: 268 M); the worker would otherwise fail later, or run out of memory.
    Walks the shapes without allocating a weight."""
    from aiaas_core import keras
    from aiaas_core.keras.engine.saving import MAX_PARAMS, _check_size

    entry = CATALOG[architecture]
    x_shape = tuple(int(d) for d in summary.get("x_shape") or ())
    task = "reconstruction" if "reconstruction" in entry.tasks else summary.get("task", "none")
    classes = summary.get("classes") or []
    n_outputs = math.prod(x_shape) if task == "reconstruction" else len(classes) if task == "classification" else 1
    layers = entry.build(hp, Signature(x_shape, task, max(1, n_outputs)), keras)  # ApiError: wrong sample shape
    try:
        _check_size(layers, (None, *x_shape))
    except ValueError as exc:
        raise ApiError(422, f"architecture {architecture!r} with these hyperparameters cannot take this dataset's "
                            f"samples shaped {list(x_shape)} (at most {MAX_PARAMS:,} weights): {exc}") from None
    return layers


def build_model(architecture: str | dict, hp: dict[str, Any], sig: Signature):
    """An uncompiled Keras-style model for this data."""
    from aiaas_core import keras

    if isinstance(architecture, dict):
        return keras.models.model_from_config(architecture)
    entry = CATALOG[architecture]
    layers = entry.build(hp, sig, keras)
    return keras.Sequential([keras.Input(shape=sig.input_shape), *layers])
