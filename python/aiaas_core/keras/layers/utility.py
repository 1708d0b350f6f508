"""Small layers: Identity, Rescaling, GaussianNoise (forward/backward pairs in numpy, so a
Sequential holding them keeps the fused training step) and Lambda (a Python function of tensors,
whose ops record their own gradients)."""

from __future__ import annotations

import numbers

import numpy as np

from .. import backend
from .base import Layer


class Identity(Layer):
    """Returns its input unchanged."""

    def forward(self, x, training):
        return x, None

    def backward(self, ctx, dy, need_dx=True):
        return dy, []

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


def _number_or_list(value, what: str):
    """A float, or a (nested) list of floats that broadcasts against the last axes (per channel)."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a number or a list of numbers, got {value!r}")
    if isinstance(value, numbers.Real):
        return float(value)
    try:
        arr = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a number or a list of numbers, got {value!r}") from None
    if arr.dtype.kind != "f" or not np.isfinite(arr).all():
        raise ValueError(f"{what} must hold finite numbers, got {value!r}")
    return arr.tolist()


class Rescaling(Layer):
    """y = x * scale + offset (e.g. Rescaling(1/255) for pixels). scale and offset may be lists
    that broadcast over the last axes (per channel)."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = _number_or_list(scale, "Rescaling scale")
        self.offset = _number_or_list(offset, "Rescaling offset")
        self._scale = np.asarray(self.scale, np.float32)
        self._offset = np.asarray(self.offset, np.float32)

    def _check_input_rank(self, shape):
        for what, arr in (("scale", self._scale), ("offset", self._offset)):
            if arr.ndim and (arr.ndim > len(shape) - 1 or any(
                    a != 1 and d is not None and a != d for a, d in zip(arr.shape[::-1], tuple(shape)[::-1]))):
                raise ValueError(f"{self.name}: Rescaling {what} of shape {arr.shape} does not broadcast over "
                                 f"samples of shape {tuple(shape)[1:]}")

    def forward(self, x, training):
        if self._scale.ndim or self._offset.ndim:
            self._check_input_rank(x.shape)
        y = x * self._scale
        y += self._offset
        return np.ascontiguousarray(y, np.float32), None

    def backward(self, ctx, dy, need_dx=True):
        return np.ascontiguousarray(np.multiply(dy, self._scale), np.float32), []

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(scale=self.scale, offset=self.offset)
        return config


class GaussianNoise(Layer):
    """Adds N(0, stddev^2) noise in training (a regularizer); the identity in inference."""

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(stddev, bool) or not isinstance(stddev, numbers.Real) or not 0 <= stddev < float("inf"):
            raise ValueError(f"GaussianNoise stddev must be a non-negative number, got {stddev!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise TypeError(f"GaussianNoise seed must be an int or None, got {seed!r}")
        self.stddev = float(stddev)
        self.seed = None if seed is None else int(seed)

    def forward(self, x, training):
        if not training or self.stddev == 0.0:
            return x, None
        # The same per-call seed stream as Dropout: deterministic within a fit step.
        seed = backend.dropout_seed()
        if self.seed is not None:
            seed = (seed + self.seed) % (2**31)
        noise = np.random.default_rng(seed).standard_normal(x.shape, dtype=np.float32)
        noise *= np.float32(self.stddev)
        noise += x
        return noise, None

    def backward(self, ctx, dy, need_dx=True):
        return dy, []

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(stddev=self.stddev, seed=self.seed)
        return config


_LAMBDA_NOT_SAVEABLE = (
    "holds a Python function, which a model config cannot carry: configs here are data, never code "
    "(no pickle, no bytecode). Replace the Lambda with built-in layers (Rescaling, Reshape, Permute, "
    "merge layers...) or a custom layer class, or save only the weights (model.save_weights) and "
    "rebuild the model in code"
)


class Lambda(Layer):
    """Wraps `function(inputs, **arguments)` as a layer. The tensor ops inside record their own
    gradients. output_shape (without the batch axis, or a function of the input shape) is used by
    compute_output_shape; otherwise the shape is found by running the function. Not saveable in a
    config (it is code)."""

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda takes a callable (a function of the input tensors), got {type(function).__name__}")
        if mask is not None:
            raise ValueError("Lambda: mask is not supported (masking is not implemented); leave it None")
        if arguments is not None and not isinstance(arguments, dict):
            raise TypeError(f"Lambda arguments must be a dict of keyword arguments, got {type(arguments).__name__}")
        if output_shape is not None and not callable(output_shape) and not isinstance(output_shape, (tuple, list)):
            raise TypeError(f"Lambda output_shape must be a tuple (without the batch axis) or a function, "
                            f"got {output_shape!r}")
        self.function = function
        self.arguments = dict(arguments or {})
        self._output_shape_arg = output_shape

    def call(self, inputs, mask=None, training=None):
        return self.function(inputs, **self.arguments)

    def compute_output_shape(self, input_shape):
        spec = self._output_shape_arg
        if spec is None:
            return super().compute_output_shape(input_shape)
        if callable(spec):
            return tuple(spec(input_shape))
        batch = input_shape[0] if input_shape and not isinstance(input_shape[0], (tuple, list)) else None
        return (batch,) + tuple(spec)

    def get_config(self):
        raise NotImplementedError(f"Lambda layer {self.name!r} {_LAMBDA_NOT_SAVEABLE}")

    @classmethod
    def from_config(cls, config):
        raise ValueError(f"a Lambda layer {_LAMBDA_NOT_SAVEABLE}")
