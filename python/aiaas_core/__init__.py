"""aiaas_core: AI models as a service.

A Rust core (`aiaas_core._core`) does the numbers; `aiaas_core.ops` exposes its array operations,
`aiaas_core.keras` the Keras-style model API, `aiaas_core.data` data preparation, and
`aiaas_core.service` (extra `[server]`) the HTTP service.
"""

from __future__ import annotations

import sys as _sys

from . import _core, data, keras, kernels, ops
from . import tf_api as _tf_api
from ._core import cpu_features, get_num_threads, set_num_threads
from .keras import (Input, Model, Sequential, activations, backend, callbacks, datasets, initializers, layers,
                    load_model, losses, metrics, models, optimizers, saving, utils)
from .keras.initializers import Initializer
from .keras.layers import Layer
from .keras.losses import Loss
from .keras.metrics import Metric
from .keras.optimizers import Optimizer
from .ops.symbolic import KerasTensor

__version__ = _core.__version__


class _Version:
    """`tf.version.VERSION` and Keras 3's `keras.version()` (one name serves both spellings)."""

    VERSION = __version__
    GIT_VERSION = __version__
    COMPILER_VERSION = "rustc"

    def __call__(self) -> str:
        return __version__

    def __repr__(self) -> str:
        return f"aiaas_core version {__version__}"


version = _Version()

# `import keras` -> `import aiaas_core as keras` works for submodule imports too
# (`from aiaas_core.layers import Dense`): the Keras namespaces are registered under this package.
_KERAS_NAMESPACES = ("layers", "models", "optimizers", "losses", "metrics", "callbacks", "utils",
                     "initializers", "activations", "datasets", "backend", "saving")
for _name in _KERAS_NAMESPACES:
    _sys.modules.setdefault(f"{__name__}.{_name}", getattr(keras, _name))
    globals()[_name] = getattr(keras, _name)
_sys.modules.setdefault(f"{__name__}.optimizers.schedules", keras.optimizers.schedules)
for _name in ("regularizers", "constraints"):  # `tf.keras.regularizers.l2`, `from aiaas_core.regularizers import l2`
    _sys.modules.setdefault(f"{__name__}.{_name}", getattr(keras, _name))
    globals()[_name] = getattr(keras, _name)

# `import aiaas_core as tf`: TensorFlow's names for the tensor ops (tf_api.py) at the top level, and
# its namespaces (tf.math, tf.nn, tf.random, tf.linalg, tf.config, tf.debugging, tf.dtypes, tf.errors)
# registered as submodules so that `from aiaas_core.math import reduce_mean` works too. `tf.nn.relu`
# and the other activations are also accepted by layers (`Dense(64, activation=tf.nn.relu)`).
for _name in _tf_api.TOP_LEVEL:
    globals()[_name] = getattr(_tf_api, _name)
for _name in _tf_api.NAMESPACES:
    _sys.modules.setdefault(f"{__name__}.{_name}", getattr(_tf_api, _name))
_sys.modules.setdefault(f"{__name__}.experimental.numpy", _tf_api.experimental.numpy)  # import ... as tnp

__all__ = [
    "ops", "data", "set_num_threads", "get_num_threads", "cpu_features", "__version__",
    "keras", *_KERAS_NAMESPACES, "Model", "Sequential", "Input", "load_model", "export_onnx",
    "Layer", "Loss", "Metric", "Optimizer", "Initializer", "KerasTensor", "version",
    # `from aiaas_core import *` must not shadow Python's range/abs/round/pow/print/bool: those stay
    # attributes only (tf.range, tf.print...)
    *(n for n in _tf_api.TOP_LEVEL if n not in ("range", "abs", "round", "pow", "print", "bool")),
]


def __getattr__(name: str):
    # `onnx` is an optional extra: import the exporter only when someone asks for it.
    if name == "export_onnx":
        from .onnx_export import export_onnx

        return export_onnx
    raise AttributeError(f"module 'aiaas_core' has no attribute {name!r}")
