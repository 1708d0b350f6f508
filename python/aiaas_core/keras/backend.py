"""Process-wide random state and per-thread training state of the Keras API.

The training flag, the dropout step seed (deterministic resumed fits) and the call log live in a
thread-local `state`, so a service thread predicting with one model is not affected by another
thread training. Gradients are recorded by the op engine (aiaas_core.ops.autodiff), not here."""

from __future__ import annotations

import threading

import numpy as np

from ..ops import random_ops as _random_ops
from ..seeding import derived_seed, rng, seeded, set_random_seed  # noqa: F401 - Keras's backend names
from .variables import Variable  # noqa: F401 - keras.backend.Variable (Keras 3's KerasVariable)


class _State(threading.local):
    training: bool = False            # default for layers called without `training=`
    step_seed: int | None = None      # dropout seed base of the current step (deterministic resume)
    step_calls: int = 0
    call_log: list | None = None      # when a list, layer calls append (layer, input, output): summary, tracing
    call_depth: int = 0               # nesting of composite calls (losses are cleared at depth 0)


state = _State()
_NAME_COUNTS: dict[str, int] = {}  # per-process layer names: "dense", "dense_1"... (clear_session restarts)


def unique_name(base: str) -> str:
    """"dense", then "dense_1", "dense_2"... (Keras's per-process naming)."""
    n = _NAME_COUNTS.get(base, 0)
    _NAME_COUNTS[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def dropout_seed() -> int:
    """Seed for one dropout call: deterministic within a fit step, else drawn from the generator."""
    s = state
    if s.step_seed is None:
        return int(rng().integers(0, 2**31))
    s.step_calls += 1
    return (s.step_seed + 7919 * s.step_calls) % (2**31)


def clear_session() -> None:
    """Keras's clear_session: start layer names afresh ("dense", not "dense_7") and reset this
    thread's training state. Models already built keep working."""
    _NAME_COUNTS.clear()
    state.training, state.step_seed, state.step_calls, state.call_log, state.call_depth = False, None, 0, None, 0


def floatx() -> str:
    """The float type of every weight and activation (only float32 is supported)."""
    return "float32"


_EPSILON = [1e-7]


def epsilon() -> float:
    """Keras's fuzz factor (1e-7 unless set_epsilon changed it)."""
    return _EPSILON[0]


def set_epsilon(value) -> None:
    v = float(value)
    if not (v > 0 and np.isfinite(v)):
        raise ValueError(f"epsilon must be a small positive number, got {value!r}")
    _EPSILON[0] = v


def image_data_format() -> str:
    """Images are channels-last (NHWC) everywhere."""
    return "channels_last"


def backend() -> str:
    """See keras.config.backend."""
    return "tensorflow"


def int_shape(x) -> tuple:
    """The static shape of a tensor or array as a tuple (None where unknown)."""
    return tuple(x.shape)


def get_value(x):
    """A variable's or tensor's value as a numpy array."""
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


def set_value(x, value) -> None:
    x.assign(value)


def random_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """tf.keras 2's keras.backend.random_normal (Keras 3: keras.random.normal)."""
    return _random_ops.normal(shape, mean, stddev, dtype, seed)


def random_uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """tf.keras 2's keras.backend.random_uniform (Keras 3: keras.random.uniform)."""
    return _random_ops.uniform(shape, minval, maxval, dtype, seed)
