"""Dense, Activation, Flatten, Reshape, Dropout: each forward and backward is a Rust kernel call."""

from __future__ import annotations

import math

import numpy as np

from ... import _core
from .. import activations, backend, initializers
from .base import Layer, check_positive_int, shape_tuple

# Activations whose output layer the training step may fuse with a cross-entropy loss.
_LOGIT_ACTIVATIONS = ("softmax", "sigmoid")


class Dense(Layer):
    """y = activation(x @ kernel + bias) over the last axis of x (any rank). kernel [in, units]."""

    _REGULARIZER_KEYS = frozenset({"kernel_regularizer", "bias_regularizer", "activity_regularizer",
                                   "kernel_constraint", "bias_constraint"})

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", input_dim=None, kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        if input_dim is not None and "input_shape" not in kwargs and "batch_input_shape" not in kwargs:
            kwargs["input_shape"] = (check_positive_int(input_dim, "Dense input_dim"),)
        super().__init__(**kwargs)
        self.units = check_positive_int(units, "Dense units")
        self.activation = activations.get(activation)
        self.alpha = activations.alpha_of(self.activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self._init_regularizers(kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
                                bias_constraint)
        # softmax/sigmoid keep their logits in training (loss fusion); gelu is not fusable in Rust.
        self._split = self.activation in _LOGIT_ACTIVATIONS or self.activation not in activations.FUSABLE_IN_DENSE

    def _check_input_rank(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{self.name}: Dense expects inputs of rank >= 2 (batch, ..., features), got shape {shape}")

    def build(self, input_shape):
        d = input_shape[-1]
        self.kernel = self.add_weight("kernel", (d, self.units), self.kernel_initializer)
        self.bias = self.add_weight("bias", (self.units,), self.bias_initializer) if self.use_bias else None
        self._attach_constraints()

    def forward(self, x, training):
        shape = x.shape
        d = self.kernel.value.shape[0]
        if shape[-1] != d:
            raise ValueError(f"{self.name}: expected inputs with last axis {d}, got shape {shape}")
        x2 = x if x.ndim == 2 else x.reshape(-1, d)
        b = self.bias.value if self.bias is not None else None
        if self._split:
            z = _core.dense_forward(x2, self.kernel.value, b, "linear", 0.0)
            y = _core.activation_forward(z, self.activation, self.alpha)
        else:
            z = None
            y = _core.dense_forward(x2, self.kernel.value, b, self.activation, self.alpha)
        if x.ndim != 2:
            return y.reshape(shape[:-1] + (self.units,)), (x2, z, y)
        return y, (x2, z, y)

    def logits_of(self, ctx, y):
        """Pre-activation values shaped like `y` when the activation is softmax/sigmoid, else None."""
        z = ctx[1]
        if self.activation in _LOGIT_ACTIVATIONS and z is not None:
            return z.reshape(y.shape)
        return None

    def backward(self, ctx, dy, need_dx=True, wrt_logits=False):
        x2, z, y = ctx
        dy2 = np.ascontiguousarray(dy).reshape(y.shape)
        if z is not None:
            dz = dy2 if wrt_logits else _core.activation_backward(z, y, dy2, self.activation, self.alpha)
            dx, dw, db = _core.dense_backward(x2, self.kernel.value, z, dz, "linear", 0.0, need_dx)
        else:
            dx, dw, db = _core.dense_backward(x2, self.kernel.value, y, dy2, self.activation, self.alpha, need_dx)
        if dx is not None and dy.ndim != 2:
            dx = dx.reshape(dy.shape[:-1] + (x2.shape[1],))
        return dx, ([dw, db] if self.use_bias else [dw])

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def params_for(self, input_shape):
        return input_shape[-1] * self.units + (self.units if self.use_bias else 0)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, activation=self.activation, use_bias=self.use_bias,
                      kernel_initializer=initializers.serialize(self.kernel_initializer),
                      bias_initializer=initializers.serialize(self.bias_initializer))
        config.update(self._regularizer_config())
        return config


class Activation(Layer):
    """Applies an activation by name."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self.alpha = activations.alpha_of(self.activation)

    def forward(self, x, training):
        return _core.activation_forward(x, self.activation, self.alpha), x

    def logits_of(self, ctx, y):
        return ctx if self.activation in _LOGIT_ACTIVATIONS else None

    def backward(self, ctx, dy, need_dx=True, wrt_logits=False):
        if wrt_logits:
            return dy, []
        y = _core.activation_forward(ctx, self.activation, self.alpha)
        return _core.activation_backward(ctx, y, np.ascontiguousarray(dy), self.activation, self.alpha), []

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config["activation"] = self.activation
        return config


class Flatten(Layer):
    """[N, ...] -> [N, prod(...)] in channels-last order (a view, no copy)."""

    def __init__(self, data_format=None, **kwargs):
        if data_format not in (None, "channels_last"):
            raise ValueError(f"Flatten: only data_format 'channels_last' is supported, got {data_format!r}")
        super().__init__(**kwargs)

    def forward(self, x, training):
        return x.reshape(x.shape[0], -1), x.shape

    def backward(self, ctx, dy, need_dx=True):
        return dy.reshape(ctx), []

    def compute_output_shape(self, input_shape):
        return (input_shape[0], math.prod(input_shape[1:]))


class Reshape(Layer):
    """Reshape each sample to `target_shape` (one axis may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(target_shape, (tuple, list)) or not target_shape:
            raise ValueError(f"Reshape target_shape must be a non-empty tuple, got {target_shape!r}")
        if sum(1 for d in target_shape if d == -1) > 1:
            raise ValueError(f"Reshape target_shape may hold at most one -1, got {tuple(target_shape)}")
        for d in target_shape:
            if d != -1:
                check_positive_int(d, "Reshape target_shape entries")
        self.target_shape = tuple(int(d) for d in target_shape)

    def _resolved(self, sample_shape) -> tuple[int, ...]:
        size = math.prod(sample_shape)
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if size % known:
                raise ValueError(f"{self.name}: cannot reshape samples of shape {tuple(sample_shape)} to {self.target_shape}")
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if known != size:
            raise ValueError(f"{self.name}: cannot reshape samples of shape {tuple(sample_shape)} ({size} values) to {self.target_shape}")
        return self.target_shape

    def _check_input_rank(self, shape):
        self._resolved(shape[1:])

    def forward(self, x, training):
        return x.reshape((x.shape[0],) + self._resolved(x.shape[1:])), x.shape

    def backward(self, ctx, dy, need_dx=True):
        return dy.reshape(ctx), []

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._resolved(input_shape[1:])

    def get_config(self):
        config = super().get_config()
        config["target_shape"] = list(self.target_shape)
        return config


class Dropout(Layer):
    """Inverted dropout in training (kept units scaled by 1/(1-rate)); identity in inference."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout rate must be a number in [0, 1), got {rate!r}")
        if noise_shape is not None:
            raise ValueError("Dropout: noise_shape is not supported (use None)")
        self.rate = float(rate)
        self.seed = seed

    def forward(self, x, training):
        if not training or self.rate == 0.0:
            return x, None
        seed = backend.dropout_seed()
        if self.seed is not None:
            seed = (seed + int(self.seed)) % (2**31)
        y, mask = _core.dropout_forward(x, self.rate, seed)
        return y, mask

    def backward(self, ctx, dy, need_dx=True):
        if ctx is None:
            return dy, []
        return _core.dropout_backward(np.ascontiguousarray(dy), ctx), []

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config
