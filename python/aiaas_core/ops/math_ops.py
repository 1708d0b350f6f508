"""Elementwise maths, reductions and matmul, each with its gradient (written with these same ops,
so a recorded backward pass can itself be differentiated).

Values: numpy for elementwise maths (vectorized C, GIL released), the Rust kernels for matmul and
the activations. Shapes in the one-line comments: x [...] means any shape; broadcasting as numpy.
"""

from __future__ import annotations

import builtins

import numpy as np

from .. import _core
from . import autodiff
from .tensor import Tensor, _UFUNC_OPS, as_tensor_value, wrap


def output(value, inputs: tuple, backward, op: str) -> Tensor:
    """`value` as a Tensor, recorded with `backward` when a tape records and an input is tracked."""
    out = wrap(value)
    if autodiff.any_tracked(inputs):
        autodiff.attach(out, inputs, backward, op)
    return out


def _pair_values(a, b):
    """The two operands as arrays. A Python number takes the tensor operand's dtype (weak typing,
    as TF and JAX do), and ints mixed with float32 stay float32 rather than numpy's float64."""
    x = as_tensor_value(a)
    y = as_tensor_value(b)
    if x.dtype != y.dtype:
        weak_a = isinstance(a, (int, float, bool)) and not isinstance(a, np.generic)
        weak_b = isinstance(b, (int, float, bool)) and not isinstance(b, np.generic)
        if weak_a and not weak_b and not (x.dtype.kind == "f" and y.dtype.kind in "biu"):
            x = x.astype(y.dtype)
        elif weak_b and not weak_a and not (y.dtype.kind == "f" and x.dtype.kind in "biu"):
            y = y.astype(x.dtype)
        elif np.result_type(x, y) == np.float64 and np.float64 not in (x.dtype, y.dtype):
            x, y = x.astype(np.float32), y.astype(np.float32)
    return x, y


# ---- binary ops ------------------------------------------------------------------------------
def add(a, b):  # a [...] + b [...] -> broadcast
    x, y = _pair_values(a, b)
    return output(np.add(x, y), (a, b), lambda g: (g, g), "add")


def subtract(a, b):
    x, y = _pair_values(a, b)
    return output(np.subtract(x, y), (a, b), lambda g: (g, negative(g)), "subtract")


def multiply(a, b):
    x, y = _pair_values(a, b)
    return output(np.multiply(x, y), (a, b), lambda g: (multiply(g, b), multiply(g, a)), "multiply")


def divide(a, b):  # true division; ints become float32 as in tf.math.divide on ints... via numpy
    x, y = _pair_values(a, b)
    value = np.true_divide(x, y)
    if value.dtype == np.float64 and np.float64 not in (x.dtype, y.dtype):
        value = value.astype(np.float32)

    def backward(g):
        ga = divide(g, b)
        return ga, negative(multiply(ga, divide(a, b)))
    return output(value, (a, b), backward, "divide")


def floor_divide(a, b):
    x, y = _pair_values(a, b)
    return wrap(np.floor_divide(x, y))


def mod(a, b):
    x, y = _pair_values(a, b)
    return output(np.mod(x, y), (a, b), lambda g: (g, negative(multiply(g, floor_divide(a, b)))), "mod")


def power(a, b):
    x, y = _pair_values(a, b)
    value = np.power(x, y)

    def backward(g):
        ga = multiply(g, multiply(b, power(a, subtract(b, 1))))
        gb = None
        if autodiff.is_tracked(b):
            safe = where(as_tensor_value(a) > 0, a, 1.0)
            gb = multiply(g, multiply(value_of(value), log(safe)))
        return ga, gb
    return output(value, (a, b), backward, "power")


def value_of(arr):
    """A constant (never tracked) tensor of `arr`."""
    return wrap(as_tensor_value(arr))


def maximum(a, b):
    x, y = _pair_values(a, b)
    pick_a = x >= y

    def backward(g):
        return where(pick_a, g, 0.0), where(pick_a, 0.0, g)
    return output(np.maximum(x, y), (a, b), backward, "maximum")


def minimum(a, b):
    x, y = _pair_values(a, b)
    pick_a = x <= y

    def backward(g):
        return where(pick_a, g, 0.0), where(pick_a, 0.0, g)
    return output(np.minimum(x, y), (a, b), backward, "minimum")


