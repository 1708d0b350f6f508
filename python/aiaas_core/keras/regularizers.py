"""keras.regularizers: weight and activity penalties (Keras 3 names, defaults and configs).

A regularizer maps a weight (or a layer's output) to a scalar penalty written with ops, so its
gradient comes from the tape; a layer's weight penalties are part of `layer.losses`, which
`compute_loss` adds to the compiled loss."""

from __future__ import annotations

import numpy as np

from ..ops import math_ops as _m


def _strength(value, what: str, owner: str) -> float:
    if value is None:
        return 0.0  # Keras 3 accepts None as "no penalty" for L1L2's factors
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or value < 0:
        raise ValueError(f"{owner}: {what} must be a number >= 0, got {value!r}")
    return float(value)


class Regularizer:
    """Base: `regularizer(x)` -> a scalar penalty; `get_config` / `from_config`."""

    def __call__(self, x):
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(x)")

    def get_config(self) -> dict:
        raise NotImplementedError(f"{type(self).__name__} must implement get_config()")

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


class L1L2(Regularizer):
    """l1 * sum(|x|) + l2 * sum(x^2) (Keras 3 defaults 0.0 and 0.0)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _strength(l1, "l1", type(self).__name__)
        self.l2 = _strength(l2, "l2", type(self).__name__)

    def __call__(self, x):
        total = None
        if self.l1:
            total = _m.multiply(_m.sum(_m.abs(x)), self.l1)
        if self.l2:
            term = _m.multiply(_m.sum(_m.square(x)), self.l2)
            total = term if total is None else _m.add(total, term)
        if total is None:  # both factors 0: a zero that still depends on x keeps the graph uniform
            total = _m.multiply(_m.sum(x), 0.0)
        return total

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """l1 * sum(|x|) (Keras 3 default l1=0.01)."""

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """l2 * sum(x^2) (Keras 3 default l2=0.01)."""

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


# Keras 3 spells the functions as aliases of the classes: regularizers.l2(0.01) is an L2
l1, l2, l1_l2 = L1, L2, L1L2

_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2}
_NAMES = {"l1": L1, "l2": L2, "l1_l2": L1L2, "L1": L1, "L2": L2, "L1L2": L1L2}


def get(identifier):
    """A Regularizer from None, a name ("l1", "l2", "l1_l2"), a config dict or an instance."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier)
        if cls is None:
            raise ValueError(f"unknown regularizer {identifier!r}; known: {', '.join(_NAMES)}")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise TypeError(f"a regularizer must be None, a name ({', '.join(_NAMES)}), a config or a "
                    f"keras.regularizers.Regularizer, got {identifier!r}")


def serialize(regularizer) -> dict | None:
    if regularizer is None:
        return None
    if not isinstance(regularizer, Regularizer):
        raise TypeError(f"expected a Regularizer, got {type(regularizer).__name__}")
    return {"module": "keras.regularizers", "class_name": type(regularizer).__name__,
            "config": regularizer.get_config(), "registered_name": None}


def deserialize(config):
    if isinstance(config, str):
        return get(config)
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"a regularizer config must be {{'class_name', 'config'}}, got {config!r}")
    cls = _CLASSES.get(config["class_name"])
    if cls is None:
        from .engine import registry
        cls = registry.resolve(config["class_name"], config.get("registered_name"), {})
        if not (isinstance(cls, type) and issubclass(cls, Regularizer)):
            raise ValueError(f"unknown regularizer {config['class_name']!r}; known: {', '.join(_CLASSES)}")
    inner = config.get("config") or {}
    if not isinstance(inner, dict):
        raise ValueError(f"regularizer config must be an object, got {inner!r}")
    try:
        return cls.from_config(dict(inner))
    except TypeError as exc:
        raise ValueError(f"bad config for {config['class_name']}: {exc}") from None
