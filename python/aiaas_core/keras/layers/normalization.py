"""BatchNormalization over all axes but the last (channels-last), with moving statistics."""

from __future__ import annotations

import numpy as np

from ... import _core
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
