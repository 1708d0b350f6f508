"""Random tensors (tf.random / keras.random): drawn from the process-wide Keras generator, or from
a seed (an int, or a keras.random.SeedGenerator that advances on every draw)."""

from __future__ import annotations

import numpy as np

from .array_ops import _dims, _dt, gather
from .tensor import as_tensor_value, wrap


class SeedGenerator:
    """keras.random.SeedGenerator: a seeded stream; each draw that takes it moves it on."""

    def __init__(self, seed=None, name=None, **kwargs):
        from ..keras import backend
        self.seed = seed
        self.name = name
        self._rng = np.random.default_rng(seed if seed is not None else backend.derived_seed(0x5EED6E))

    def next(self) -> np.random.Generator:
        return self._rng

    def get_config(self) -> dict:
        return {"seed": self.seed}


def _generator(seed) -> np.random.Generator:
    from ..keras import backend
    if seed is None:
        return backend.rng()
    if isinstance(seed, SeedGenerator):
        return seed.next()
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed))
    raise TypeError(f"seed must be None, an int or a keras.random.SeedGenerator, got {type(seed).__name__}")


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None, name=None):
    dt = _dt(dtype)
    draw = _generator(seed).standard_normal(_dims(shape)) * float(stddev) + float(mean)
    return wrap(draw.astype(dt))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None, name=None):
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
        return wrap(rng.integers(int(minval), int(maxval), size=_dims(shape)).astype(dt))
    hi = 1.0 if maxval is None else float(maxval)
    return wrap(rng.uniform(float(minval), hi, size=_dims(shape)).astype(dt))


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
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    rng = _generator(seed)
    out = np.stack([rng.choice(p.shape[-1], size=int(num_samples), p=row) for row in p])
    return wrap(out.astype(_dt(dtype or "int64")))
