"""Conv2D (NHWC input, HWIO kernel) and 2-D pooling, via the Rust conv/pool kernels."""

from __future__ import annotations

import numpy as np

from ... import _core
from .. import activations, initializers
from .base import Layer, check_positive_int, pair

_PADDINGS = ("valid", "same")


def _padding(value, owner: str) -> str:
    if not isinstance(value, str) or value.lower() not in _PADDINGS:
        raise ValueError(f"{owner} padding must be 'valid' or 'same', got {value!r}")
    return value.lower()


def _out_len(size: int | None, window: int, stride: int, padding: str) -> int | None:
    if size is None:  # a dimension of any size (fully convolutional models)
        return None
    if padding == "same":
        return -(-size // stride)
    return (size - window) // stride + 1 if size >= window else 0


def _channels_last(data_format, owner: str) -> None:
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{owner}: only data_format 'channels_last' (NHWC) is supported, got {data_format!r}")


def _check_nhwc(layer: Layer, shape, window: tuple[int, int], padding: str) -> None:
    if len(shape) != 4:
        raise ValueError(
            f"{layer.name}: {type(layer).__name__} expects 4-D inputs (batch, height, width, channels), got shape {tuple(shape)}"
        )
    if padding == "valid" and ((shape[1] is not None and shape[1] < window[0])
                               or (shape[2] is not None and shape[2] < window[1])):
        raise ValueError(
            f"{layer.name}: input {shape[1]}x{shape[2]} is smaller than the window {window[0]}x{window[1]} with padding 'valid'"
        )


class Conv2D(Layer):
    """2-D convolution: y[N,OH,OW,F] = activation(conv(x[N,H,W,C], kernel[KH,KW,C,F]) + bias[F])."""

    _REGULARIZER_KEYS = frozenset({"kernel_regularizer", "bias_regularizer", "activity_regularizer",
                                   "kernel_constraint", "bias_constraint"})

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        _channels_last(data_format, "Conv2D")
        if pair(dilation_rate, "Conv2D dilation_rate") != (1, 1) or groups != 1:
            raise ValueError("Conv2D: only dilation_rate=(1, 1) and groups=1 are supported")
        self.filters = check_positive_int(filters, "Conv2D filters")
        self.kernel_size = pair(kernel_size, "Conv2D kernel_size")
        self.strides = pair(strides, "Conv2D strides")
        self.padding = _padding(padding, "Conv2D")
        self.activation = activations.get(activation)
        self.alpha = activations.alpha_of(self.activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self._init_regularizers(kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
                                bias_constraint)

    def _check_input_rank(self, shape):
        _check_nhwc(self, shape, self.kernel_size, self.padding)

    def build(self, input_shape):
        c = input_shape[-1]
        self.kernel = self.add_weight("kernel", self.kernel_size + (c, self.filters), self.kernel_initializer)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer) if self.use_bias else None
        self._attach_constraints()

    def forward(self, x, training):
        if x.ndim != 4 or x.shape[3] != self.kernel.value.shape[2]:
            raise ValueError(
                f"{self.name}: expected inputs (batch, height, width, {self.kernel.value.shape[2]}), got shape {x.shape}"
            )
        b = self.bias.value if self.bias is not None else None
        if self.activation in activations.FUSABLE_IN_DENSE:
            # The kernel applies the activation; backward takes its derivative from y.
            y = _core.conv2d_forward(x, self.kernel.value, b, self.strides, self.padding, self.activation, self.alpha)
            return y, (x, None, y)
        # gelu's derivative needs the pre-activation z: kept, and the activation runs apart.
        z = _core.conv2d_forward(x, self.kernel.value, b, self.strides, self.padding)
        y = _core.activation_forward(z, self.activation, self.alpha)
        return y, (x, z, y)

    def backward(self, ctx, dy, need_dx=True):
        x, z, y = ctx
        dy = np.ascontiguousarray(dy)
        if z is None:
            dx, dw, db = _core.conv2d_backward(x, self.kernel.value, dy, self.strides, self.padding, need_dx,
                                               y=y, activation=self.activation, alpha=self.alpha)
        else:
            dz = _core.activation_backward(z, y, dy, self.activation, self.alpha)
            dx, dw, db = _core.conv2d_backward(x, self.kernel.value, dz, self.strides, self.padding, need_dx)
        return dx, ([dw, db] if self.use_bias else [dw])

    def params_for(self, input_shape):
        kh, kw = self.kernel_size
        return kh * kw * input_shape[-1] * self.filters + (self.filters if self.use_bias else 0)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        return (n, _out_len(h, self.kernel_size[0], self.strides[0], self.padding),
                _out_len(w, self.kernel_size[1], self.strides[1], self.padding), self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=list(self.kernel_size), strides=list(self.strides),
                      padding=self.padding, activation=self.activation, use_bias=self.use_bias,
                      kernel_initializer=initializers.serialize(self.kernel_initializer),
                      bias_initializer=initializers.serialize(self.bias_initializer))
        config.update(self._regularizer_config())
        return config


class _Pooling2D(Layer):
    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        _channels_last(data_format, type(self).__name__)
        self.pool_size = pair(pool_size, f"{type(self).__name__} pool_size")
        self.strides = self.pool_size if strides is None else pair(strides, f"{type(self).__name__} strides")
        self.padding = _padding(padding, type(self).__name__)

    def _check_input_rank(self, shape):
        _check_nhwc(self, shape, self.pool_size, self.padding)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, _out_len(h, self.pool_size[0], self.strides[0], self.padding),
                _out_len(w, self.pool_size[1], self.strides[1], self.padding), c)

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=list(self.pool_size), strides=list(self.strides), padding=self.padding)
        return config


class MaxPooling2D(_Pooling2D):
    """Max over pool_size windows (strides default to pool_size)."""

    def forward(self, x, training):
        if x.ndim != 4:
            raise ValueError(f"{self.name}: expected 4-D inputs, got shape {x.shape}")
        y, argmax = _core.maxpool2d_forward(x, self.pool_size, self.strides, self.padding)
        return y, (argmax, x.shape)

    def backward(self, ctx, dy, need_dx=True):
        argmax, shape = ctx
        return _core.maxpool2d_backward(np.ascontiguousarray(dy), argmax, shape), []


class AveragePooling2D(_Pooling2D):
    """Mean over pool_size windows (with 'same', padded cells are excluded, as Keras)."""

    def forward(self, x, training):
        if x.ndim != 4:
            raise ValueError(f"{self.name}: expected 4-D inputs, got shape {x.shape}")
        return _core.avgpool2d_forward(x, self.pool_size, self.strides, self.padding), x.shape

    def backward(self, ctx, dy, need_dx=True):
        return _core.avgpool2d_backward(np.ascontiguousarray(dy), ctx, self.pool_size, self.strides, self.padding), []


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
