"""Conv2DTranspose, Conv1DTranspose and Conv1D, composed from the Conv2D Rust kernels (no new Rust).

Conv2DTranspose is the adjoint of a Conv2D: its forward is a Conv2D's input-gradient
(`conv2d_backward`), its input-gradient is a Conv2D forward, and its kernel-gradient is a Conv2D
kernel-gradient with the roles of input and output-gradient swapped. Conv1D is a Conv2D over a
height-1 image. Both take and give channels-last arrays and keep Keras's weight layouts:
Conv2DTranspose kernel (kh, kw, filters, in_channels), Conv1D kernel (k, in_channels, filters).
"""

from __future__ import annotations

import numpy as np

from ... import _core
from .. import activations, initializers
from .base import Layer, check_positive_int, pair
from .conv import _channels_last, _out_len, _padding


def _nonneg_pair(value, what: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0 for v in value)):
        raise ValueError(f"{what} must be a non-negative int or a pair of them, got {value!r}")
    return int(value[0]), int(value[1])


def _single(value, what: str) -> int:
    """Keras 1-D layers take an int or a 1-tuple for kernel_size/strides/pool_size."""
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"{what} must be an int or a 1-tuple, got {value!r}")
        value = value[0]
    return check_positive_int(value, what)


def transpose_out_len(size, k: int, s: int, padding: str, output_padding):
    """Keras 3's output length of a transposed convolution (TensorFlow's padding rule):
    valid: (size-1)*s + max(k, s) (+ output_padding instead of the max term when given);
    same: size*s, or (size-1)*s + k%2 + output_padding when output_padding is given."""
    if size is None:
        return None
    if padding == "valid":
        return (size - 1) * s + k + (max(k, s) - k if output_padding is None else output_padding)
    return size * s if output_padding is None else (size - 1) * s + k % 2 + output_padding


def _act_forward(z: np.ndarray, activation: str, alpha: float) -> np.ndarray:
    return z if activation == "linear" else _core.activation_forward(z, activation, alpha)


def _act_backward(z, y, dy, activation: str, alpha: float) -> np.ndarray:
    return dy if activation == "linear" else _core.activation_backward(z, y, dy, activation, alpha)


