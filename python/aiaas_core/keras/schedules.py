"""keras.optimizers.schedules: learning rates as functions of the optimizer's step (Keras 3
formulas, names and defaults). An optimizer given one evaluates it at `optimizer.iterations`
before each update; the schedule is saved in the optimizer config as {"class_name", "config"}."""

from __future__ import annotations

import math

import numpy as np


def _num(value, what: str, owner: str, *, positive: bool = False, nonneg: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(value)):
        raise TypeError(f"{owner}: {what} must be a finite number, got {value!r}")
    value = float(value)
    if positive and value <= 0:
        raise ValueError(f"{owner}: {what} must be > 0, got {value}")
    if nonneg and value < 0:
        raise ValueError(f"{owner}: {what} must be >= 0, got {value}")
    return value


def _step(step) -> float:
    value = float(np.asarray(step).reshape(-1)[0]) if np.ndim(step) else float(step)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"a learning rate schedule takes a step >= 0, got {step!r}")
    return value


class LearningRateSchedule:
    """Base: `schedule(step)` -> the learning rate at that step; `get_config` / `from_config`."""

    def __call__(self, step) -> float:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(step)")

    def get_config(self) -> dict:
        raise NotImplementedError(f"{type(self).__name__} must implement get_config()")

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


class ExponentialDecay(LearningRateSchedule):
    """initial_learning_rate * decay_rate ^ (step / decay_steps) (the exponent floored if staircase)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        owner = type(self).__name__
        self.initial_learning_rate = _num(initial_learning_rate, "initial_learning_rate", owner)
        self.decay_steps = _num(decay_steps, "decay_steps", owner, positive=True)
        self.decay_rate = _num(decay_rate, "decay_rate", owner)
        self.staircase = bool(staircase)
        self.name = name

    def _fraction(self, step):
        p = _step(step) / self.decay_steps
        return math.floor(p) if self.staircase else p

    def __call__(self, step):
        return self.initial_learning_rate * self.decay_rate ** self._fraction(step)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class InverseTimeDecay(ExponentialDecay):
    """initial_learning_rate / (1 + decay_rate * step / decay_steps) (the ratio floored if staircase)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return self.initial_learning_rate / (1 + self.decay_rate * self._fraction(step))


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] up to and including boundaries[0], values[1] up to boundaries[1], ..., values[-1] after."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        owner = type(self).__name__
        if not isinstance(boundaries, (list, tuple)) or not isinstance(values, (list, tuple)):
            raise TypeError(f"{owner}: boundaries and values must be lists, got {boundaries!r} and {values!r}")
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"{owner}: values must have one more entry than boundaries, got "
                             f"{len(values)} values and {len(boundaries)} boundaries")
        self.boundaries = [_num(b, "boundaries", owner) for b in boundaries]
        if any(a > b for a, b in zip(self.boundaries, self.boundaries[1:])):
            raise ValueError(f"{owner}: boundaries must be increasing, got {boundaries!r}")
        self.values = [_num(v, "values", owner) for v in values]
        self.name = name

    def __call__(self, step):
        s = _step(step)
        for boundary, value in zip(self.boundaries, self.values):
            if s <= boundary:
                return value
        return self.values[-1]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """(initial - end) * (1 - step / decay_steps) ^ power + end, the step held at decay_steps, or
    with cycle=True decay_steps stretched to the next multiple of itself past the step."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name="PolynomialDecay"):
        owner = type(self).__name__
        self.initial_learning_rate = _num(initial_learning_rate, "initial_learning_rate", owner)
        self.decay_steps = _num(decay_steps, "decay_steps", owner, positive=True)
        self.end_learning_rate = _num(end_learning_rate, "end_learning_rate", owner)
        self.power = _num(power, "power", owner)
        self.cycle = bool(cycle)
        self.name = name

    def __call__(self, step):
        s = _step(step)
        decay_steps = self.decay_steps
        if self.cycle:
            # Keras: at step 0 the multiplier is 1, not 0
            decay_steps = decay_steps * (1.0 if s == 0 else math.ceil(s / decay_steps))
        else:
            s = min(s, decay_steps)
        frac = s / decay_steps
        return (self.initial_learning_rate - self.end_learning_rate) * (1 - frac) ** self.power + self.end_learning_rate

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Optional linear warmup from initial_learning_rate to warmup_target over warmup_steps, then
    cosine decay over decay_steps to alpha times the peak (Keras 3)."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        owner = type(self).__name__
        self.initial_learning_rate = _num(initial_learning_rate, "initial_learning_rate", owner)
        self.decay_steps = _num(decay_steps, "decay_steps", owner, positive=True)
        self.alpha = _num(alpha, "alpha", owner)
        self.warmup_target = None if warmup_target is None else _num(warmup_target, "warmup_target", owner)
        self.warmup_steps = _num(warmup_steps, "warmup_steps", owner, nonneg=True)
        if self.warmup_target is not None and self.warmup_steps == 0:
            raise ValueError(f"{owner}: warmup_target needs warmup_steps > 0")
        self.name = name

    def _decay(self, step, peak):
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return peak * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        s = _step(step)
        if self.warmup_target is None:
            return self._decay(min(s, self.decay_steps), self.initial_learning_rate)
        s = min(s, self.decay_steps + self.warmup_steps)
        if s < self.warmup_steps:
            return (self.warmup_target - self.initial_learning_rate) * (s / self.warmup_steps) + self.initial_learning_rate
        return self._decay(s - self.warmup_steps, self.warmup_target)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay restarted after first_decay_steps, each period t_mul times longer and its peak
    m_mul times lower (SGDR, Keras 3)."""

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0,
                 name="SGDRDecay"):
        owner = type(self).__name__
        self.initial_learning_rate = _num(initial_learning_rate, "initial_learning_rate", owner)
        self.first_decay_steps = _num(first_decay_steps, "first_decay_steps", owner, positive=True)
        self.t_mul = _num(t_mul, "t_mul", owner, positive=True)
        self.m_mul = _num(m_mul, "m_mul", owner)
        self.alpha = _num(alpha, "alpha", owner)
        self.name = name

    def __call__(self, step):
        frac = _step(step) / self.first_decay_steps
        if self.t_mul != 1.0:
            i_restart = math.floor(math.log(1.0 - frac * (1.0 - self.t_mul)) / math.log(self.t_mul))
            sum_r = (1.0 - self.t_mul ** i_restart) / (1.0 - self.t_mul)
            frac = (frac - sum_r) / self.t_mul ** i_restart
        else:
            i_restart = math.floor(frac)
            frac -= i_restart
        cosine = 0.5 * self.m_mul ** i_restart * (1.0 + math.cos(math.pi * frac))
        return self.initial_learning_rate * ((1 - self.alpha) * cosine + self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "first_decay_steps": self.first_decay_steps,
                "t_mul": self.t_mul, "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}


_CLASSES = {c.__name__: c for c in (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay, PolynomialDecay,
                                    CosineDecay, CosineDecayRestarts)}


def serialize(schedule: LearningRateSchedule) -> dict:
    """Keras 3's form: {"module", "class_name", "config", "registered_name"}."""
    if not isinstance(schedule, LearningRateSchedule):
        raise TypeError(f"expected a LearningRateSchedule, got {type(schedule).__name__}")
    return {"module": "keras.optimizers.schedules", "class_name": type(schedule).__name__,
            "config": schedule.get_config(), "registered_name": None}


def deserialize(config) -> LearningRateSchedule:
    """A built-in schedule (or one registered with keras.saving.register_keras_serializable) from
    `serialize()` output."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"a learning rate schedule config must be {{'class_name', 'config'}}, got {config!r}")
    cls = _CLASSES.get(config["class_name"])
    if cls is None:
        from .engine import registry
        cls = registry.resolve(config["class_name"], config.get("registered_name"), {})
        if not (isinstance(cls, type) and issubclass(cls, LearningRateSchedule)):
            raise ValueError(f"unknown learning rate schedule {config['class_name']!r}; known: {', '.join(_CLASSES)}")
    inner = config.get("config") or {}
    if not isinstance(inner, dict):
        raise ValueError(f"learning rate schedule config must be an object, got {inner!r}")
    try:
        return cls.from_config(dict(inner))
    except TypeError as exc:
        raise ValueError(f"bad config for {config['class_name']}: {exc}") from None
