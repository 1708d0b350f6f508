"""BatchNormalization over all axes but the last (channels-last), with moving statistics (Rust
kernels); LayerNormalization and UnitNormalization per sample (tensor ops)."""

from __future__ import annotations

import numpy as np

from ... import _core
from ...ops import array_ops, math_ops
from ...ops.nn_ops import moments
from .. import initializers
from .base import Layer


class BatchNormalization(Layer):
    """Training: normalize with batch statistics and update moving_mean/moving_variance
    (moving = momentum * moving + (1 - momentum) * batch); inference: use the moving statistics.
    Weights in Keras order: gamma, beta, moving_mean, moving_variance."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        if axis not in (-1, [-1]):
            raise ValueError(f"BatchNormalization: only axis=-1 (channels-last) is supported, got {axis!r}")
        for what, value in (("momentum", momentum), ("epsilon", epsilon)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"BatchNormalization {what} must be a number, got {value!r}")
        if not 0.0 <= momentum <= 1.0 or epsilon <= 0:
            raise ValueError(f"BatchNormalization needs 0 <= momentum <= 1 and epsilon > 0, got {momentum}, {epsilon}")
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def _check_input_rank(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{self.name}: BatchNormalization expects inputs of rank >= 2, got shape {tuple(shape)}")

    def build(self, input_shape):
        c = (input_shape[-1],)
        self.gamma = self.add_weight("gamma", c, self.gamma_initializer) if self.scale else None
        self.beta = self.add_weight("beta", c, self.beta_initializer) if self.center else None
        self.moving_mean = self.add_weight("moving_mean", c, self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", c, self.moving_variance_initializer, trainable=False)
        self._ones = np.ones(c, np.float32)
        self._zeros = np.zeros(c, np.float32)

    def forward(self, x, training):
        c = self.moving_mean.value.shape[0]
        if x.shape[-1] != c:
            raise ValueError(f"{self.name}: expected inputs with last axis {c}, got shape {x.shape}")
        gamma = self.gamma.value if self.gamma is not None else self._ones
        beta = self.beta.value if self.beta is not None else self._zeros
        if not training:
            return _core.batchnorm_forward_infer(x, gamma, beta, self.moving_mean.value,
                                                 self.moving_variance.value, self.epsilon), None
        y, mean, var = _core.batchnorm_forward_train(x, gamma, beta, self.epsilon)
        for moving, batch in ((self.moving_mean.value, mean), (self.moving_variance.value, var)):
            moving *= self.momentum
            moving += (1.0 - self.momentum) * batch
        return y, (x, gamma, mean, var)

    def backward(self, ctx, dy, need_dx=True):
        x, gamma, mean, var = ctx
        dx, dgamma, dbeta = _core.batchnorm_backward(x, np.ascontiguousarray(dy), gamma, mean, var, self.epsilon)
        grads = ([dgamma] if self.scale else []) + ([dbeta] if self.center else [])
        return dx, grads

    def params_for(self, input_shape):
        return 4 * input_shape[-1]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(axis=-1, momentum=self.momentum, epsilon=self.epsilon, center=self.center, scale=self.scale)
        return config


def _axes_of(axis, what: str) -> list[int]:
    items = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    if not items or any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in items):
        raise TypeError(f"{what} axis must be an int or a list of ints, got {axis!r}")
    return [int(a) for a in items]


def _resolve_axes(layer, axes: list[int], rank: int) -> list[int]:
    out = []
    for a in axes:
        if not -rank <= a < rank:
            raise ValueError(f"{layer.name}: axis {a} is out of range for inputs of rank {rank}")
        a %= rank
        if a == 0:
            raise ValueError(f"{layer.name}: {type(layer).__name__} cannot normalize over the batch axis (axis 0)")
        out.append(a)
    if len(set(out)) != len(out):
        raise ValueError(f"{layer.name}: repeated axis in {axes}")
    return sorted(out)


class LayerNormalization(Layer):
    """Normalize each sample over `axis` (default the last): y = (x - mean) / sqrt(var + epsilon)
    * gamma + beta, statistics per sample (no moving averages). Written with the tensor ops, so the
    gradient comes from the op tape. Weights in Keras order: gamma, beta."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False,
                 beta_initializer="zeros", gamma_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        self.axis = _axes_of(axis, "LayerNormalization")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon > 0:
            raise ValueError(f"LayerNormalization epsilon must be a positive number, got {epsilon!r}")
        if rms_scaling:
            raise ValueError("LayerNormalization: rms_scaling=True is not supported (use rms_scaling=False)")
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)

    def build(self, input_shape):
        rank = len(input_shape)
        self._axes = _resolve_axes(self, self.axis, rank)
        shape = tuple(input_shape[a] for a in self._axes)
        if any(d is None for d in shape):
            raise ValueError(f"{self.name}: the normalized axes {self.axis} of inputs {tuple(input_shape)} must have a "
                             "known size (they size gamma and beta)")
        # gamma/beta broadcast against the input: size 1 on the axes not normalized.
        self._broadcast = tuple(input_shape[a] if a in self._axes else 1 for a in range(1, rank))
        self.gamma = self.add_weight("gamma", shape, self.gamma_initializer) if self.scale else None
        self.beta = self.add_weight("beta", shape, self.beta_initializer) if self.center else None

    def call(self, inputs):
        shape = tuple(np.shape(inputs))
        if len(shape) != len(self._broadcast) + 1 or any(
                b != 1 and shape[i + 1] != b for i, b in enumerate(self._broadcast)):
            raise ValueError(f"{self.name}: built for inputs of rank {len(self._broadcast) + 1} whose axes {self._axes} "
                             f"have sizes {tuple(b for b in self._broadcast if b != 1)}, got shape {shape}")
        mean, var = moments(inputs, axes=self._axes, keepdims=True)
        inv = math_ops.rsqrt(math_ops.add(var, self.epsilon))
        if self.gamma is not None:
            inv = math_ops.multiply(inv, array_ops.reshape(self.gamma, self._broadcast))
        out = math_ops.multiply(math_ops.subtract(inputs, mean), inv)
        if self.beta is not None:
            out = math_ops.add(out, array_ops.reshape(self.beta, self._broadcast))
        return out

    def params_for(self, input_shape):
        rank = len(input_shape)
        n = int(np.prod([input_shape[a] for a in _resolve_axes(self, self.axis, rank)]))
        return n * (int(self.center) + int(self.scale))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(axis=self.axis[0] if len(self.axis) == 1 else list(self.axis), epsilon=self.epsilon,
                      center=self.center, scale=self.scale, rms_scaling=False,
                      beta_initializer=initializers.serialize(self.beta_initializer),
                      gamma_initializer=initializers.serialize(self.gamma_initializer))
        return config


class UnitNormalization(Layer):
    """Scale each sample to unit L2 norm over `axis`: x / sqrt(max(sum(x^2), 1e-12)), as Keras 3."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = _axes_of(axis, "UnitNormalization")

    def build(self, input_shape):
        _resolve_axes(self, self.axis, len(input_shape))

    def call(self, inputs):
        axes = tuple(_resolve_axes(self, self.axis, np.ndim(inputs)))
        square_sum = math_ops.sum(math_ops.square(inputs), axis=axes, keepdims=True)
        return math_ops.multiply(inputs, math_ops.rsqrt(math_ops.maximum(square_sum, 1e-12)))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis[0] if len(self.axis) == 1 else list(self.axis)
        return config
