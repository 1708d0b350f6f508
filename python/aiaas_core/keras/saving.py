"""`aiaas_core.keras.saving`: whole-model files and the registry of user classes configs may name."""

from .engine.registry import (
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
)
from .engine.saving import load_model, save_model

__all__ = ["load_model", "save_model", "register_keras_serializable", "get_registered_name",
           "get_registered_object", "get_custom_objects"]
