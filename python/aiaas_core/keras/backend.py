"""Process-wide state of the Keras API: the random generator, the training flag and the tape.

The tape is how subclassed models train: while a training step runs, every built-in layer called
inside `Model.call` appends (layer, ctx, input, output) to the active tape, and the backward pass
replays those entries in reverse (DESIGN.md: "subclassed models record the layer calls they make").
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

_rng: np.random.Generator = np.random.default_rng()
_seed: int | None = None

# The tape of the training step in progress (None outside one) and the per-step dropout seed.
_tape: list | None = None
_step_seed: int | None = None
_step_calls: int = 0


def set_random_seed(seed: int) -> None:
    """Seed everything random in aiaas_core.keras (initializers, shuffling, dropout), Python and numpy."""
    global _rng, _seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    _seed = int(seed)
    _rng = np.random.default_rng(_seed)
    random.seed(_seed)
    np.random.seed(_seed % 2**32)


def rng() -> np.random.Generator:
    """The generator every initializer draws from."""
    return _rng


def derived_seed(*parts: int) -> int:
    """A seed that depends only on the global seed and `parts` (so a resumed fit shuffles alike).

    Without a global seed, a fresh random base is drawn once per call site via the generator.
    """
    base = _seed if _seed is not None else int(_rng.integers(0, 2**31))
    return int(np.random.SeedSequence([base, *[int(p) for p in parts]]).generate_state(1)[0])


def dropout_seed() -> int:
    """Seed for one dropout call: deterministic within a fit step, else drawn from the generator."""
    global _step_calls
    if _step_seed is None:
        return int(_rng.integers(0, 2**31))
    _step_calls += 1
    return (_step_seed + 7919 * _step_calls) % (2**31)


class TrainingStep:
    """Context manager for one recorded forward pass: sets the tape and the dropout step seed."""

    __slots__ = ("tape", "seed", "_saved")

    def __init__(self, seed: int | None):
        self.tape: list[Any] = []
        self.seed = seed

    def __enter__(self) -> list:
        global _tape, _step_seed, _step_calls, _training
        self._saved = (_tape, _step_seed, _step_calls, _training)
        _tape, _step_seed, _step_calls, _training = self.tape, self.seed, 0, True
        return self.tape

    def __exit__(self, *exc) -> None:
        global _tape, _step_seed, _step_calls, _training
        _tape, _step_seed, _step_calls, _training = self._saved


def current_tape() -> list | None:
    return _tape

# True while layers run in training mode without an explicit `training=` (fit, model(x, training=True)).
_training: bool = False

# When a list, every layer call appends (layer, output shape): how summary() sees subclassed models.
_shape_log: list | None = None
