"""LSTM, GRU (reset_after=True) and SimpleRNN, batch-first, Keras weight layouts, Rust BPTT."""

from __future__ import annotations

import numpy as np

from ... import _core
from .. import activations, initializers
from .base import Layer, check_positive_int


class _RNN(Layer):
    gates = 1  # kernel width = gates * units

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", dropout=0.0, recurrent_dropout=0.0, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.units = check_positive_int(units, f"{owner} units")
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        for flag, value in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if value not in (0, 0.0, None):
                raise ValueError(f"{owner}: {flag} is not supported (use a Dropout layer), got {value!r}")
        for flag, value in (("return_state", return_state), ("go_backwards", go_backwards), ("stateful", stateful)):
            if value:
                raise ValueError(f"{owner}: {flag}=True is not supported")
        self.return_sequences = bool(return_sequences)

    def _check_input_rank(self, shape):
        if len(shape) != 3 or shape[1] == 0:
            raise ValueError(
                f"{self.name}: {type(self).__name__} expects 3-D inputs (batch, timesteps >= 1, features), "
                f"got shape {tuple(shape)}"
            )

    def _bias_shape(self) -> tuple[int, ...]:
        return (self.gates * self.units,)

    def _bias_init(self, shape) -> np.ndarray:
        return self.bias_initializer(shape)

    def build(self, input_shape):
        d, g = input_shape[-1], self.gates * self.units
        self.kernel = self.add_weight("kernel", (d, g), self.kernel_initializer)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, g), self.recurrent_initializer)
        self.bias = self.add_weight("bias", self._bias_shape(), self._bias_init) if self.use_bias else None

    def forward(self, x, training):
        if x.ndim != 3 or x.shape[2] != self.kernel.value.shape[0] or x.shape[1] == 0:
            raise ValueError(
                f"{self.name}: expected inputs (batch, timesteps >= 1, {self.kernel.value.shape[0]}), got shape {x.shape}"
            )
        b = self.bias.value if self.bias is not None else None
        hs, cache = self._kernel_forward(x, b)
        y = hs if self.return_sequences else np.ascontiguousarray(hs[:, -1])
        return y, (x, hs, cache)

    def backward(self, ctx, dy, need_dx=True):
        x, hs, cache = ctx
        if self.return_sequences:
            dhs = np.ascontiguousarray(dy)
        else:
            dhs = np.zeros_like(hs)
            dhs[:, -1] = dy
        dx, dk, dr, db = self._kernel_backward(x, hs, cache, dhs, need_dx)
        return dx, ([dk, dr, db.reshape(self._bias_shape())] if self.use_bias else [dk, dr])

    def params_for(self, input_shape):
        g = self.gates * self.units
        bias = int(np.prod(self._bias_shape())) if self.use_bias else 0
        return input_shape[-1] * g + self.units * g + bias

    def compute_output_shape(self, input_shape):
        if self.return_sequences:
            return (input_shape[0], input_shape[1], self.units)
        return (input_shape[0], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, activation=self.activation, use_bias=self.use_bias,
                      return_sequences=self.return_sequences,
                      kernel_initializer=initializers.serialize(self.kernel_initializer),
                      recurrent_initializer=initializers.serialize(self.recurrent_initializer),
                      bias_initializer=initializers.serialize(self.bias_initializer))
        if self.gates > 1:
            config["recurrent_activation"] = self.recurrent_activation
        return config


class LSTM(_RNN):
    """LSTM: kernel [D,4H], recurrent_kernel [H,4H], bias [4H]; gates i, f, c, o."""

    gates = 4

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        self.unit_forget_bias = bool(unit_forget_bias)
        super().__init__(units, **kwargs)

    def _bias_init(self, shape):
        bias = self.bias_initializer(shape)
        if self.unit_forget_bias:  # Keras: forget-gate bias starts at 1
            bias[self.units:2 * self.units] = 1.0
        return bias

    def _kernel_forward(self, x, b):
        return _core.lstm_forward(x, self.kernel.value, self.recurrent_kernel.value, b,
                                  self.activation, self.recurrent_activation)

    def _kernel_backward(self, x, hs, cache, dhs, need_dx):
        return _core.lstm_backward(x, self.kernel.value, self.recurrent_kernel.value, hs, cache, dhs,
                                   self.activation, self.recurrent_activation, need_dx)

    def get_config(self):
        config = super().get_config()
        config["unit_forget_bias"] = self.unit_forget_bias
        return config


class GRU(_RNN):
    """GRU (reset_after=True): kernel [D,3H], recurrent_kernel [H,3H], bias [2,3H]; gates z, r, h."""

    gates = 3

    def __init__(self, units, reset_after=True, **kwargs):
        if reset_after is not True:
            raise ValueError("GRU: only reset_after=True (the Keras default) is supported")
        super().__init__(units, **kwargs)

    def _bias_shape(self):
        return (2, 3 * self.units)

    def _kernel_forward(self, x, b):
        return _core.gru_forward(x, self.kernel.value, self.recurrent_kernel.value, b,
                                 self.activation, self.recurrent_activation)

    def _kernel_backward(self, x, hs, cache, dhs, need_dx):
        return _core.gru_backward(x, self.kernel.value, self.recurrent_kernel.value, hs, cache, dhs,
                                  self.activation, self.recurrent_activation, need_dx)

    def get_config(self):
        config = super().get_config()
        config["reset_after"] = True
        return config


class SimpleRNN(_RNN):
    """h_t = activation(x_t W + h_{t-1} U + b): kernel [D,H], recurrent_kernel [H,H], bias [H]."""

    gates = 1

    def __init__(self, units, activation="tanh", **kwargs):
        super().__init__(units, activation=activation, **kwargs)

    def _kernel_forward(self, x, b):
        return _core.simple_rnn_forward(x, self.kernel.value, self.recurrent_kernel.value, b, self.activation)

    def _kernel_backward(self, x, hs, cache, dhs, need_dx):
        return _core.simple_rnn_backward(x, self.kernel.value, self.recurrent_kernel.value, hs, cache, dhs,
                                         self.activation, need_dx)