def squared_difference(a, b):
    return square(subtract(a, b))


def matmul(a, b, transpose_a: bool = False, transpose_b: bool = False):
    """a [..., M, K] @ b [..., K, N] (1-D operands as numpy); float32 2-D/3-D runs the Rust gemm."""
    x, y = as_tensor_value(a), as_tensor_value(b)
    for name, v in (("a", x), ("b", y)):
        if v.dtype.kind not in "biuf":
            raise TypeError(f"matmul: {name} must be a real numeric tensor, got dtype {v.dtype}")
        if v.ndim < 1:
            raise TypeError(f"matmul: {name} must be at least 1-D, got a 0-D (scalar) tensor; use multiply")
    if x.dtype != y.dtype:
        x, y = _pair_values(a, b)
    for name, v, flag in (("a", x, transpose_a), ("b", y, transpose_b)):
        if flag and v.ndim < 2:
            raise ValueError(f"matmul: transpose_{name} needs a 2-D or higher {name}, got a 1-D tensor")
    if transpose_a:
        x = np.swapaxes(x, -1, -2)
    if transpose_b:
        y = np.swapaxes(y, -1, -2)
    kx = x.shape[-1]
    ky = y.shape[-2] if y.ndim >= 2 else y.shape[0]
    if kx != ky:
        raise ValueError(f"matmul: cannot multiply a of shape {np.shape(a)} by b of shape {np.shape(b)} "
                         f"(inner dimensions {kx} and {ky} differ)")
    try:
        value = _matmul_values(x, y)
    except ValueError as exc:
        raise ValueError(f"matmul: cannot multiply a of shape {np.shape(a)} by b of shape {np.shape(b)}: {exc}") from None

    def backward(g):
        aa = transpose_last(a) if transpose_a else a
        bb = transpose_last(b) if transpose_b else b
        if np.ndim(aa) == 1 or np.ndim(bb) == 1:
            return _matmul_vector_grads(g, aa, bb, transpose_a, transpose_b)
        ga = matmul(g, bb, transpose_b=True)
        gb = matmul(aa, g, transpose_a=True)
        if transpose_a:
            ga = transpose_last(ga)
        if transpose_b:
            gb = transpose_last(gb)
        return ga, gb
    return output(value, (a, b), backward, "matmul")


