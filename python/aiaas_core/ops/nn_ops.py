"""Neural-network functions (tf.nn / keras.ops names): activations on the Rust kernels for float32,
softmax and log-softmax, cross-entropies from logits, moments, normalisation, dropout."""

from __future__ import annotations

import numpy as np

from .. import _core
from . import array_ops, autodiff, math_ops, random_ops
from .math_ops import (add, divide, exp, log, logsumexp, maximum, mean, multiply, negative, output, square,
                       subtract, sum as reduce_sum, where, value_of, _float_value)
from .tensor import _UFUNC_OPS, as_tensor_value, wrap


def _kernel_activation(x, name: str, alpha: float = 0.0):
    """A Rust activation (float32) whose backward is the Rust derivative, or the op formula when
    the backward itself is being recorded (second derivatives)."""
    v = _float_value(x)
    if v.dtype != np.float32 or v.ndim == 0 or v.size == 0:
        return _FORMULAS[name](x, alpha)
    xv = np.ascontiguousarray(v)
    y = _core.activation_forward(xv, name, alpha)

    def backward(g):
        if autodiff.recording() and (autodiff.is_tracked(g) or autodiff.is_tracked(x)):
            return (_formula_grad(name, x, g, alpha),)
        gv = np.ascontiguousarray(as_tensor_value(g, np.float32))
        return (wrap(_core.activation_backward(xv, y, gv, name, alpha)),)
    return output(y, (x,), backward, name)


def _formula_grad(name, x, g, alpha):
    """d act / dx * g, written with recorded ops."""
    with_tape = _FORMULAS[name](x, alpha)  # recomputed with recorded ops
    if name == "softmax":
        return multiply(with_tape, subtract(g, reduce_sum(multiply(g, with_tape), axis=-1, keepdims=True)))
    if name == "sigmoid":
        return multiply(g, multiply(with_tape, subtract(1.0, with_tape)))
    if name == "tanh":
        return multiply(g, subtract(1.0, square(with_tape)))
    if name == "relu":
        return where(as_tensor_value(x) > 0, g, 0.0)
    if name == "leaky_relu":
        return where(as_tensor_value(x) > 0, g, multiply(g, alpha))
    if name == "elu":
        return where(as_tensor_value(x) > 0, g, multiply(g, add(with_tape, alpha)))
    if name == "gelu":  # exact (erf) GELU, as the kernel: d/dx = Phi(x) + x phi(x)
        cdf = multiply(0.5, add(1.0, math_ops.erf(multiply(x, float(1 / np.sqrt(2.0))))))
        pdf = multiply(float(1 / np.sqrt(2 * np.pi)), exp(multiply(square(x), -0.5)))
        return multiply(g, add(cdf, multiply(x, pdf)))
    raise ValueError(f"no gradient formula for activation {name!r}")


def _relu_f(x, alpha=0.0):
    v = as_tensor_value(x)
    return where(v > 0, x, 0.0)


def _leaky_f(x, alpha=0.2):
    v = as_tensor_value(x)
    return where(v > 0, x, multiply(x, alpha))


def _sigmoid_f(x, alpha=0.0):
    v = _float_value(x)
    # stable for both signs: exp of a non-positive number only
    e = exp(negative(_abs(x)))
    pos = divide(1.0, add(1.0, e))
    return where(v >= 0, pos, divide(e, add(1.0, e)))


def _abs(x):
    return math_ops.abs(x)


def _tanh_f(x, alpha=0.0):
    v = _float_value(x)
    value = np.tanh(v)
    return output(value, (x,), lambda g: (multiply(g, subtract(1.0, square(tanh(x)))),), "tanh")


def _softmax_f(x, alpha=0.0, axis=-1):
    shifted = subtract(x, value_of(np.max(_float_value(x), axis=axis, keepdims=True)))
    e = exp(shifted)
    return divide(e, reduce_sum(e, axis=axis, keepdims=True))


def _elu_f(x, alpha=1.0):
    v = as_tensor_value(x)
    return where(v > 0, x, multiply(math_ops.expm1(minimum0(x)), alpha))


def minimum0(x):
    return math_ops.minimum(x, 0.0)


def _gelu_f(x, alpha=0.0):
    """Exact GELU, x Phi(x) with the normal CDF through erf: what the Rust "gelu" kernel computes."""
    return multiply(multiply(0.5, x), add(1.0, math_ops.erf(multiply(x, float(1 / np.sqrt(2.0))))))


def _gelu_tanh(x):
    """GELU's tanh approximation (keras.ops.gelu's default, approximate=True)."""
    inner = multiply(float(np.sqrt(2.0 / np.pi)), add(x, multiply(0.044715, math_ops.power(x, 3))))
    return multiply(multiply(0.5, x), add(1.0, tanh(inner)))


