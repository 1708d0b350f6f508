"""Activation functions by Keras name; each runs the Rust kernel `activation_forward`."""

from __future__ import annotations

import numpy as np

from .. import _core
from .._arrays import as_float32

# Names the Rust kernels implement (leaky_relu's default slope as Keras: 0.2; elu: 1.0).
KNOWN = ("linear", "relu", "sigmoid", "tanh", "softmax", "leaky_relu", "elu", "gelu")
DEFAULT_ALPHA = {"leaky_relu": 0.2, "elu": 1.0}
# The subset the recurrent kernels (LSTM, GRU, SimpleRNN cells) implement.
RECURRENT = ("linear", "relu", "sigmoid", "tanh", "leaky_relu", "elu")
# Activations whose derivative the fused dense kernel can take from its output.
FUSABLE_IN_DENSE = ("linear", "relu", "sigmoid", "tanh", "softmax", "leaky_relu", "elu")


def get(identifier) -> str:
    """Canonical activation name for `identifier` (None, a name, or a function of this module)."""
    if identifier is None:
        return "linear"
    if callable(identifier) and getattr(identifier, "__module__", None) == __name__:
        return identifier.__name__
    if callable(identifier) and not isinstance(identifier, str):
        # tf.nn.relu, keras.ops.relu...: the tensor functions of this package stand for the activation of
        # the same name, so a layer keeps its fused Rust kernel (their defaults are the Keras ones:
        # leaky_relu slope 0.2, elu alpha 1, tf.nn.gelu exact)
        name = getattr(identifier, "__name__", None)
        module = getattr(identifier, "__module__", None) or ""
        if name in KNOWN and module.split(".")[0] == __name__.split(".")[0]:
            return name
        raise TypeError(
            f"activation {name or type(identifier).__name__!r} is not one the built-in layers run: pass one of "
            f"{', '.join(KNOWN)} (a name, or the tf.nn / keras.activations function), or apply other functions with "
            "a Lambda or custom layer"
        )
    if not isinstance(identifier, str):
        raise TypeError(
            f"activation must be a name (one of {', '.join(KNOWN)}) or None, got {type(identifier).__name__}"
        )
    if identifier not in KNOWN:
        raise ValueError(f"unknown activation {identifier!r}; known activations: {', '.join(KNOWN)}")
    return identifier


def alpha_of(name: str) -> float:
    return DEFAULT_ALPHA.get(name, 0.0)


def _apply(x, name: str) -> np.ndarray:
    return _core.activation_forward(as_float32(x, "x"), name, alpha_of(name))


def linear(x):
    """Identity (as float32)."""
    return as_float32(x, "x")


def relu(x):
    """max(x, 0)."""
    return _apply(x, "relu")


def sigmoid(x):
    """1 / (1 + exp(-x))."""
    return _apply(x, "sigmoid")


def tanh(x):
    """Hyperbolic tangent."""
    return _apply(x, "tanh")


def softmax(x):
    """Softmax over the last axis."""
    return _apply(x, "softmax")


def leaky_relu(x):
    """x if x > 0 else 0.2 x (Keras's default slope)."""
    return _apply(x, "leaky_relu")


def elu(x):
    """x if x > 0 else exp(x) - 1."""
    return _apply(x, "elu")


def gelu(x):
    """Gaussian error linear unit."""
    return _apply(x, "gelu")
