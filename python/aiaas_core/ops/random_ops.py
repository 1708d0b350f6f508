"""Random tensors (tf.random / keras.random): drawn from the process-wide Keras generator, or from
a seed (an int, or a keras.random.SeedGenerator that advances on every draw)."""

from __future__ import annotations

import numpy as np

from .. import seeding

from .array_ops import _dims, _dt, gather
from .tensor import as_tensor_value, wrap


class SeedGenerator:
    """keras.random.SeedGenerator: a seeded stream; each draw that takes it moves it on."""

    def __init__(self, seed=None, name=None, **kwargs):
        self.seed = seed
        self.name = name
        self._rng = np.random.default_rng(seed if seed is not None else seeding.derived_seed(0x5EED6E))

    def next(self) -> np.random.Generator:
        return self._rng

    def get_config(self) -> dict:
        return {"seed": self.seed}


def _generator(seed) -> np.random.Generator:
    if seed is None:
        return seeding.rng()
    if isinstance(seed, SeedGenerator):
        return seed.next()
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed))
    raise TypeError(f"seed must be None, an int or a keras.random.SeedGenerator, got {type(seed).__name__}")


def _finite(op, **values):
    out = []
    for name, v in values.items():
        arr = as_tensor_value(v)
        if arr.ndim:
            raise ValueError(f"{op}: {name} must be a scalar, got shape {arr.shape}")
        if not np.isfinite(arr):
            raise ValueError(f"{op}: {name} must be finite, got {v!r}")
        out.append(float(arr))
    return out


def _float_dt(dtype, op):
    dt = _dt(dtype)
    if dt.kind != "f":
        raise TypeError(f"{op}: dtype must be a float type, got {dt}")
    return dt


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None, name=None):
    dt = _float_dt(dtype, "normal")
    mean, stddev = _finite("normal", mean=mean, stddev=stddev)
    draw = _generator(seed).standard_normal(_dims(shape)) * float(stddev) + float(mean)
    return wrap(draw.astype(dt))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None, name=None):
    _float_dt(dtype, "truncated_normal")
    mean, stddev = _finite("truncated_normal", mean=mean, stddev=stddev)
    rng = _generator(seed)
    dims = _dims(shape)
    draw = rng.standard_normal(dims)
    bad = np.abs(draw) > 2
    while bad.any():  # redraw beyond two standard deviations, as tf.random.truncated_normal
        draw[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(draw) > 2
    return wrap((draw * float(stddev) + float(mean)).astype(_dt(dtype)))


def uniform(shape, minval=0.0, maxval=None, dtype=None, seed=None, name=None):
    dt = _dt(dtype)
    rng = _generator(seed)
    if dt.kind in "iu":
        if maxval is None:
            raise ValueError("uniform: integer dtypes need maxval")
        lo, hi = _finite("uniform", minval=minval, maxval=maxval)
        if not lo < hi:
            raise ValueError(f"uniform: minval ({minval}) must be less than maxval ({maxval})")
        return wrap(rng.integers(int(lo), int(hi), size=_dims(shape)).astype(dt))
    if dt.kind != "f":
        raise TypeError(f"uniform: dtype must be a float or integer type, got {dt}")
    lo, hi = _finite("uniform", minval=minval, maxval=1.0 if maxval is None else maxval)
    if not lo < hi:
        raise ValueError(f"uniform: minval ({lo}) must be less than maxval ({hi})")
    return wrap(rng.uniform(lo, hi, size=_dims(shape)).astype(dt))


def randint(shape, minval, maxval, dtype="int32", seed=None):
    return uniform(shape, minval, maxval, dtype=dtype, seed=seed)


def shuffle(value, seed=None, name=None):
    """A random permutation along the first axis."""
    v = as_tensor_value(value)
    order = _generator(seed).permutation(len(v)) if v.ndim else np.zeros(0, np.int64)
    return gather(value, order, axis=0) if v.ndim else wrap(v)


def categorical(logits, num_samples, dtype=None, seed=None, name=None):
    """Class draws from unnormalised log-probabilities [batch, classes] -> [batch, num_samples]."""
    z = as_tensor_value(logits).astype(np.float64)
    if z.ndim != 2 or z.shape[1] == 0:
        raise ValueError(f"categorical: logits must be [batch, classes] with at least one class, got shape {z.shape}")
    if np.isnan(z).any() or (z == np.inf).any():
        raise ValueError("categorical: logits must not be NaN or +inf")
    if int(num_samples) < 0:
        raise ValueError(f"categorical: num_samples must be >= 0, got {num_samples}")
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    rng = _generator(seed)
    out = np.stack([rng.choice(p.shape[-1], size=int(num_samples), p=row) for row in p]) if len(p) else \
        np.zeros((0, int(num_samples)), np.int64)
    return wrap(out.astype(_dt(dtype or "int64")))
