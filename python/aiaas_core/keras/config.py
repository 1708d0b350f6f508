"""`keras.config`: global settings. This engine computes in float32, channels-last, eagerly; those
values can be read and set again, anything else is refused with the reason."""

from __future__ import annotations

from . import backend as _backend

__all__ = [
    "backend", "floatx", "set_floatx", "epsilon", "set_epsilon", "image_data_format", "set_image_data_format",
    "disable_traceback_filtering", "enable_traceback_filtering", "is_traceback_filtering_enabled",
    "enable_unsafe_deserialization", "enable_interactive_logging", "disable_interactive_logging",
    "is_interactive_logging_enabled", "dtype_policy", "set_dtype_policy",
]

_settings = {"traceback_filtering": True, "interactive_logging": True}


def backend() -> str:
    """The Keras backend name programs branch on: "tensorflow", whose names (tf.GradientTape, tf.data,
    tf.* ops) `import aiaas_core as tf` provides."""
    return "tensorflow"


def floatx() -> str:
    return _backend.floatx()


def set_floatx(value) -> None:
    if str(value) != "float32":
        raise ValueError(f"set_floatx: only float32 is supported (weights and activations are float32), got {value!r}")


def epsilon() -> float:
    return _backend.epsilon()


def set_epsilon(value) -> None:
    _backend.set_epsilon(value)


def image_data_format() -> str:
    return "channels_last"


def set_image_data_format(data_format) -> None:
    if data_format != "channels_last":
        raise ValueError(f"set_image_data_format: only 'channels_last' (NHWC) is supported, got {data_format!r}")


def dtype_policy() -> str:
    return "float32"


def set_dtype_policy(policy) -> None:
    name = getattr(policy, "name", policy)
    if name != "float32":
        raise ValueError(f"set_dtype_policy: only 'float32' is supported (no mixed precision), got {name!r}")


def disable_traceback_filtering() -> None:
    """Accepted: tracebacks are never filtered here."""
    _settings["traceback_filtering"] = False


def enable_traceback_filtering() -> None:
    _settings["traceback_filtering"] = True


def is_traceback_filtering_enabled() -> bool:
    return _settings["traceback_filtering"]


def enable_unsafe_deserialization() -> None:
    """Accepted and ignored: saved configs are data and never carry code (a Lambda is refused on save)."""


def enable_interactive_logging() -> None:
    _settings["interactive_logging"] = True


def disable_interactive_logging() -> None:
    _settings["interactive_logging"] = False


def is_interactive_logging_enabled() -> bool:
    return _settings["interactive_logging"]