def _matmul_values(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if (x.dtype == np.float32 and y.dtype == np.float32 and x.ndim == 2 and y.ndim == 2
            and x.size and y.size):
        ta = not x.flags.c_contiguous and x.T.flags.c_contiguous
        tb = not y.flags.c_contiguous and y.T.flags.c_contiguous
        xa = x.T if ta else np.ascontiguousarray(x)
        ya = y.T if tb else np.ascontiguousarray(y)
        return _core.matmul(xa, ya, ta, tb)
    if (x.dtype == np.float32 and y.dtype == np.float32 and x.ndim == 3 and y.ndim in (2, 3)
            and x.size and y.size and (y.ndim == 2 or y.shape[0] in (1, x.shape[0]))):
        return _core.matmul(np.ascontiguousarray(x), np.ascontiguousarray(y), False, False)
    return np.matmul(x, y)


def _matmul_vector_grads(g, a, b, transpose_a, transpose_b):
    from .array_ops import expand_dims, squeeze
    a2 = expand_dims(a, 0) if np.ndim(a) == 1 else a
    b2 = expand_dims(b, -1) if np.ndim(b) == 1 else b
    g2 = g
    if np.ndim(a) == 1:
        g2 = expand_dims(g2, -2)
    if np.ndim(b) == 1:
        g2 = expand_dims(g2, -1)
    ga = matmul(g2, b2, transpose_b=True)
    gb = matmul(a2, g2, transpose_a=True)
    if np.ndim(a) == 1:
        ga = squeeze(ga, -2)
        ga = sum(ga, axis=tuple(range(np.ndim(ga) - 1))) if np.ndim(ga) > 1 else ga
    if np.ndim(b) == 1:
        gb = squeeze(gb, -1)
        gb = sum(gb, axis=tuple(range(np.ndim(gb) - 1))) if np.ndim(gb) > 1 else gb
    if transpose_a and np.ndim(ga) >= 2:
        ga = transpose_last(ga)
    if transpose_b and np.ndim(gb) >= 2:
        gb = transpose_last(gb)
    return ga, gb


def transpose_last(x):
    from .array_ops import transpose
    nd = np.ndim(x)
    perm = list(range(nd))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    return transpose(x, perm)


# ---- unary ops -------------------------------------------------------------------------------
def _float_value(x) -> np.ndarray:
    v = as_tensor_value(x)
    return v if v.dtype.kind in "fc" else v.astype(np.float32)


def negative(x):
    return output(np.negative(as_tensor_value(x)), (x,), lambda g: (negative(g),), "negative")


def exp(x):
    value = np.exp(_float_value(x))
    return output(value, (x,), lambda g: (multiply(g, value_of(value)),), "exp")


def expm1(x):
    value = np.expm1(_float_value(x))
    return output(value, (x,), lambda g: (multiply(g, exp(x)),), "expm1")


def log(x):
    return output(np.log(_float_value(x)), (x,), lambda g: (divide(g, x),), "log")


def log1p(x):
    return output(np.log1p(_float_value(x)), (x,), lambda g: (divide(g, add(x, 1.0)),), "log1p")


def sqrt(x):
    value = np.sqrt(_float_value(x))
    return output(value, (x,), lambda g: (divide(multiply(g, 0.5), value_of(value)),), "sqrt")


def rsqrt(x):
    return divide(1.0, sqrt(x))


def square(x):
    return output(np.square(as_tensor_value(x)), (x,), lambda g: (multiply(g, multiply(x, 2.0)),), "square")


def abs(x):  # noqa: A001 - TF's name
    v = as_tensor_value(x)
    return output(np.abs(v), (x,), lambda g: (multiply(g, value_of(np.sign(v))),), "abs")


def sign(x):
    return wrap(np.sign(as_tensor_value(x)))


def reciprocal(x):
    return divide(1.0, x)


def sin(x):
    return output(np.sin(_float_value(x)), (x,), lambda g: (multiply(g, cos(x)),), "sin")


def cos(x):
    return output(np.cos(_float_value(x)), (x,), lambda g: (negative(multiply(g, sin(x))),), "cos")


def tan(x):
    value = np.tan(_float_value(x))
    return output(value, (x,), lambda g: (multiply(g, add(1.0, square(value_of(value)))),), "tan")


def floor(x):
    return wrap(np.floor(as_tensor_value(x)))


def ceil(x):
    return wrap(np.ceil(as_tensor_value(x)))


def round(x):  # noqa: A001 - TF's name (banker's rounding, as tf.round)
    return wrap(np.round(as_tensor_value(x)))


def erf(x):
    from math import erf as _erf
    v = _float_value(x)
    value = np.vectorize(_erf, otypes=[v.dtype])(v) if v.size else v.copy()
    return output(value, (x,), lambda g: (multiply(g, multiply(2.0 / np.sqrt(np.pi), exp(negative(square(x))))),), "erf")


def clip_by_value(x, clip_value_min, clip_value_max):
    v = as_tensor_value(x)
    lo = as_tensor_value(clip_value_min).astype(v.dtype)
    hi = as_tensor_value(clip_value_max).astype(v.dtype)
    if np.any(lo > hi):
        raise ValueError(f"clip_by_value: clip_value_min {clip_value_min} is greater than clip_value_max {clip_value_max}")
    inside = (v >= lo) & (v <= hi)
    return output(np.clip(v, lo, hi), (x,), lambda g: (where(inside, g, 0.0),), "clip")


# ---- reductions ------------------------------------------------------------------------------
def _axes(axis, ndim: int):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (list, tuple, np.ndarray, Tensor)):
        axes = [int(a) for a in np.asarray(axis).ravel()]
    else:
        axes = [int(axis)]
    out = []
    for a in axes:
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor of rank {ndim}")
        out.append(a % ndim if ndim else 0)
    return tuple(sorted(set(out)))


def _restore(g, shape, axes, keepdims):
    """Broadcast a reduced gradient back to `shape`."""
    from .array_ops import broadcast_to, reshape
    if not keepdims:
        kept = tuple(1 if i in axes else d for i, d in enumerate(shape))
        g = reshape(g, kept)
    return broadcast_to(g, shape)


