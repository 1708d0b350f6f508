"""Optimizers (Keras 3 formulas): one in-place Rust call updates every parameter per step."""

from __future__ import annotations

import sys as _sys

import numpy as np

from .. import _core
from . import constraints, schedules
from .schedules import LearningRateSchedule

# `from keras.optimizers.schedules import ExponentialDecay`: the submodule importable by its Keras path
_sys.modules.setdefault(__name__ + ".schedules", schedules)


def _number(value, what: str, *, low: float = 0.0, high: float | None = None, open_low: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{what} must be a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < low or (open_low and value == low) or (high is not None and value > high):
        bound = f"{'>' if open_low else '>='} {low}" + (f" and <= {high}" if high is not None else "")
        raise ValueError(f"{what} must be {bound}, got {value}")
    return value


class Optimizer:
    """Base. State ("slots") is created on the first `apply`, one array per parameter per slot."""

    slot_names: tuple[str, ...] = ()

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 name=None, **kwargs):
        if "lr" in kwargs:  # tf.keras 1.x/2.x spelling; Keras 3 refuses it too
            raise ValueError(f"{type(self).__name__}: the argument `lr` is not supported (Keras 3); "
                             f"write learning_rate={kwargs['lr']!r}")
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected argument(s) {', '.join(sorted(kwargs))}")
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("set at most one of clipnorm, clipvalue, global_clipnorm")
        self.learning_rate = learning_rate
        self.weight_decay = 0.0 if weight_decay is None else _number(weight_decay, "weight_decay")
        self.clipnorm = None if clipnorm is None else _number(clipnorm, "clipnorm", open_low=True)
        self.clipvalue = None if clipvalue is None else _number(clipvalue, "clipvalue", open_low=True)
        self.global_clipnorm = None if global_clipnorm is None else _number(global_clipnorm, "global_clipnorm", open_low=True)
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self._slots: dict[str, list[np.ndarray]] | None = None
        self._in_update = False
        if not isinstance(use_ema, bool):
            raise TypeError(f"use_ema must be a bool, got {use_ema!r}")
        self.use_ema = use_ema
        self.ema_momentum = _number(ema_momentum, "ema_momentum", high=1.0)
        if ema_overwrite_frequency is not None and (isinstance(ema_overwrite_frequency, bool) or not isinstance(
                ema_overwrite_frequency, (int, np.integer)) or ema_overwrite_frequency < 1):
            raise ValueError(f"ema_overwrite_frequency must be a positive int or None, got {ema_overwrite_frequency!r}")
        self.ema_overwrite_frequency = None if ema_overwrite_frequency is None else int(ema_overwrite_frequency)
        if use_ema:  # the moving averages are one more slot per parameter (saved as "average.<i>")
            self.slot_names = tuple(self.slot_names) + ("average",)

    @property
    def learning_rate(self) -> float:
        """The rate of the next step; a LearningRateSchedule is evaluated at `iterations` (during an
        update, at the step being taken: Keras evaluates before incrementing)."""
        rate = self._learning_rate
        if isinstance(rate, LearningRateSchedule):
            step = self.iterations - 1 if self._in_update else self.iterations
            return _number(rate(step), f"{type(rate).__name__}({step})", open_low=False)
        return rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if isinstance(getattr(self, "_learning_rate", None), LearningRateSchedule):
            raise TypeError(  # Keras 3 refuses it too: the schedule owns the rate
                f"{type(self).__name__} was created with a LearningRateSchedule as its learning_rate, hence "
                "its learning rate is not settable"
            )
        if isinstance(value, LearningRateSchedule):
            self._learning_rate = value
            return
        self._learning_rate = _number(value, "learning_rate", open_low=True)

    lr = learning_rate

    # ---- state -----------------------------------------------------------------------------
    def build(self, params: list) -> None:
        """Create slots shaped like `params` (arrays, or Variables as Keras's
        `optimizer.build(model.trainable_variables)`; zeros unless `_slot_initial` says otherwise)."""
        params = [getattr(p, "value", p) for p in params]
        self._slots = {s: [self._slot_initial(s, p) for p in params] for s in self.slot_names}
        self._shapes = [p.shape for p in params]
        self._reset_scalars()

    def _slot_initial(self, slot: str, param: np.ndarray) -> np.ndarray:
        if slot == "average":  # Keras starts the moving average at the variable itself
            return np.array(param, np.float32, copy=True)
        return np.zeros_like(param)

    # Scalar state besides the per-parameter slots (Nadam's u_product), saved by name as float32[1].
    scalar_names: tuple[str, ...] = ()

    def _reset_scalars(self) -> None:
        pass

    def variables_dict(self) -> dict[str, np.ndarray]:
        """Slots and the iteration count, named "<slot>.<param index>" (for optimizer.safetensors)."""
        out = {"iterations": np.array([self.iterations], np.int64)}
        for slot, arrays in (self._slots or {}).items():
            for i, arr in enumerate(arrays):
                out[f"{slot}.{i}"] = arr
        if self._slots is not None:
            for key in self.scalar_names:
                out[key] = np.array([getattr(self, "_" + key)], np.float32)
        return out

    def load_variables_dict(self, state: dict[str, np.ndarray], params: list[np.ndarray]) -> None:
        """Restore `variables_dict()` output; names, shapes and dtypes are checked (ValueError)."""
        it = state.get("iterations")
        if it is None or it.dtype != np.int64 or it.shape != (1,) or it[0] < 0:
            raise ValueError("optimizer state: 'iterations' must be one non-negative int64")
        expected = {"iterations"} | {f"{s}.{i}" for s in self.slot_names for i in range(len(params))} \
            | set(self.scalar_names)
        if int(it[0]) == 0 and set(state) == {"iterations"}:
            self.iterations, self._slots = 0, None
            return
        if set(state) != expected:
            missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
            raise ValueError(f"optimizer state does not match the model: missing {missing[:5]}, unexpected {extra[:5]}")
        self.build(params)
        for slot in self.slot_names:
            for i, p in enumerate(params):
                arr = state[f"{slot}.{i}"]
                if arr.dtype != np.float32 or arr.shape != p.shape:
                    raise ValueError(
                        f"optimizer state {slot}.{i}: expected float32 {p.shape}, got {arr.dtype} {arr.shape}"
                    )
                np.copyto(self._slots[slot][i], arr)
        for key in self.scalar_names:
            arr = state[key]
            if arr.dtype != np.float32 or arr.shape != (1,) or not np.isfinite(arr).all():
                raise ValueError(f"optimizer state {key}: expected one finite float32, got {arr.dtype} {arr.shape}")
            setattr(self, "_" + key, np.float32(arr[0]))
        self.iterations = int(it[0])

    # ---- update ----------------------------------------------------------------------------
    def apply(self, grads, trainable_variables=None):
        """Keras 3's `optimizer.apply(grads, trainable_variables)`: one step on the variables."""
        if trainable_variables is None:
            raise ValueError("optimizer.apply(grads, trainable_variables): pass the variables the gradients are for")
        grads, trainable_variables = list(grads), list(trainable_variables)
        if len(grads) != len(trainable_variables):
            raise ValueError(f"optimizer.apply got {len(grads)} gradients for {len(trainable_variables)} variables")
        return self.apply_gradients(zip(grads, trainable_variables))

    def _apply_arrays(self, grads: list[np.ndarray], params: list[np.ndarray]) -> None:
        """One step: clip (if asked), then update `params` in place from `grads`."""
        if self._slots is None or len(self._shapes) != len(params) or any(
            s != p.shape for s, p in zip(self._shapes, params)
        ):
            self.build(params)  # a different parameter set (e.g. layers frozen or unfrozen): fresh slots
        if self.global_clipnorm is not None:
            _core.clip_by_global_norm(grads, self.global_clipnorm)
        elif self.clipnorm is not None:
            for g in grads:  # Keras 3: clipnorm clips each gradient by its own norm
                _core.clip_by_global_norm([g], self.clipnorm)
        elif self.clipvalue is not None:
            _core.clip_by_value(grads, self.clipvalue)
        self.iterations += 1
        self._in_update = True  # a schedule is read at the step being taken
        try:
            self._update(grads, params)
            if self.use_ema:
                self._update_ema(params)
            constraints.apply_to(params)  # Keras 3 projects constrained weights after the update
        finally:
            self._in_update = False

    def _update_ema(self, params) -> None:
        """average = m * average + (1 - m) * variable, with m = 0 on the first step (Keras 3); every
        ema_overwrite_frequency steps the variables take their averages."""
        momentum = self.ema_momentum if self.iterations > 1 else 0.0
        for avg, p in zip(self._slots["average"], params):
            avg *= np.float32(momentum)
            avg += np.float32(1.0 - momentum) * p
        if self.ema_overwrite_frequency and self.iterations % self.ema_overwrite_frequency == 0:
            for avg, p in zip(self._slots["average"], params):
                np.copyto(p, avg)

    def finalize_variable_values(self, var_list) -> None:
        """With use_ema, set the variables to their moving averages (Keras calls this at the end of fit)."""
        if not self.use_ema or self._slots is None:
            return
        params = [getattr(v, "value", v) for v in var_list]
        if len(params) != len(self._slots["average"]):
            raise ValueError(f"finalize_variable_values: got {len(params)} variables, the optimizer tracks "
                             f"{len(self._slots['average'])}")
        for avg, p in zip(self._slots["average"], params):
            np.copyto(p, avg)

    def _decay_weights(self, params) -> None:
        """Keras 3's decoupled weight decay, applied before the update: p -= lr * weight_decay * p."""
        if self.weight_decay:
            for p in params:
                p -= np.float32(self.learning_rate * self.weight_decay) * p

    def apply_gradients(self, grads_and_vars, zeros_for_none: bool = False):
        """Keras API: a list of (gradient, variable) pairs; updates the variables in place.

        A None gradient (a variable the loss does not reach) is taken as zeros, with a warning
        unless `zeros_for_none`, so the optimizer's per-variable state stays aligned."""
        pairs = list(grads_and_vars)
        if not pairs and not zeros_for_none:
            raise ValueError(
                "apply_gradients got no (gradient, variable) pairs: the variable list was empty (a model or layer "
                "has no variables until it is built, i.e. called once on data; weights must be made with add_weight "
                "or held as Variable attributes)"
            )
        grads, params, missing = [], [], []
        clipping = self.global_clipnorm is not None or self.clipnorm is not None or self.clipvalue is not None
        for g, v in pairs:
            p = getattr(v, "value", v)
            if not isinstance(p, np.ndarray) or p.dtype != np.float32:
                raise TypeError(
                    f"apply_gradients updates float32 variables, got {type(v).__name__}"
                    + (f" of dtype {p.dtype}" if isinstance(p, np.ndarray) else "")
                )
            if g is None:
                missing.append(getattr(v, "name", "?"))
                g = np.zeros_like(p)
            else:
                g = np.array(g, dtype=np.float32, order="C", copy=None)  # not ascontiguousarray: it makes a scalar 1-D
                if clipping:  # clipping writes into the gradients: never into an array the caller holds
                    g = g.copy()
                if g.shape != p.shape:
                    raise ValueError(f"apply_gradients: gradient of shape {g.shape} does not match variable "
                                     f"{getattr(v, 'name', '?')!r} of shape {p.shape}")
            grads.append(g)
            params.append(p)
        if missing and not zeros_for_none:
            import warnings
            warnings.warn(f"Gradients do not exist for variables {missing} when minimizing the loss", stacklevel=2)
        if params:
            self._apply_arrays(grads, params)
        return self.iterations

    def _update(self, grads, params) -> None:
        raise NotImplementedError

    def get_config(self) -> dict:
        rate = self._learning_rate
        config = {"name": self.name, "learning_rate": schedules.serialize(rate)
                  if isinstance(rate, LearningRateSchedule) else self.learning_rate}
        if self.use_ema:
            config.update(use_ema=True, ema_momentum=self.ema_momentum,
                          ema_overwrite_frequency=self.ema_overwrite_frequency)
        if self.weight_decay:
            config["weight_decay"] = self.weight_decay
        for key in ("clipnorm", "clipvalue", "global_clipnorm"):
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Optimizer":
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)


