"""`keras.random`: random tensors with Keras 3's seeding (`aiaas_core.keras.random`).

`seed` is None (the global generator, see keras.utils.set_random_seed), an int (the same int
gives the same draw every call, as in Keras 3) or a `SeedGenerator` (a stream that moves on with
each draw: what layers keep to get fresh noise each step). TensorFlow's seeding, where an op seed
gives a new draw per call, is `tf.random` (aiaas_core.random).
"""

from __future__ import annotations

import numpy as np

from ..ops import array_ops as _a
from ..ops import nn_ops as _n
from ..ops import random_ops as _r
from ..ops.random_ops import SeedGenerator
from ..ops.tensor import as_tensor_value

__all__ = ["SeedGenerator", "normal", "uniform", "truncated_normal", "randint", "shuffle", "dropout", "categorical"]


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    return _r.normal(shape, mean, stddev, dtype, seed)


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    return _r.uniform(shape, minval, maxval, dtype, seed)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    return _r.truncated_normal(shape, mean, stddev, dtype, seed)


def randint(shape, minval, maxval, dtype="int32", seed=None):
    return _r.randint(shape, minval, maxval, dtype, seed)


def shuffle(x, axis=0, seed=None):
    """A random permutation of the entries along `axis`."""
    v = as_tensor_value(x)
    if v.ndim == 0:
        raise ValueError("shuffle: needs a tensor of rank >= 1, got a scalar")
    ax = _a._axis(axis, v.ndim, "shuffle")
    order = _r._generator(seed).permutation(v.shape[ax])
    return _a.gather(x, order, axis=ax)


def dropout(inputs, rate, noise_shape=None, seed=None):
    return _n.dropout(inputs, rate, noise_shape, seed)


def categorical(logits, num_samples, dtype="int32", seed=None):
    return _r.categorical(logits, num_samples, np.dtype(dtype), seed)
