"""keras.constraints: projections applied to a weight after each optimizer update (Keras 3
formulas, names and defaults). They run in numpy, in place, on the weight's array."""

from __future__ import annotations

import weakref

import numpy as np

_EPS = 1e-7  # Keras backend epsilon


def _axis(axis, owner):
    if isinstance(axis, bool) or not (isinstance(axis, (int, np.integer)) or
                                      (isinstance(axis, (list, tuple)) and all(isinstance(a, int) for a in axis))):
        raise TypeError(f"{owner}: axis must be an int or a list of ints, got {axis!r}")
    return int(axis) if isinstance(axis, (int, np.integer)) else list(axis)


def _norms(w, axis):
    return np.sqrt(np.sum(np.square(w), axis=tuple(axis) if isinstance(axis, list) else axis, keepdims=True))


class Constraint:
    """Base: `constraint(w)` -> the projected weight (a new array); `get_config` / `from_config`."""

    def __call__(self, w):
        return w

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


class MaxNorm(Constraint):
    """Rescale each slice along `axis` whose L2 norm exceeds max_value (Keras 3: max_value=2, axis=0)."""

    def __init__(self, max_value=2, axis=0):
        if isinstance(max_value, bool) or not isinstance(max_value, (int, float, np.integer, np.floating)) or max_value < 0:
            raise ValueError(f"MaxNorm: max_value must be a number >= 0, got {max_value!r}")
        self.max_value = max_value
        self.axis = _axis(axis, "MaxNorm")

    def __call__(self, w):
        w = np.asarray(w)
        norms = _norms(w, self.axis)
        desired = np.clip(norms, 0, self.max_value)
        return w * (desired / (_EPS + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Negative entries become 0."""

    def __call__(self, w):
        w = np.asarray(w)
        return w * (w >= 0)


class UnitNorm(Constraint):
    """Each slice along `axis` divided by its L2 norm (Keras 3 default axis=0)."""

    def __init__(self, axis=0):
        self.axis = _axis(axis, "UnitNorm")

    def __call__(self, w):
        w = np.asarray(w)
        return w / (_EPS + _norms(w, self.axis))

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Norms along `axis` pulled into [min_value, max_value] at `rate` (Keras 3 defaults 0, 1, 1, 0)."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        for what, v in (("min_value", min_value), ("max_value", max_value), ("rate", rate)):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or v < 0:
                raise ValueError(f"MinMaxNorm: {what} must be a number >= 0, got {v!r}")
        self.min_value, self.max_value, self.rate = float(min_value), float(max_value), float(rate)
        self.axis = _axis(axis, "MinMaxNorm")

    def __call__(self, w):
        w = np.asarray(w)
        norms = _norms(w, self.axis)
        desired = self.rate * np.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return w * (desired / (_EPS + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm

_CLASSES = {"MaxNorm": MaxNorm, "NonNeg": NonNeg, "UnitNorm": UnitNorm, "MinMaxNorm": MinMaxNorm}
_NAMES = {"max_norm": MaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm, "min_max_norm": MinMaxNorm, **_CLASSES}


def get(identifier):
    """A Constraint from None, a name ("max_norm", "non_neg", "unit_norm"), a config or an instance."""
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier)
        if cls is None:
            raise ValueError(f"unknown constraint {identifier!r}; known: {', '.join(_NAMES)}")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise TypeError(f"a constraint must be None, a name ({', '.join(_NAMES)}), a config or a "
                    f"keras.constraints.Constraint, got {identifier!r}")


def serialize(constraint) -> dict | None:
    if constraint is None:
        return None
    if not isinstance(constraint, Constraint):
        raise TypeError(f"expected a Constraint, got {type(constraint).__name__}")
    return {"module": "keras.constraints", "class_name": type(constraint).__name__,
            "config": constraint.get_config(), "registered_name": None}


def deserialize(config):
    if isinstance(config, str):
        return get(config)
    if not isinstance(config, dict) or config.get("class_name") not in _CLASSES:
        raise ValueError(f"unknown constraint config {config!r}; known: {', '.join(_CLASSES)}")
    inner = config.get("config") or {}
    if not isinstance(inner, dict):
        raise ValueError(f"constraint config must be an object, got {inner!r}")
    try:
        return _CLASSES[config["class_name"]].from_config(dict(inner))
    except TypeError as exc:
        raise ValueError(f"bad config for {config['class_name']}: {exc}") from None


# ---- constrained arrays: the optimizer sees plain arrays (the fused step passes `.value`s), so a
# layer registers each constrained weight's array here and Optimizer.apply projects it after the
# update. Keyed by id with a weak reference, so a dropped layer leaves nothing behind.
_attached: dict[int, tuple] = {}


def attach(array: np.ndarray, constraint) -> None:
    if constraint is None:
        return
    key = id(array)
    _attached[key] = (weakref.ref(array, lambda _r, key=key: _attached.pop(key, None)), constraint)


def apply_to(params) -> None:
    """Project every registered array among `params` in place (after an optimizer update)."""
    if not _attached:
        return
    for p in params:
        entry = _attached.get(id(p))
        if entry is not None and entry[0]() is p:
            np.copyto(p, entry[1](p), casting="unsafe")
