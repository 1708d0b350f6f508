"""Weight initializers with Keras names and formulas; all draw from `backend.rng()` (seedable)."""

from __future__ import annotations

import math

import numpy as np

from . import backend


def _fans(shape: tuple[int, ...]) -> tuple[float, float]:
    """Keras's fan rule: dense [in,out]; conv [*receptive, in, out]."""
    if len(shape) < 1:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


class Initializer:
    """Base: `init(shape) -> float32 array`; `get_config()` / `from_config()` as Keras."""

    def __call__(self, shape, dtype=None) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "Initializer":
        return cls(**config)


class Zeros(Initializer):
    def __call__(self, shape, dtype=None):
        return np.zeros(shape, np.float32)


class Ones(Initializer):
    def __call__(self, shape, dtype=None):
        return np.ones(shape, np.float32)


class Constant(Initializer):
    def __init__(self, value: float = 0.0):
        self.value = float(value)

    def __call__(self, shape, dtype=None):
        return np.full(shape, self.value, np.float32)

    def get_config(self):
        return {"value": self.value}


class _Seeded(Initializer):
    def __init__(self, seed: int | None = None):
        self.seed = seed

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed) if self.seed is not None else backend.rng()

    def get_config(self):
        return {"seed": self.seed}


class RandomUniform(_Seeded):
    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        super().__init__(seed)
        self.minval, self.maxval = float(minval), float(maxval)

    def __call__(self, shape, dtype=None):
        return self._rng().uniform(self.minval, self.maxval, shape).astype(np.float32)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(_Seeded):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def __call__(self, shape, dtype=None):
        return self._rng().normal(self.mean, self.stddev, shape).astype(np.float32)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class _Variance(_Seeded):
    """Keras VarianceScaling: scale / fan, uniform limit sqrt(3 * var), truncated normal std / .8796."""

    scale, mode, distribution = 1.0, "fan_in", "uniform"

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = _fans(tuple(shape))
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        var = self.scale / max(1.0, fan)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * var)
            return self._rng().uniform(-limit, limit, shape).astype(np.float32)
        std = math.sqrt(var) / 0.87962566103423978
        out = self._rng().normal(0.0, 1.0, shape)
        bad = np.abs(out) > 2
        while bad.any():  # redraw outside two standard deviations, as a truncated normal
            out[bad] = self._rng().normal(0.0, 1.0, int(bad.sum()))
            bad = np.abs(out) > 2
        return (out * std).astype(np.float32)


class GlorotUniform(_Variance):
    scale, mode, distribution = 1.0, "fan_avg", "uniform"


class GlorotNormal(_Variance):
    scale, mode, distribution = 1.0, "fan_avg", "normal"


class HeUniform(_Variance):
    scale, mode, distribution = 2.0, "fan_in", "uniform"


class HeNormal(_Variance):
    scale, mode, distribution = 2.0, "fan_in", "normal"


class LecunUniform(_Variance):
    scale, mode, distribution = 1.0, "fan_in", "uniform"


class LecunNormal(_Variance):
    scale, mode, distribution = 1.0, "fan_in", "normal"


class Orthogonal(_Seeded):
    """Keras Orthogonal: QR of a normal matrix [prod(shape[:-1]), shape[-1]], sign-corrected.

    Orthonormal columns when rows >= cols, else orthonormal rows: an LSTM's recurrent kernel
    [H, 4H] gets U U^T = I over all four gates together (its per-gate [H, H] blocks are not
    orthogonal), exactly as in Keras.
    """

    def __init__(self, gain: float = 1.0, seed: int | None = None):
        super().__init__(seed)
        self.gain = float(gain)

    def __call__(self, shape, dtype=None):
        shape = tuple(shape)
        if len(shape) < 2:  # Keras refuses too: a vector has no orthogonal rows or columns to speak of
            raise ValueError(
                f"Orthogonal: the tensor to initialize must be at least two-dimensional, got shape {shape}"
            )
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = self._rng().normal(0.0, 1.0, (max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q[:rows, :cols]).reshape(shape).astype(np.float32)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


_BY_NAME = {
    "zeros": Zeros, "ones": Ones, "constant": Constant,
    "random_uniform": RandomUniform, "random_normal": RandomNormal,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal, "orthogonal": Orthogonal,
}
_BY_CLASS = {cls.__name__: cls for cls in _BY_NAME.values()}


def get(identifier) -> Initializer:
    """An initializer from a Keras name, a `{"class_name", "config"}` dict or an instance."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _BY_CLASS.get(identifier)
        if cls is None:
            raise ValueError(
                f"unknown initializer {identifier!r}; known initializers: {', '.join(_BY_NAME)}"
            )
        return cls()
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        cls = _BY_CLASS.get(name) or _BY_NAME.get(name)
        if cls is None:
            raise ValueError(
                f"unknown initializer class_name {name!r}; known: {', '.join(_BY_CLASS)}"
            )
        try:
            return cls.from_config(dict(identifier.get("config") or {}))
        except TypeError as exc:
            raise ValueError(f"bad config for initializer {name}: {exc}") from None
    raise TypeError(f"initializer must be a name, a config dict or an Initializer, got {type(identifier).__name__}")


def serialize(init: Initializer) -> dict:
    return {"class_name": type(init).__name__, "config": init.get_config()}