_FORMULAS = {"relu": _relu_f, "leaky_relu": _leaky_f, "sigmoid": _sigmoid_f, "tanh": _tanh_f,
             "softmax": _softmax_f, "elu": _elu_f, "gelu": _gelu_f}


def relu(x):  # x [...] -> same
    return _kernel_activation(x, "relu")


def relu6(x):  # x [...] -> same
    return math_ops.clip_by_value(x, 0.0, 6.0)


def sigmoid(x):  # x [...] -> same
    return _kernel_activation(x, "sigmoid")


def tanh(x):  # x [...] -> same
    return _kernel_activation(x, "tanh")


def leaky_relu(x, negative_slope=0.2, alpha=None):  # x [...] -> same
    return _kernel_activation(x, "leaky_relu", float(negative_slope if alpha is None else alpha))


def elu(x, alpha=1.0):  # x [...] -> same
    return _kernel_activation(x, "elu", float(alpha))


def selu(x):  # x [...] -> same
    a, s = 1.6732632423543772, 1.0507009873554805
    return multiply(s, _elu_f(x, a))


def gelu(x, approximate=True):  # x [...] -> same; exact (erf) on the Rust kernel, tanh form with ops
    if approximate:
        return _gelu_tanh(x)
    return _kernel_activation(x, "gelu")


def _one_axis(x, axis, op):
    nd = np.ndim(as_tensor_value(x))
    if nd == 0:
        raise ValueError(f"{op}: needs a tensor of rank >= 1, got a scalar")
    return array_ops._axis(axis, nd, op)


def softmax(x, axis=-1):  # x [...] -> same, normalised along axis (the Rust kernel on the last axis)
    ax = _one_axis(x, axis, "softmax")
    if ax == np.ndim(as_tensor_value(x)) - 1:
        return _kernel_activation(x, "softmax")
    return _softmax_f(x, axis=ax)


def log_softmax(x, axis=-1):  # x [...] -> same: x - logsumexp(x)
    ax = _one_axis(x, axis, "log_softmax")
    return subtract(x, logsumexp(x, axis=ax, keepdims=True))


def softplus(x):  # x [...] -> same
    # log(1 + e^x) = max(x, 0) + math_ops.log1p(e^-|x|)
    return add(maximum(x, 0.0), math_ops.log1p(exp(negative(_abs(x)))))


def softsign(x):  # x [...] -> same
    return divide(x, add(1.0, _abs(x)))


def silu(x, beta=1.0):  # x [...] -> same
    return multiply(x, sigmoid(multiply(x, beta) if beta != 1.0 else x))


swish = silu


def hard_sigmoid(x):  # x [...] -> same
    return math_ops.clip_by_value(add(multiply(x, 1.0 / 6.0), 0.5), 0.0, 1.0)


def l2_normalize(x, axis=-1, epsilon=1e-12):  # x [...] -> same, unit norm along axis
    sq = reduce_sum(square(x), axis=axis, keepdims=True)
    return multiply(x, math_ops.rsqrt(maximum(sq, epsilon)))


def moments(x, axes, keepdims=False):  # x [...] -> (mean, variance), reduced over axes
    """(mean, variance) over `axes` (tf.nn.moments)."""
    m = mean(x, axis=axes, keepdims=True)
    v = mean(square(subtract(x, m)), axis=axes, keepdims=keepdims)
    if not keepdims:
        m = array_ops.squeeze(m, math_ops._axes(axes, np.ndim(x)))
    return m, v


def bias_add(value, bias):  # value [..., C] + bias [C]
    return add(value, bias)


def _labels_and_logits(labels, logits, op):
    if labels is None or logits is None:
        raise ValueError(f"{op} needs both labels= and logits=")
    lv, zv = as_tensor_value(labels), as_tensor_value(logits)
    if zv.dtype.kind != "f":
        raise TypeError(f"{op}: logits must be floats, got dtype {zv.dtype}")
    return lv, zv


def sigmoid_cross_entropy_with_logits(labels=None, logits=None):  # labels, logits [...] -> [...]
    """Elementwise max(z, 0) - z y + log(1 + e^-|z|)."""
    lv, zv = _labels_and_logits(labels, logits, "sigmoid_cross_entropy_with_logits")
    if lv.shape != zv.shape:
        raise ValueError(f"sigmoid_cross_entropy_with_logits: labels of shape {lv.shape} and logits of shape {zv.shape} "
                         f"must have the same shape")
    return add(subtract(maximum(logits, 0.0), multiply(logits, labels)), math_ops.log1p(exp(negative(_abs(logits)))))


