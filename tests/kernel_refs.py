"""Reference helpers the kernel tests share: float64 activations and running under a thread count."""

from __future__ import annotations

import math

import numpy as np

import aiaas_core


def act64(z: np.ndarray, name: str, alpha: float) -> np.ndarray:
    """The activation `name` in float64, by Keras's definitions (alpha for leaky_relu and elu)."""
    z = np.asarray(z, dtype=np.float64)
    if name == "linear":
        return z
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function without overflow
    if name == "tanh":
        return np.tanh(z)
    if name == "softmax":
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    if name == "leaky_relu":
        return np.where(z > 0, z, alpha * z)
    if name == "elu":
        return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))
    if name == "gelu":
        erf = np.vectorize(math.erf)
        return 0.5 * z * (1.0 + erf(z / math.sqrt(2.0)))
    raise AssertionError(f"no reference for activation {name!r}")


def central_diff(f, a: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """d f / d a for a scalar f of a float64 array, one central difference per element."""
    a = a.astype(np.float64).copy()
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        keep = a[i]
        a[i] = keep + h
        up = f(a)
        a[i] = keep - h
        down = f(a)
        a[i] = keep
        g[i] = (up - down) / (2 * h)
    return g


def on_threads(n: int, f):
    """f() with the pool at n threads, restored afterwards."""
    before = aiaas_core.get_num_threads()
    try:
        aiaas_core.set_num_threads(n)
        return f()
    finally:
        aiaas_core.set_num_threads(before)