class SGD(Optimizer):
    """v = momentum * v - lr * g; p += v (nesterov: p += momentum * v - lr * g)."""

    slot_names = ("momentum",)

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = _number(momentum, "momentum", high=1.0)
        self.nesterov = bool(nesterov)

    def _update(self, grads, params):
        _core.sgd_update(params, grads, self._slots["momentum"], self.learning_rate, self.momentum,
                         self.nesterov, self.weight_decay)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Keras Adam: lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t); p -= lr_t * m / (sqrt(v) + epsilon)."""

    slot_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        if not isinstance(amsgrad, bool):
            raise TypeError(f"{type(self).__name__}: amsgrad must be a bool, got {amsgrad!r}")
        self.amsgrad = amsgrad
        if amsgrad:  # the running maximum of v: one more slot (before "average", which the base appends)
            self.slot_names = ("m", "v", "vhat")
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _number(beta_1, "beta_1", high=1.0)
        self.beta_2 = _number(beta_2, "beta_2", high=1.0)
        self.epsilon = _number(epsilon, "epsilon", open_low=True)

    def _update(self, grads, params):
        if self.amsgrad:
            self._update_amsgrad(grads, params)
            return
        _core.adam_update(params, grads, self._slots["m"], self._slots["v"], self.learning_rate,
                          self.iterations, self.beta_1, self.beta_2, self.epsilon, self.weight_decay)

    def _update_amsgrad(self, grads, params):
        # numpy (the Rust adam_update has no vhat); a fused kernel would be faster for large models
        self._decay_weights(params)
        t = self.iterations
        alpha = self.learning_rate * np.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        for p, g, m, v, vhat in zip(params, grads, self._slots["m"], self._slots["v"], self._slots["vhat"]):
            m += (g - m) * np.float32(1 - self.beta_1)
            v += (g * g - v) * np.float32(1 - self.beta_2)
            np.maximum(vhat, v, out=vhat)
            p -= np.float32(alpha) * m / (np.sqrt(vhat) + np.float32(self.epsilon))

    def get_config(self):
        config = {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
        if self.amsgrad:
            config["amsgrad"] = True
        return config


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.004 as Keras): p -= lr * wd * p, then Adam."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    """Keras RMSprop: ms = rho ms + (1 - rho) g^2; p -= lr g / (sqrt(ms) + epsilon) (+ momentum, centered)."""

    slot_names = ("velocity", "average_gradient", "momentum")

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = _number(rho, "rho", high=1.0)
        self.momentum = _number(momentum, "momentum", high=1.0)
        self.epsilon = _number(epsilon, "epsilon", open_low=True)
        self.centered = bool(centered)

    def _update(self, grads, params):
        if self.weight_decay:
            for p in params:
                p -= (self.learning_rate * self.weight_decay) * p
        _core.rmsprop_update(params, grads, self._slots["velocity"], self._slots["average_gradient"],
                             self._slots["momentum"], self.learning_rate, self.rho, self.momentum,
                             self.epsilon, self.centered)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


# ---- optimizers updated with numpy in place (Keras 3 formulas). Each loops over parameters in
# float32; a fused Rust kernel (as for SGD / Adam / RMSprop) would be faster for large models.
def _f32(x) -> np.float32:
    return np.float32(x)


class Adagrad(Optimizer):
    """acc += g^2; p -= lr * g / sqrt(acc + epsilon); acc starts at initial_accumulator_value."""

    slot_names = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = _number(initial_accumulator_value, "initial_accumulator_value")
        self.epsilon = _number(epsilon, "epsilon", open_low=True)

    def _slot_initial(self, slot, param):
        if slot == "accumulator":
            return np.full_like(param, self.initial_accumulator_value)
        return super()._slot_initial(slot, param)

    def _update(self, grads, params):
        self._decay_weights(params)
        lr, eps = _f32(self.learning_rate), _f32(self.epsilon)
        for p, g, acc in zip(params, grads, self._slots["accumulator"]):
            acc += g * g
            p -= lr * g / np.sqrt(acc + eps)

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """Keras 3 Adadelta: E[g^2] = rho E[g^2] + (1 - rho) g^2; d = -sqrt(E[d^2] + eps) / sqrt(E[g^2] + eps) * g;
    E[d^2] = rho E[d^2] + (1 - rho) d^2; p += lr * d."""

    slot_names = ("accumulated_grad", "accumulated_delta_var")

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = _number(rho, "rho", high=1.0)
        self.epsilon = _number(epsilon, "epsilon", open_low=True)

    def _update(self, grads, params):
        self._decay_weights(params)
        lr, rho, eps = _f32(self.learning_rate), _f32(self.rho), _f32(self.epsilon)
        for p, g, ag, ad in zip(params, grads, self._slots["accumulated_grad"], self._slots["accumulated_delta_var"]):
            ag *= rho
            ag += (1 - rho) * g * g
            delta = -np.sqrt(ad + eps) * g / np.sqrt(ag + eps)
            ad *= rho
            ad += (1 - rho) * delta * delta
            p += lr * delta

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Adamax(Optimizer):
    """m += (g - m)(1 - b1); u = max(b2 u, |g|); p -= lr m / ((1 - b1^t)(u + epsilon))."""

    slot_names = ("m", "u")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _number(beta_1, "beta_1", high=1.0)
        self.beta_2 = _number(beta_2, "beta_2", high=1.0)
        self.epsilon = _number(epsilon, "epsilon", open_low=True)

    def _update(self, grads, params):
        self._decay_weights(params)
        lr = self.learning_rate / (1 - self.beta_1 ** self.iterations)
        for p, g, m, u in zip(params, grads, self._slots["m"], self._slots["u"]):
            m += (g - m) * _f32(1 - self.beta_1)
            np.maximum(_f32(self.beta_2) * u, np.abs(g), out=u)
            p -= _f32(lr) * m / (u + _f32(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Nadam(Optimizer):
    """Adam with Nesterov momentum and Keras's momentum schedule u_t = b1 (1 - 0.5 * 0.96^t); the
    running product of u_t is optimizer state ("u_product")."""

    slot_names = ("m", "v")
    scalar_names = ("u_product",)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _number(beta_1, "beta_1", high=1.0)
        self.beta_2 = _number(beta_2, "beta_2", high=1.0)
        self.epsilon = _number(epsilon, "epsilon", open_low=True)
        self._u_product = np.float32(1.0)

    def _reset_scalars(self):
        self._u_product = np.float32(1.0)

    def _update(self, grads, params):
        self._decay_weights(params)
        t = self.iterations
        u_t = self.beta_1 * (1.0 - 0.5 * 0.96 ** t)
        u_t1 = self.beta_1 * (1.0 - 0.5 * 0.96 ** (t + 1))
        # kept in float32 as Keras's variable is, so a saved and reloaded optimizer resumes exactly
        self._u_product = np.float32(self._u_product * np.float32(u_t))
        u_prod = float(self._u_product)
        u_prod1 = u_prod * u_t1
        c_m, c_g = _f32(u_t1 / (1 - u_prod1)), _f32((1 - u_t) / (1 - u_prod))
        c_v = _f32(1 / (1 - self.beta_2 ** t))
        lr, eps = _f32(self.learning_rate), _f32(self.epsilon)
        for p, g, m, v in zip(params, grads, self._slots["m"], self._slots["v"]):
            m += (g - m) * _f32(1 - self.beta_1)
            v += (g * g - v) * _f32(1 - self.beta_2)
            m_hat = c_m * m + c_g * g
            p -= lr * m_hat / (np.sqrt(v * c_v) + eps)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Lion(Optimizer):
    """p -= lr * sign(b1 m + (1 - b1) g); m = b2 m + (1 - b2) g (Keras 3 defaults lr 1e-3, b1 0.9, b2 0.99)."""

    slot_names = ("momentum",)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _number(beta_1, "beta_1", low=0.0, high=1.0, open_low=True)
        self.beta_2 = _number(beta_2, "beta_2", high=1.0)

    def _update(self, grads, params):
        self._decay_weights(params)
        lr, b1, b2 = _f32(self.learning_rate), _f32(self.beta_1), _f32(self.beta_2)
        for p, g, m in zip(params, grads, self._slots["momentum"]):
            p -= lr * np.sign(m * b1 + g * (1 - b1))
            m *= b2
            m += g * (1 - b2)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


class Ftrl(Optimizer):
    """Follow The Regularized Leader (Keras 3): per-parameter accumulator and linear slots, L1, L2,
    L2-shrinkage and beta as in keras.optimizers.Ftrl."""

    slot_names = ("accumulator", "linear")

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.learning_rate_power = _number(learning_rate_power, "learning_rate_power", low=-np.inf, high=0.0)
        self.initial_accumulator_value = _number(initial_accumulator_value, "initial_accumulator_value")
        self.l1_regularization_strength = _number(l1_regularization_strength, "l1_regularization_strength")
        self.l2_regularization_strength = _number(l2_regularization_strength, "l2_regularization_strength")
        self.l2_shrinkage_regularization_strength = _number(l2_shrinkage_regularization_strength,
                                                            "l2_shrinkage_regularization_strength")
        self.beta = _number(beta, "beta")

    def _slot_initial(self, slot, param):
        if slot == "accumulator":
            return np.full_like(param, self.initial_accumulator_value)
        return super()._slot_initial(slot, param)

    def _update(self, grads, params):
        self._decay_weights(params)
        lr = self.learning_rate
        power = -self.learning_rate_power
        l1 = _f32(self.l1_regularization_strength)
        l2 = self.l2_regularization_strength + self.beta / (2.0 * lr)
        for p, g, acc, lin in zip(params, grads, self._slots["accumulator"], self._slots["linear"]):
            g_shrunk = g + _f32(2 * self.l2_shrinkage_regularization_strength) * p
            new_acc = acc + g * g
            lin += g_shrunk - (np.power(new_acc, _f32(power)) - np.power(acc, _f32(power))) / _f32(lr) * p
            quadratic = np.power(new_acc, _f32(power)) / _f32(lr) + _f32(2 * l2)
            p[...] = (np.clip(lin, -l1, l1) - lin) / quadratic
            acc[...] = new_acc

    def get_config(self):
        return {**super().get_config(), "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
                "beta": self.beta}


_BY_NAME = {"adam": Adam, "sgd": SGD, "rmsprop": RMSprop, "adamw": AdamW, "adagrad": Adagrad,
            "adadelta": Adadelta, "adamax": Adamax, "nadam": Nadam, "lion": Lion, "ftrl": Ftrl}
_BY_CLASS = {cls.__name__: cls for cls in _BY_NAME.values()}


def get(identifier) -> Optimizer:
    """An optimizer from a name ("adam", "sgd", "rmsprop", "adadelta"...), a config dict or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(f"unknown optimizer {identifier!r}; known optimizers: {', '.join(_BY_NAME)}")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise TypeError(f"optimizer must be a name ({', '.join(_BY_NAME)}) or a keras.optimizers.Optimizer, got {type(identifier).__name__}")


def serialize(opt: Optimizer) -> dict:
    return {"class_name": type(opt).__name__, "config": opt.get_config()}


def deserialize(config: dict) -> Optimizer:
    cls = _BY_CLASS.get(config.get("class_name")) if isinstance(config, dict) else None
    if cls is None:
        raise ValueError(f"unknown optimizer config {config!r}; known classes: {', '.join(_BY_CLASS)}")
    try:
        return cls.from_config(dict(config.get("config") or {}))
    except TypeError as exc:
        raise ValueError(f"bad optimizer config for {config['class_name']}: {exc}") from None