class _ConvTranspose(Layer):
    """Transposed convolution over NHWC images: the geometry is kept as 2-D pairs (_k2, _s2, _op2);
    Conv2DTranspose uses them as given, Conv1DTranspose as a height-1 image."""

    _KIND = "Conv2DTranspose"

    def _setup(self, filters, k2, s2, padding, op2, dilation_ok, activation, use_bias, kernel_initializer,
               bias_initializer):
        kind = self._KIND
        if not dilation_ok:
            raise ValueError(f"{kind}: only dilation_rate 1 is supported")
        self.filters = check_positive_int(filters, f"{kind} filters")
        self._k2, self._s2 = k2, s2
        self.padding = _padding(padding, kind)
        if op2 is not None and any(p >= s for p, s in zip(op2, s2)):
            raise ValueError(f"{kind} output_padding must be smaller than strides in each dimension, got "
                             f"output_padding={self.output_padding} with strides={self.strides}")
        self._op2 = op2
        self.activation = activations.get(activation)
        self.alpha = activations.alpha_of(self.activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def _out_hw(self, h, w) -> tuple:
        op = self._op2 or (None, None)
        return (transpose_out_len(h, self._k2[0], self._s2[0], self.padding, op[0]),
                transpose_out_len(w, self._k2[1], self._s2[1], self.padding, op[1]))

    def _check_geometry(self, h, w) -> None:
        # The output must be a size whose Conv2D gives back the input size (the transpose is defined
        # through that Conv2D); with 'same', an even kernel and output_padding 0 it is not.
        for axis, size, out, k, s in zip(("height", "width"), (h, w), self._out_hw(h, w), self._k2, self._s2):
            if size is not None and out is not None and (out <= 0 or _out_len(out, k, s, self.padding) != size):
                raise ValueError(
                    f"{self.name}: output_padding={self.output_padding} with kernel_size={self.kernel_size}, "
                    f"strides={self.strides} and padding {self.padding!r} gives an output {axis} of {out}, which a "
                    f"convolution does not map back to the input {axis} {size}; choose another output_padding"
                )

    def _transpose_forward(self, x4, w4):
        oh, ow = self._out_hw(x4.shape[1], x4.shape[2])
        # The transposed convolution is the input-gradient of the Conv2D from y's shape to x's shape:
        # conv2d_backward with x4 as that Conv2D's output-gradient. Only the shape of its first
        # argument matters for dx. The kernel also computes the (here useless) kernel-gradient:
        # measured with `_core` directly on a shared 2-core AMD EPYC (load ~10, so noisy), N=128,
        # 7x7x64 -> 14x14x64, k=3, s=2: 9-13 ms per call, of which the kernel-gradient alone takes
        # 2-8 ms (4.2 ms on a quieter run). A dx-only entry point in Rust would save that.
        shape = (x4.shape[0], oh, ow, self.filters)
        canvas = self.__dict__.get("_canvas")
        if canvas is None or canvas.shape != shape:
            # Kept between calls: the kernel only reads it, and a fresh np.zeros pays its page faults
            # on every step (~3 ms at the size above).
            canvas = np.zeros(shape, np.float32)
            self.__dict__["_canvas"] = canvas
        z, _, _ = _core.conv2d_backward(canvas, w4, x4, self._s2, self.padding, True)
        if self.bias is not None:
            z += self.bias.value
        y = _act_forward(z, self.activation, self.alpha)
        return y, (x4, z, y)

    def _transpose_backward(self, ctx, dy, w4, need_dx):
        x4, z, y = ctx
        dy = np.ascontiguousarray(dy).reshape(y.shape)
        dz = np.ascontiguousarray(_act_backward(z, y, dy, self.activation, self.alpha))
        dx = _core.conv2d_forward(dz, w4, None, self._s2, self.padding) if need_dx else None
        # d/dw <conv2d(dz; w), x>: the Conv2D kernel-gradient with dz as its input and x as its
        # output-gradient.
        _, dw, _ = _core.conv2d_backward(dz, w4, x4, self._s2, self.padding, False)
        if not self.use_bias:
            return dx, [dw]
        return dx, [dw, dz.reshape(-1, self.filters).sum(axis=0)]

    def params_for(self, input_shape):
        return self._k2[0] * self._k2[1] * input_shape[-1] * self.filters + (self.filters if self.use_bias else 0)

    def _base_config(self) -> dict:
        config = Layer.get_config(self)
        config.update(filters=self.filters, kernel_size=list(self.kernel_size), strides=list(self.strides),
                      padding=self.padding,
                      output_padding=None if self.output_padding is None else list(self.output_padding),
                      data_format="channels_last", dilation_rate=[1] * len(self.kernel_size),
                      activation=self.activation, use_bias=self.use_bias,
                      kernel_initializer=initializers.serialize(self.kernel_initializer),
                      bias_initializer=initializers.serialize(self.bias_initializer))
        return config


class Conv2DTranspose(_ConvTranspose):
    """Transposed 2-D convolution ("deconvolution"): x[N,H,W,C] -> y[N,OH,OW,filters] with
    kernel[KH,KW,filters,C] (Keras layout). OH as Keras: 'valid' (H-1)*s + max(k, s), 'same' H*s,
    or set by output_padding."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        _channels_last(data_format, "Conv2DTranspose")
        self.kernel_size = pair(kernel_size, "Conv2DTranspose kernel_size")
        self.strides = pair(strides, "Conv2DTranspose strides")
        self.output_padding = (None if output_padding is None
                               else _nonneg_pair(output_padding, "Conv2DTranspose output_padding"))
        self._setup(filters, self.kernel_size, self.strides, padding, self.output_padding,
                    pair(dilation_rate, "Conv2DTranspose dilation_rate") == (1, 1), activation, use_bias,
                    kernel_initializer, bias_initializer)

    def _check_input_rank(self, shape):
        if len(shape) != 4:
            raise ValueError(f"{self.name}: Conv2DTranspose expects 4-D inputs (batch, height, width, channels), "
                             f"got shape {tuple(shape)}")
        self._check_geometry(shape[1], shape[2])

    def build(self, input_shape):
        c = input_shape[-1]
        self.kernel = self.add_weight("kernel", self.kernel_size + (self.filters, c), self.kernel_initializer)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer) if self.use_bias else None

    def forward(self, x, training):
        w = self.kernel.value
        if x.ndim != 4 or x.shape[3] != w.shape[3]:
            raise ValueError(f"{self.name}: expected inputs (batch, height, width, {w.shape[3]}), got shape {x.shape}")
        self._check_input_rank(x.shape)
        return self._transpose_forward(x, w)

    def backward(self, ctx, dy, need_dx=True):
        return self._transpose_backward(ctx, dy, self.kernel.value, need_dx)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        return (n,) + self._out_hw(h, w) + (self.filters,)

    def get_config(self):
        return self._base_config()


class Conv1DTranspose(_ConvTranspose):
    """Transposed 1-D convolution: x[N,T,C] -> y[N,OT,filters], kernel[K, filters, C] (Keras
    layout), run as a Conv2DTranspose over a height-1 image. OT as Keras: 'valid' (T-1)*s + max(k, s),
    'same' T*s, or set by output_padding."""

    _KIND = "Conv1DTranspose"

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        _channels_last(data_format, "Conv1DTranspose")
        k = _single(kernel_size, "Conv1DTranspose kernel_size")
        s = _single(strides, "Conv1DTranspose strides")
        self.kernel_size, self.strides = (k,), (s,)
        if output_padding is None:
            self.output_padding = None
        else:
            op = output_padding[0] if isinstance(output_padding, (tuple, list)) and len(output_padding) == 1 \
                else output_padding
            if isinstance(op, bool) or not isinstance(op, (int, np.integer)) or op < 0:
                raise ValueError(f"Conv1DTranspose output_padding must be a non-negative int, got {output_padding!r}")
            self.output_padding = (int(op),)
        self._setup(filters, (1, k), (1, s), padding, None if self.output_padding is None else (0,) + self.output_padding,
                    _single(dilation_rate, "Conv1DTranspose dilation_rate") == 1, activation, use_bias,
                    kernel_initializer, bias_initializer)

    def _check_input_rank(self, shape):
        if len(shape) != 3:
            raise ValueError(f"{self.name}: Conv1DTranspose expects 3-D inputs (batch, steps, channels), "
                             f"got shape {tuple(shape)}")
        self._check_geometry(1, shape[1])

    def build(self, input_shape):
        c = input_shape[-1]
        self.kernel = self.add_weight("kernel", self.kernel_size + (self.filters, c), self.kernel_initializer)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer) if self.use_bias else None

    def _w4(self):
        k, f, c = self.kernel.value.shape
        return self.kernel.value.reshape(1, k, f, c)  # a view: the kernel is contiguous

    def forward(self, x, training):
        c = self.kernel.value.shape[2]
        if x.ndim != 3 or x.shape[2] != c:
            raise ValueError(f"{self.name}: expected inputs (batch, steps, {c}), got shape {x.shape}")
        self._check_input_rank(x.shape)
        y, ctx = self._transpose_forward(x.reshape(x.shape[0], 1, x.shape[1], c), self._w4())
        return y.reshape(y.shape[0], y.shape[2], y.shape[3]), ctx

    def backward(self, ctx, dy, need_dx=True):
        dx, grads = self._transpose_backward(ctx, dy, self._w4(), need_dx)
        grads[0] = grads[0].reshape(self.kernel.value.shape)
        if dx is not None:
            dx = dx.reshape(dx.shape[0], dx.shape[2], dx.shape[3])
        return dx, grads

    def compute_output_shape(self, input_shape):
        n, t, _ = input_shape
        return (n, self._out_hw(1, t)[1], self.filters)

    def get_config(self):
        return self._base_config()


class Conv1D(Layer):
    """1-D convolution over (batch, steps, channels): kernel[K, C, filters] (Keras layout), run as
    a Conv2D over a height-1 image. padding 'valid', 'same', or 'causal' (left-padded by K-1, so
    output step t sees input steps <= t)."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        _channels_last(data_format, "Conv1D")
        if _single(dilation_rate, "Conv1D dilation_rate") != 1 or groups != 1:
            raise ValueError(f"Conv1D: only dilation_rate=1 and groups=1 are supported, got {dilation_rate!r}, {groups!r}")
        self.filters = check_positive_int(filters, "Conv1D filters")
        self.kernel_size = _single(kernel_size, "Conv1D kernel_size")
        self.strides = _single(strides, "Conv1D strides")
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same", "causal"):
            raise ValueError(f"Conv1D padding must be 'valid', 'same' or 'causal', got {padding!r}")
        self.padding = padding.lower()
        self.activation = activations.get(activation)
        self.alpha = activations.alpha_of(self.activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    @property
    def _pad2d(self) -> str:  # causal = explicit left padding, then a 'valid' convolution
        return "valid" if self.padding == "causal" else self.padding

    def _check_input_rank(self, shape):
        if len(shape) != 3:
            raise ValueError(f"{self.name}: Conv1D expects 3-D inputs (batch, steps, channels), got shape {tuple(shape)}")
        if self.padding == "valid" and shape[1] is not None and shape[1] < self.kernel_size:
            raise ValueError(f"{self.name}: input length {shape[1]} is shorter than kernel_size {self.kernel_size} "
                             "with padding 'valid'")

    def build(self, input_shape):
        c = input_shape[-1]
        self.kernel = self.add_weight("kernel", (self.kernel_size, c, self.filters), self.kernel_initializer)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer) if self.use_bias else None

    def forward(self, x, training):
        k, c, f = self.kernel.value.shape
        if x.ndim != 3 or x.shape[2] != c:
            raise ValueError(f"{self.name}: expected inputs (batch, steps, {c}), got shape {x.shape}")
        self._check_input_rank(x.shape)
        n, steps, _ = x.shape
        x4 = x.reshape(n, 1, steps, c)
        if self.padding == "causal":
            x4 = np.pad(x4, ((0, 0), (0, 0), (k - 1, 0), (0, 0)))
        w4 = self.kernel.value.reshape(1, k, c, f)  # a view: the kernel is contiguous
        b = self.bias.value if self.bias is not None else None
        stride = (1, self.strides)
        if self.activation in activations.FUSABLE_IN_DENSE:
            y = _core.conv2d_forward(x4, w4, b, stride, self._pad2d, self.activation, self.alpha)
            z = None
        else:  # gelu: keep the pre-activation for its derivative
            z = _core.conv2d_forward(x4, w4, b, stride, self._pad2d)
            y = _core.activation_forward(z, self.activation, self.alpha)
        return y.reshape(n, y.shape[2], f), (x4, z, y, steps)

    def backward(self, ctx, dy, need_dx=True):
        x4, z, y, steps = ctx
        k, c, f = self.kernel.value.shape
        w4 = self.kernel.value.reshape(1, k, c, f)
        dy4 = np.ascontiguousarray(dy).reshape(y.shape)
        stride = (1, self.strides)
        if z is None:
            dx4, dw, db = _core.conv2d_backward(x4, w4, dy4, stride, self._pad2d, need_dx,
                                                y=y, activation=self.activation, alpha=self.alpha)
        else:
            dz = _core.activation_backward(z, y, dy4, self.activation, self.alpha)
            dx4, dw, db = _core.conv2d_backward(x4, w4, dz, stride, self._pad2d, need_dx)
        dx = None
        if dx4 is not None:
            dx = dx4[:, 0, k - 1:, :] if self.padding == "causal" else dx4[:, 0]
            dx = np.ascontiguousarray(dx)
        dw = dw.reshape(k, c, f)
        return dx, ([dw, db] if self.use_bias else [dw])

    def params_for(self, input_shape):
        return self.kernel_size * input_shape[-1] * self.filters + (self.filters if self.use_bias else 0)

    def compute_output_shape(self, input_shape):
        n, steps, _ = input_shape
        if steps is None:
            out = None
        elif self.padding == "causal":
            out = _out_len(steps + self.kernel_size - 1, self.kernel_size, self.strides, "valid")
        else:
            out = _out_len(steps, self.kernel_size, self.strides, self.padding)
        return (n, out, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=[self.kernel_size], strides=[self.strides],
                      padding=self.padding, data_format="channels_last", dilation_rate=[1], groups=1,
                      activation=self.activation, use_bias=self.use_bias,
                      kernel_initializer=initializers.serialize(self.kernel_initializer),
                      bias_initializer=initializers.serialize(self.bias_initializer))
        return config


Convolution2DTranspose = Conv2DTranspose
Convolution1DTranspose = Conv1DTranspose
Convolution1D = Conv1D