def sum(x, axis=None, keepdims: bool = False):  # noqa: A001 - keras.ops name
    v = as_tensor_value(x)
    axes = _axes(axis, v.ndim)
    value = np.sum(v, axis=axes, keepdims=keepdims)
    if v.dtype == np.bool_:
        value = value.astype(np.int32)
    shape = v.shape
    return output(np.asarray(value), (x,), lambda g: (_restore(g, shape, axes, keepdims),), "sum")


def mean(x, axis=None, keepdims: bool = False):
    v = _float_value(x)
    axes = _axes(axis, v.ndim)
    count = int(np.prod([v.shape[a] for a in axes])) if axes else 1
    value = np.mean(v, axis=axes, keepdims=keepdims) if v.size else np.sum(v, axis=axes, keepdims=keepdims) / max(count, 1)
    shape = v.shape
    return output(np.asarray(value, dtype=v.dtype), (x,),
                  lambda g: (_restore(divide(g, float(builtins.max(count, 1))), shape, axes, keepdims),), "mean")


def _extreme(x, axis, keepdims, fn, name):
    v = as_tensor_value(x)
    axes = _axes(axis, v.ndim)
    if v.size == 0 and builtins.any(v.shape[a] == 0 for a in axes):
        raise ValueError(f"reduce_{name} of an empty tensor (shape {v.shape}) has no value")
    value = fn(v, axis=axes, keepdims=True)
    hits = (v == value).astype(v.dtype if v.dtype.kind == "f" else np.float32)
    share = hits / hits.sum(axis=axes, keepdims=True)  # ties split the gradient, as TF does
    out_value = value if keepdims else np.squeeze(value, axis=axes)
    shape = v.shape

    def backward(g):
        return (multiply(_restore(g, shape, axes, keepdims), value_of(share)),)
    return output(np.asarray(out_value), (x,), backward, name)


def max(x, axis=None, keepdims: bool = False):  # noqa: A001
    return _extreme(x, axis, keepdims, np.max, "max")


def min(x, axis=None, keepdims: bool = False):  # noqa: A001
    return _extreme(x, axis, keepdims, np.min, "min")


def prod(x, axis=None, keepdims: bool = False):
    v = as_tensor_value(x)
    axes = _axes(axis, v.ndim)
    value = np.prod(v, axis=axes, keepdims=keepdims)
    shape = v.shape

    def backward(g):
        # d prod / d x_i = prod of the others (exact with zeros: products of the left and right parts)
        from .array_ops import transpose, reshape
        moved = np.moveaxis(v, axes, range(len(axes)))
        flat = moved.reshape((-1,) + moved.shape[len(axes):])
        left = np.concatenate([np.ones_like(flat[:1]), np.cumprod(flat, axis=0)[:-1]], axis=0)
        right = np.concatenate([np.cumprod(flat[::-1], axis=0)[::-1][1:], np.ones_like(flat[:1])], axis=0)
        others = (left * right).reshape(moved.shape)
        others = np.moveaxis(others, range(len(axes)), axes)
        return (multiply(_restore(g, shape, axes, keepdims), value_of(others)),)
    return output(np.asarray(value), (x,), backward, "prod")


