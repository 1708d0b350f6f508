"""Optimizers (Keras 3 formulas): one in-place Rust call updates every parameter per step."""

from __future__ import annotations

import numpy as np

from .. import _core


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
                 global_clipnorm=None, name=None, **kwargs):
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

    @property
    def learning_rate(self) -> float:
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        self._learning_rate = _number(value, "learning_rate", open_low=True)

    lr = learning_rate

    # ---- state -----------------------------------------------------------------------------
    def build(self, params: list) -> None:
        """Create zeroed slots shaped like `params` (arrays, or Variables as Keras's
        `optimizer.build(model.trainable_variables)`)."""
        params = [getattr(p, "value", p) for p in params]
        self._slots = {s: [np.zeros_like(p) for p in params] for s in self.slot_names}
        self._shapes = [p.shape for p in params]

    def variables_dict(self) -> dict[str, np.ndarray]:
        """Slots and the iteration count, named "<slot>.<param index>" (for optimizer.safetensors)."""
        out = {"iterations": np.array([self.iterations], np.int64)}
        for slot, arrays in (self._slots or {}).items():
            for i, arr in enumerate(arrays):
                out[f"{slot}.{i}"] = arr
        return out

    def load_variables_dict(self, state: dict[str, np.ndarray], params: list[np.ndarray]) -> None:
        """Restore `variables_dict()` output; names, shapes and dtypes are checked (ValueError)."""
        it = state.get("iterations")
        if it is None or it.dtype != np.int64 or it.shape != (1,) or it[0] < 0:
            raise ValueError("optimizer state: 'iterations' must be one non-negative int64")
        expected = {"iterations"} | {f"{s}.{i}" for s in self.slot_names for i in range(len(params))}
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
        self._update(grads, params)

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
        config = {"name": self.name, "learning_rate": self.learning_rate}
        if self.weight_decay:
            config["weight_decay"] = self.weight_decay
        for key in ("clipnorm", "clipvalue", "global_clipnorm"):
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Optimizer":
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
        super().__init__(learning_rate, **kwargs)
        if amsgrad:
            raise ValueError("Adam: amsgrad=True is not supported")
        self.beta_1 = _number(beta_1, "beta_1", high=1.0)
        self.beta_2 = _number(beta_2, "beta_2", high=1.0)
        self.epsilon = _number(epsilon, "epsilon", open_low=True)

    def _update(self, grads, params):
        _core.adam_update(params, grads, self._slots["m"], self._slots["v"], self.learning_rate,
                          self.iterations, self.beta_1, self.beta_2, self.epsilon, self.weight_decay)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.004 as Keras): p -= lr * wd * p, then Adam."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, weight_decay=weight_decay, **kwargs)


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


_BY_NAME = {"adam": Adam, "sgd": SGD, "rmsprop": RMSprop, "adamw": AdamW}
_BY_CLASS = {cls.__name__: cls for cls in _BY_NAME.values()}


def get(identifier) -> Optimizer:
    """An optimizer from a name ("adam", "sgd", "rmsprop", "adamw"), a config dict or an instance."""
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