def softmax_cross_entropy_with_logits(labels=None, logits=None, axis=-1):  # [..., C] -> [...]
    lv, zv = _labels_and_logits(labels, logits, "softmax_cross_entropy_with_logits")
    if lv.shape != zv.shape:
        raise ValueError(f"softmax_cross_entropy_with_logits: labels of shape {lv.shape} must match logits of shape "
                         f"{zv.shape} (one probability per class; for class ids use the sparse version)")
    return negative(reduce_sum(multiply(labels, log_softmax(logits, axis=axis)), axis=axis))


def sparse_softmax_cross_entropy_with_logits(labels=None, logits=None):  # ids [...], logits [..., C] -> [...]
    lv, zv = _labels_and_logits(labels, logits, "sparse_softmax_cross_entropy_with_logits")
    if lv.dtype.kind not in "iu" and not (lv.dtype.kind == "f" and lv.size and np.all(lv == np.round(lv))):
        raise TypeError(f"sparse_softmax_cross_entropy_with_logits: labels must be integer class ids, got dtype {lv.dtype}"
                        + (" with NaN or fractional values" if lv.dtype.kind == "f" else ""))
    if zv.ndim == 0 or lv.shape != zv.shape[:-1]:
        raise ValueError(f"sparse_softmax_cross_entropy_with_logits: labels shape {lv.shape} must be the logits shape "
                         f"{zv.shape} without its last (class) axis")
    if lv.size and (lv.min() < 0 or lv.max() >= zv.shape[-1]):
        raise ValueError(f"sparse_softmax_cross_entropy_with_logits: labels must be in [0, {zv.shape[-1]}), got values "
                         f"from {lv.min()} to {lv.max()}")
    ids = lv.astype(np.int64)
    logp = log_softmax(logits)
    return negative(array_ops.squeeze(array_ops.take_along_axis(logp, array_ops.expand_dims(wrap(ids), -1), axis=-1), -1))


def dropout(x, rate=0.5, noise_shape=None, seed=None):  # x [...] -> same
    """Inverted dropout: kept entries scaled by 1/(1-rate)."""
    if not 0.0 <= float(rate) < 1.0:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate!r}")
    v = as_tensor_value(x)
    shape = v.shape if noise_shape is None else tuple(int(d) for d in noise_shape)
    keep = (random_ops._generator(seed).random(shape) >= rate).astype(v.dtype) / (1.0 - rate)
    return multiply(x, value_of(keep))


_UFUNC_OPS[np.tanh] = tanh


def log_sigmoid(x):  # x [...] -> same: -softplus(-x)
    return negative(softplus(negative(x)))


def _probabilities_check(target, output, op):
    tv, ov = as_tensor_value(target), as_tensor_value(output)
    if ov.dtype.kind != "f":
        raise TypeError(f"{op}: output must be floats, got dtype {ov.dtype}")
    return tv, ov


def binary_crossentropy(target, output, from_logits=False):  # [...] -> [...] (elementwise, as keras.ops)
    tv, ov = _probabilities_check(target, output, "binary_crossentropy")
    if tv.shape != ov.shape:
        raise ValueError(f"binary_crossentropy: target of shape {tv.shape} and output of shape {ov.shape} must match")
    if from_logits:
        return sigmoid_cross_entropy_with_logits(labels=target, logits=output)
    eps = 1e-7
    p = math_ops.clip_by_value(output, eps, 1.0 - eps)
    return negative(add(multiply(target, log(p)), multiply(subtract(1.0, target), math_ops.log1p(negative(p)))))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):  # [..., C] -> [...]
    tv, ov = _probabilities_check(target, output, "categorical_crossentropy")
    if tv.shape != ov.shape:
        raise ValueError(f"categorical_crossentropy: target of shape {tv.shape} and output of shape {ov.shape} must "
                         f"match (one probability per class; class ids go to sparse_categorical_crossentropy)")
    if from_logits:
        return softmax_cross_entropy_with_logits(labels=target, logits=output, axis=axis)
    p = divide(output, reduce_sum(output, axis=axis, keepdims=True))  # Keras renormalises probabilities
    return negative(reduce_sum(multiply(target, log(math_ops.clip_by_value(p, 1e-7, 1.0 - 1e-7))), axis=axis))


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):  # ids [...], [..., C] -> [...]
    _probabilities_check(target, output, "sparse_categorical_crossentropy")
    if axis not in (-1, np.ndim(as_tensor_value(output)) - 1):
        raise ValueError("sparse_categorical_crossentropy: only the last axis can hold the classes")
    if from_logits:
        return sparse_softmax_cross_entropy_with_logits(labels=target, logits=output)
    p = math_ops.clip_by_value(divide(output, reduce_sum(output, axis=-1, keepdims=True)), 1e-7, 1.0 - 1e-7)
    # the log of the probabilities as logits: log_softmax(log p) = log p for normalised p
    return sparse_softmax_cross_entropy_with_logits(labels=target, logits=log(p))