def logsumexp(x, axis=None, keepdims: bool = False):
    v = _float_value(x)
    axes = _axes(axis, v.ndim)
    m = np.max(v, axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    value = np.log(np.sum(np.exp(v - m), axis=axes, keepdims=True)) + m
    out_value = value if keepdims else np.squeeze(value, axis=axes)
    shape = v.shape

    def backward(g):
        return (multiply(_restore(g, shape, axes, keepdims), exp(subtract(x, value_of(value)))),)
    return output(np.asarray(out_value, dtype=v.dtype), (x,), backward, "logsumexp")


def var(x, axis=None, keepdims: bool = False):
    centered = subtract(x, mean(x, axis=axis, keepdims=True))
    return mean(square(centered), axis=axis, keepdims=keepdims)


def std(x, axis=None, keepdims: bool = False):
    return sqrt(var(x, axis=axis, keepdims=keepdims))


def argmax(x, axis=None):
    v = as_tensor_value(x)
    return wrap(np.asarray(np.argmax(v, axis=axis), dtype=np.int64))


def argmin(x, axis=None):
    v = as_tensor_value(x)
    return wrap(np.asarray(np.argmin(v, axis=axis), dtype=np.int64))


def reduce_all(x, axis=None, keepdims=False):
    return wrap(np.all(as_tensor_value(x), axis=None if axis is None else _axes(axis, np.ndim(x)), keepdims=keepdims))


def reduce_any(x, axis=None, keepdims=False):
    return wrap(np.any(as_tensor_value(x), axis=None if axis is None else _axes(axis, np.ndim(x)), keepdims=keepdims))


def cumsum(x, axis=None):
    v = as_tensor_value(x)
    if axis is None:
        from .array_ops import reshape
        return cumsum(reshape(x, (-1,)), 0)
    ax = int(axis) % v.ndim

    def backward(g):
        from .array_ops import reverse
        return (reverse(cumsum(reverse(g, [ax]), ax), [ax]),)
    return output(np.cumsum(v, axis=ax), (x,), backward, "cumsum")


# ---- comparisons (no gradient) -----------------------------------------------------------------
def _compare(fn):
    def op(a, b):
        x, y = _pair_values(a, b)
        return wrap(fn(x, y))
    op.__name__ = fn.__name__
    return op


equal = _compare(np.equal)
not_equal = _compare(np.not_equal)
greater = _compare(np.greater)
greater_equal = _compare(np.greater_equal)
less = _compare(np.less)
less_equal = _compare(np.less_equal)
logical_and = _compare(np.logical_and)
logical_or = _compare(np.logical_or)
logical_xor = _compare(np.logical_xor)


def logical_not(x):
    return wrap(np.logical_not(as_tensor_value(x)))


def is_nan(x):
    return wrap(np.isnan(as_tensor_value(x)))


def is_inf(x):
    return wrap(np.isinf(as_tensor_value(x)))


def is_finite(x):
    return wrap(np.isfinite(as_tensor_value(x)))


def where(condition, x=None, y=None):
    """Elements of x where condition, else of y; with one argument, the indices of true elements."""
    c = as_tensor_value(condition).astype(bool)
    if x is None and y is None:
        return wrap(np.argwhere(c).astype(np.int64))
    if x is None or y is None:
        raise ValueError("where takes either only a condition, or a condition, x and y")
    xv, yv = _pair_values(x, y)

    def backward(g):
        zero = np.zeros((), dtype=np.result_type(as_tensor_value(g)))
        return None, _select(c, g, zero), _select(c, zero, g)
    return output(np.where(c, xv, yv), (condition, x, y), backward, "where")


def _select(c, a, b):
    """where(c, a, b) with c constant (the gradient rule of where, itself differentiable)."""
    av, bv = _pair_values(a, b)
    return output(np.where(c, av, bv), (a, b), lambda g: (_select(c, g, 0.0), _select(c, 0.0, g)), "select")


def _stack_values(rows):
    from .array_ops import stack
    return stack(rows)


def cast(x, dtype):
    """x as `dtype`; the gradient passes through float-to-float casts only."""
    from .dtypes import as_dtype
    dt = as_dtype(dtype)
    v = as_tensor_value(x)
    value = v.astype(dt) if v.dtype != dt else v
    if dt.kind != "f" or v.dtype.kind != "f":
        return wrap(np.array(value, copy=value is v))
    src = v.dtype
    return output(np.array(value, copy=value is v), (x,), lambda g: (cast(g, src),), "cast")


# numpy code on tensors (`np.exp(t)`, `t * 2`, `-t`) takes the recorded ops.
_UFUNC_OPS.update({
    np.add: add, np.subtract: subtract, np.multiply: multiply, np.true_divide: divide, np.negative: negative,
    np.power: power, np.maximum: maximum, np.minimum: minimum, np.exp: exp, np.log: log, np.sqrt: sqrt,
    np.square: square, np.absolute: abs, np.sin: sin, np.cos: cos, np.tan: tan, np.log1p: log1p,
    np.expm1: expm1, np.matmul: matmul, np.mod: mod,
})
