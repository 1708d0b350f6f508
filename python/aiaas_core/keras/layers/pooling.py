"""1-D pooling (through the 2-D Rust pooling kernels on a height-1 image) and global pooling."""

from __future__ import annotations

import numpy as np

from ... import _core
from .base import Layer
from .conv import _channels_last, _out_len, _padding
from .convolutional import _single


class _Pooling1D(Layer):
    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        kind = type(self).__name__
        _channels_last(data_format, kind)
        self.pool_size = _single(pool_size, f"{kind} pool_size")
        self.strides = self.pool_size if strides is None else _single(strides, f"{kind} strides")
        self.padding = _padding(padding, kind)

    def _check_input_rank(self, shape):
        if len(shape) != 3:
            raise ValueError(f"{self.name}: {type(self).__name__} expects 3-D inputs (batch, steps, channels), "
                             f"got shape {tuple(shape)}")
        if self.padding == "valid" and shape[1] is not None and shape[1] < self.pool_size:
            raise ValueError(f"{self.name}: input length {shape[1]} is shorter than pool_size {self.pool_size} "
                             "with padding 'valid'")

    def _as_image(self, x):
        if x.ndim != 3:
            raise ValueError(f"{self.name}: expected 3-D inputs (batch, steps, channels), got shape {x.shape}")
        self._check_input_rank(x.shape)
        return x.reshape(x.shape[0], 1, x.shape[1], x.shape[2])

    def compute_output_shape(self, input_shape):
        n, steps, c = input_shape
        return (n, None if steps is None else _out_len(steps, self.pool_size, self.strides, self.padding), c)

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=[self.pool_size], strides=[self.strides], padding=self.padding,
                      data_format="channels_last")
        return config


class MaxPooling1D(_Pooling1D):
    """Max over windows of pool_size steps (strides default to pool_size)."""

    def forward(self, x, training):
        x4 = self._as_image(x)
        y, argmax = _core.maxpool2d_forward(x4, (1, self.pool_size), (1, self.strides), self.padding)
        return y.reshape(y.shape[0], y.shape[2], y.shape[3]), (argmax, x4.shape, y.shape)

    def backward(self, ctx, dy, need_dx=True):
        argmax, shape4, yshape = ctx
        dx = _core.maxpool2d_backward(np.ascontiguousarray(dy).reshape(yshape), argmax, shape4)
        return dx.reshape(shape4[0], shape4[2], shape4[3]), []


class AveragePooling1D(_Pooling1D):
    """Mean over windows of pool_size steps (with 'same', padded steps are excluded, as Keras)."""

    def forward(self, x, training):
        x4 = self._as_image(x)
        y = _core.avgpool2d_forward(x4, (1, self.pool_size), (1, self.strides), self.padding)
        return y.reshape(y.shape[0], y.shape[2], y.shape[3]), (x4.shape, y.shape)

    def backward(self, ctx, dy, need_dx=True):
        shape4, yshape = ctx
        dx = _core.avgpool2d_backward(np.ascontiguousarray(dy).reshape(yshape), shape4, (1, self.pool_size),
                                      (1, self.strides), self.padding)
        return dx.reshape(shape4[0], shape4[2], shape4[3]), []


class _GlobalPooling(Layer):
    """Reduce every axis between the batch and the channels (channels-last)."""

    _RANK = 4  # inputs of this rank (batch, spatial..., channels)

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        _channels_last(data_format, type(self).__name__)
        if not isinstance(keepdims, (bool, np.bool_)):
            raise TypeError(f"{type(self).__name__} keepdims must be a bool, got {keepdims!r}")
        self.keepdims = bool(keepdims)

    def _check_input_rank(self, shape):
        if len(shape) != self._RANK:
            what = "(batch, steps, channels)" if self._RANK == 3 else "(batch, height, width, channels)"
            raise ValueError(f"{self.name}: {type(self).__name__} expects {self._RANK}-D inputs {what}, "
                             f"got shape {tuple(shape)}")

    def _flat(self, x):
        """x as (batch, positions, channels): a view for contiguous inputs."""
        if x.ndim != self._RANK:
            self._check_input_rank(x.shape)
        return x.reshape(x.shape[0], -1, x.shape[-1])

    def _shape_out(self, x_shape, values):
        if self.keepdims:
            return values.reshape((x_shape[0],) + (1,) * (len(x_shape) - 2) + (x_shape[-1],))
        return values

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return (input_shape[0],) + (1,) * (len(input_shape) - 2) + (input_shape[-1],)
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(data_format="channels_last", keepdims=self.keepdims)
        return config


class _GlobalAverage(_GlobalPooling):
    def forward(self, x, training):
        flat = self._flat(x)
        return self._shape_out(x.shape, flat.mean(axis=1, dtype=np.float32)), (x.shape, flat.shape[1])

    def backward(self, ctx, dy, need_dx=True):
        shape, count = ctx
        g = np.asarray(dy, np.float32).reshape(shape[0], 1, shape[-1]) / np.float32(count)
        return np.ascontiguousarray(np.broadcast_to(g, (shape[0], count, shape[-1]))).reshape(shape), []


class _GlobalMax(_GlobalPooling):
    # The gradient goes to the first maximum of each channel (as MaxPooling2D's kernel does).
    def forward(self, x, training):
        flat = self._flat(x)
        idx = flat.argmax(axis=1)[:, None, :]
        y = np.take_along_axis(flat, idx, axis=1)[:, 0, :]
        return self._shape_out(x.shape, np.ascontiguousarray(y)), (x.shape, flat.shape, idx)

    def backward(self, ctx, dy, need_dx=True):
        shape, flat_shape, idx = ctx
        dx = np.zeros(flat_shape, np.float32)
        np.put_along_axis(dx, idx, np.asarray(dy, np.float32).reshape(flat_shape[0], 1, flat_shape[2]), axis=1)
        return dx.reshape(shape), []


class GlobalAveragePooling2D(_GlobalAverage):
    """Mean over height and width: (N, H, W, C) -> (N, C), or (N, 1, 1, C) with keepdims."""


class GlobalMaxPooling2D(_GlobalMax):
    """Max over height and width: (N, H, W, C) -> (N, C), or (N, 1, 1, C) with keepdims."""


class GlobalAveragePooling1D(_GlobalAverage):
    """Mean over steps: (N, T, C) -> (N, C), or (N, 1, C) with keepdims."""
    _RANK = 3


class GlobalMaxPooling1D(_GlobalMax):
    """Max over steps: (N, T, C) -> (N, C), or (N, 1, C) with keepdims."""
    _RANK = 3


MaxPool1D = MaxPooling1D
AvgPool1D = AveragePooling1D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalMaxPool1D = GlobalMaxPooling1D
