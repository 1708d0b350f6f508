"""The one registry of user classes that saved configs may name (Keras's `register_keras_serializable`).

A config is data: loading it never imports anything by module path. A class it names must be a
built-in layer, or registered here (`@keras.saving.register_keras_serializable()`), or passed by the
caller as `custom_objects={"MyLayer": MyLayer}`; anything else is refused with its name.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_by_name: dict[str, type] = {}      # "package>Name" -> class
_by_class: dict[type, str] = {}     # class -> "package>Name"


def _check_part(value, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"register_keras_serializable: {what} must be a non-empty str, got {value!r}")
    if ">" in value:  # the separator of the registered name: it could not be parsed back
        raise ValueError(f"register_keras_serializable: {what} must not contain '>', got {value!r}")
    return value


def register_keras_serializable(package: str = "Custom", name: str | None = None):
    """Decorator: register a class under "package>name" (name defaults to the class name), so
    configs naming it load without `custom_objects`. Registering another class under a taken name
    is an error; registering the same class again is allowed (a re-imported module)."""
    if isinstance(package, type):  # @register_keras_serializable without the parentheses
        raise TypeError("register_keras_serializable is called first: write @register_keras_serializable() "
                        "(or @register_keras_serializable(package='MyPackage')) above the class")
    _check_part(package, "package")
    if name is not None:
        _check_part(name, "name")

    def decorator(obj):
        if not isinstance(obj, type):
            raise TypeError(
                f"register_keras_serializable registers classes (a Layer or Model subclass), got {obj!r}; "
                "functions in configs are not supported"
            )
        key = f"{package}>{name or obj.__name__}"
        with _lock:
            known = _by_name.get(key)
            # Same module and qualified name: the same class defined again (a reloaded module or
            # a re-run notebook cell), which replaces the old definition as Keras does.
            if known is not None and known is not obj and (known.__module__, known.__qualname__) != (
                    obj.__module__, obj.__qualname__):
                raise ValueError(
                    f"register_keras_serializable: {key!r} is already registered to {known.__module__}."
                    f"{known.__qualname__}; pass another package= or name="
                )
            _by_name[key] = obj
            _by_class[obj] = key
        return obj

    return decorator


def get_registered_name(cls) -> str:
    """"package>Name" for a registered class, else the class name (as Keras)."""
    return _by_class.get(cls, getattr(cls, "__name__", str(cls)))


def get_registered_object(name: str, custom_objects: dict | None = None):
    """The class `name` stands for in `custom_objects` or the registry, or None."""
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    return _by_name.get(name)


def get_custom_objects() -> dict[str, type]:
    """A copy of the registry ("package>Name" -> class)."""
    with _lock:
        return dict(_by_name)


def check_custom_objects(custom_objects) -> dict:
    """`custom_objects` validated: None or a dict of str -> class."""
    if custom_objects is None:
        return {}
    if not isinstance(custom_objects, dict):
        raise TypeError(f"custom_objects must be a dict of name -> class, got {type(custom_objects).__name__}")
    for key, value in custom_objects.items():
        if not isinstance(key, str):
            raise TypeError(f"custom_objects keys must be class names (str), got {key!r}")
        if not isinstance(value, type):
            raise TypeError(f"custom_objects[{key!r}] must be a class, got {type(value).__name__}")
    return custom_objects


def resolve(class_name: str, registered_name, custom_objects: dict):
    """The user class a config entry names: by class name or registered name in `custom_objects`,
    then by registered name in the registry, then the one registered class of that class name."""
    for key in (class_name, registered_name):
        if isinstance(key, str) and key in custom_objects:
            return custom_objects[key]
    with _lock:
        if isinstance(registered_name, str) and registered_name in _by_name:
            return _by_name[registered_name]
        matches = [cls for key, cls in _by_name.items() if key.split(">", 1)[1] == class_name]
    return matches[0] if len(matches) == 1 else None
