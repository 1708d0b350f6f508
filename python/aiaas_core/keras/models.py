"""`aiaas_core.keras.models`: Model, Sequential, load_model, model_from_json, model_from_config, clone_model."""

from .engine.model import Model
from .engine.saving import clone_model, load_model, model_from_config, model_from_json
from .engine.sequential import Sequential

__all__ = ["Model", "Sequential", "load_model", "model_from_json", "model_from_config", "clone_model"]
