"""aiaas_core: AI models as a service.

A Rust core (`aiaas_core._core`) does the numbers; `aiaas_core.ops` exposes its array operations.
"""

from __future__ import annotations

from . import _core, ops
from ._core import cpu_features, get_num_threads, set_num_threads
from . import keras
from .keras import Input, Model, Sequential, layers, load_model, models

__version__ = _core.__version__

__all__ = [
    "ops", "set_num_threads", "get_num_threads", "cpu_features", "__version__",
    "keras", "layers", "models", "Model", "Sequential", "Input", "load_model",
]
