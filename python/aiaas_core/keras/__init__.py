"""`aiaas_core.keras`: the Keras model API (layers, Model, Sequential, compile/fit/predict, saving)
over the Rust kernels in `aiaas_core._core`.

Interface other code relies on: `Sequential`/`Model`, `layers.*`, `models.load_model(path)`,
`models.model_from_json/config` (validated Keras-style config), `model.save(path)` (one zip:
config.json + model.weights.safetensors + optimizer.safetensors), `model.preprocessing`.
"""

import sys as _sys

from .. import ops
from . import (activations, backend, callbacks, config, constraints, datasets, initializers, layers, losses, metrics,
               models, optimizers, random, regularizers, saving, utils)
from .engine.model import Model
from .engine.saving import load_model, model_from_config, model_from_json
from .engine.sequential import Sequential
from .layers import Input
from .utils import set_random_seed, to_categorical

# `from aiaas_core.keras import ops` / `from aiaas_core.keras.ops import relu`: keras.ops is aiaas_core.ops.
_sys.modules.setdefault(f"{__name__}.ops", ops)

__all__ = [
    "ops", "random", "Model", "Sequential", "Input", "layers", "models", "optimizers", "losses", "metrics", "callbacks",
    "initializers", "activations", "utils", "saving", "backend", "config", "datasets", "load_model", "model_from_json",
    "model_from_config", "set_random_seed", "to_categorical", "regularizers", "constraints",
]
