"""aiaas_core: AI models as a service.

A Rust core (`aiaas_core._core`) does the numbers; `aiaas_core.ops` exposes its array operations,
`aiaas_core.keras` the Keras-style model API, `aiaas_core.data` data preparation, and
`aiaas_core.service` (extra `[server]`) the HTTP service.
"""

from __future__ import annotations

import sys as _sys
import types as _types

from . import _core, data, keras, kernels, ops
from ._core import cpu_features, get_num_threads, set_num_threads
from .keras import (Input, Model, Sequential, activations, callbacks, datasets, initializers, layers, load_model,
                    losses, metrics, models, optimizers, utils)

__version__ = _core.__version__

# `import keras` -> `import aiaas_core as keras` works for submodule imports too
# (`from aiaas_core.layers import Dense`): the Keras namespaces are registered under this package.
_KERAS_NAMESPACES = ("layers", "models", "optimizers", "losses", "metrics", "callbacks", "utils",
                     "initializers", "activations", "datasets")
for _name in _KERAS_NAMESPACES:
    _sys.modules.setdefault(f"{__name__}.{_name}", getattr(keras, _name))

# TensorFlow programs seed with `tf.random.set_seed(n)`: the same global seed as set_random_seed.
random = _types.ModuleType(f"{__name__}.random", "`tf.random.set_seed` for TensorFlow programs.")
random.set_seed = keras.utils.set_random_seed
_sys.modules.setdefault(random.__name__, random)

# `Dense(64, activation=tf.nn.relu)`: TensorFlow's activation functions are the Keras ones.
nn = _types.ModuleType(f"{__name__}.nn", "`tf.nn` activation functions (the keras.activations ones).")
for _name in ("relu", "sigmoid", "tanh", "softmax", "leaky_relu", "elu", "gelu"):
    setattr(nn, _name, getattr(activations, _name))
_sys.modules.setdefault(nn.__name__, nn)

__all__ = [
    "ops", "data", "set_num_threads", "get_num_threads", "cpu_features", "__version__",
    "keras", *_KERAS_NAMESPACES, "Model", "Sequential", "Input", "load_model", "export_onnx", "random", "nn",
]


def __getattr__(name: str):
    # `onnx` is an optional extra: import the exporter only when someone asks for it.
    if name == "export_onnx":
        from .onnx_export import export_onnx

        return export_onnx
    raise AttributeError(f"module 'aiaas_core' has no attribute {name!r}")
