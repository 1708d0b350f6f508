"""Keras's activation layers with their own classes: ReLU, LeakyReLU, ELU, Softmax.

Each is an `Activation` whose function the class fixes, with Keras 3's arguments and defaults
(LeakyReLU's slope is 0.3 here, as in Keras, while the `leaky_relu` function's is 0.2). Arguments the
kernels cannot honour (a ReLU `max_value`, a Softmax over another axis) are a ValueError saying so.
"""

from __future__ import annotations

import math

from .base import Layer
from .core import Activation


def _slope(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return float(value)


class _FixedActivation(Activation):
    """An Activation whose function is fixed by its class: its config holds the class's own arguments."""

    def get_config(self):
        return Layer.get_config(self)


class ReLU(_FixedActivation):
    """max(x, 0), or negative_slope * x below 0 (Keras's ReLU; max_value and threshold: defaults only)."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        if max_value is not None:
            raise ValueError(f"ReLU: max_value is not supported (got {max_value!r}); expected None")
        if threshold != 0.0:
            raise ValueError(f"ReLU: threshold is not supported (got {threshold!r}); expected 0.0")
        slope = _slope(negative_slope, "ReLU negative_slope")
        if slope < 0:
            raise ValueError(f"ReLU: negative_slope must be >= 0, got {negative_slope!r}")
        super().__init__("leaky_relu" if slope else "relu", **kwargs)
        self.alpha = slope

    def get_config(self):
        return {**super().get_config(), "max_value": None, "negative_slope": self.alpha, "threshold": 0.0}


class LeakyReLU(_FixedActivation):
    """x above 0, negative_slope * x below (Keras 3 default 0.3; `alpha` is the Keras 2 name)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
        super().__init__("leaky_relu", **kwargs)
        self.alpha = _slope(negative_slope, "LeakyReLU negative_slope")

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.alpha}


class ELU(_FixedActivation):
    """x above 0, alpha * (exp(x) - 1) below."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__("elu", **kwargs)
        self.alpha = _slope(alpha, "ELU alpha")

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(_FixedActivation):
    """softmax over the last axis (the only axis supported)."""

    def __init__(self, axis=-1, **kwargs):
        if axis != -1:
            raise ValueError(f"Softmax: only axis=-1 (the last axis) is supported, got {axis!r}")
        super().__init__("softmax", **kwargs)

    def get_config(self):
        return {**super().get_config(), "axis": -1}
