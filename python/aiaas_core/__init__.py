"""aiaas_core: AI models as a service.

A Rust core (`aiaas_core._core`) does the numbers; `aiaas_core.ops` exposes its array operations,
`aiaas_core.keras` the Keras-style model API, `aiaas_core.data` data preparation, and
`aiaas_core.service` (extra `[server]`) the HTTP service.
"""

from __future__ import annotations

from . import _core, data, keras, ops
from ._core import cpu_features, get_num_threads, set_num_threads
from .keras import Input, Model, Sequential, layers, load_model, models

__version__ = _core.__version__

__all__ = [
    "ops", "data", "set_num_threads", "get_num_threads", "cpu_features", "__version__",
    "keras", "layers", "models", "Model", "Sequential", "Input", "load_model", "export_onnx",
]


def __getattr__(name: str):
    # `onnx` is an optional extra: import the exporter only when someone asks for it.
    if name == "export_onnx":
        from .onnx_export import export_onnx

        return export_onnx
    raise AttributeError(f"module 'aiaas_core' has no attribute {name!r}")
