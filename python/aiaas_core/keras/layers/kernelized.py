"""RandomFourierFeatures (tf.keras 2's `keras.layers.experimental`): a fixed random projection whose
cosine approximates a shift-invariant kernel, so a linear layer on top acts as a kernel machine."""

from __future__ import annotations

import numpy as np

from ...ops import math_ops
from .. import backend, initializers
from .base import Layer, check_positive_int


class RandomFourierFeatures(Layer):
    """cos(x @ (unscaled_kernel / kernel_scale) + bias) with a frozen random kernel [in, output_dim]
    (standard normal for 'gaussian', standard Cauchy for 'laplacian', or any initializer) and bias
    drawn from U(0, 2pi). `scale` defaults to sqrt(in / 2) for 'gaussian', else 1; it is the one
    trainable weight, and the layer is frozen by default (trainable=False) as in tf.keras."""

    def __init__(self, output_dim, kernel_initializer="gaussian", scale=None, trainable=False, name=None, **kwargs):
        super().__init__(trainable=trainable, name=name, **kwargs)
        self.output_dim = check_positive_int(output_dim, "RandomFourierFeatures output_dim")
        if isinstance(kernel_initializer, str) and kernel_initializer not in ("gaussian", "laplacian"):
            kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_initializer = kernel_initializer
        if scale is not None and not float(scale) > 0:
            raise ValueError(f"RandomFourierFeatures scale must be positive, got {scale!r}")
        self.scale = None if scale is None else float(scale)

    def build(self, input_shape):
        d = int(input_shape[-1])
        rng = backend.rng()
        kind = self.kernel_initializer
        if kind == "gaussian":
            init = lambda shape, dtype=None: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
        elif kind == "laplacian":
            init = lambda shape, dtype=None: np.tan(np.pi * (rng.random(shape) - 0.5)).astype(np.float32)  # noqa: E731
        else:
            init = kind
        scale = self.scale if self.scale is not None else (np.sqrt(d / 2.0) if kind == "gaussian" else 1.0)
        self.unscaled_kernel = self.add_weight(shape=(d, self.output_dim), initializer=init, trainable=False,
                                               name="unscaled_kernel")
        self.bias = self.add_weight(shape=(self.output_dim,), trainable=False, name="bias",
                                    initializer=lambda shape, dtype=None: (rng.random(shape) * 2 * np.pi).astype(np.float32))
        self.kernel_scale = self.add_weight(shape=(1,), name="kernel_scale", trainable=True,
                                            initializer=lambda shape, dtype=None: np.full(shape, scale, np.float32))

    def call(self, inputs):
        kernel = math_ops.divide(self.unscaled_kernel, self.kernel_scale)
        return math_ops.cos(math_ops.add(math_ops.matmul(inputs, kernel), self.bias))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        init = self.kernel_initializer
        config.update(output_dim=self.output_dim, scale=self.scale,
                      kernel_initializer=init if isinstance(init, str) else initializers.serialize(init))
        return config
