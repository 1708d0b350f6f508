"""The process-wide random state every random draw of the package uses: weight initializers,
shuffles (fit, tf.data), dropout, keras.random / tf.random. Below `data`, `ops` and `keras`, so each of
them can seed from it (`keras.utils.set_random_seed` and `tf.random.set_seed` set it)."""

from __future__ import annotations

import random

import numpy as np

_rng: np.random.Generator = np.random.default_rng()
_seed: int | None = None


def set_random_seed(seed: int) -> None:
    """Seed everything random in aiaas_core (initializers, shuffling, dropout), Python and numpy."""
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
    """The generator every unseeded draw uses."""
    return _rng


def seeded() -> bool:
    return _seed is not None


def current_seed() -> int | None:
    """The global seed, or None when none was set."""
    return _seed


def derived_seed(*parts: int) -> int:
    """A seed that depends only on the global seed and `parts` (so a resumed fit shuffles alike).

    Without a global seed, a fresh random base is drawn from the generator.
    """
    base = _seed if _seed is not None else int(_rng.integers(0, 2**31))
    return int(np.random.SeedSequence([base, *[int(p) for p in parts]]).generate_state(1)[0])
