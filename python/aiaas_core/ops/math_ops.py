"""Elementwise maths, reductions and matmul, each with its gradient (written with these same ops,
so a recorded backward pass can itself be differentiated).

Values: numpy for elementwise maths (vectorized C, GIL released), the Rust kernels for matmul and
the activations. Shapes in the one-line comments: x [...] means any shape; broadcasting as numpy.
"""

from __future__ import annotations

import builtins
import math
import weakref

import numpy as np

from .. import _core
from . import array_ops, autodiff
from .dtypes import as_dtype
from .tensor import Tensor, _METHOD_OPS, _UFUNC_OPS, as_tensor_value, wrap


def output(value, inputs: tuple, backward, op: str) -> Tensor:
    """`value` as a Tensor, recorded with `backward` when a tape records and an input is tracked."""
    out = wrap(value)
    if autodiff.any_tracked(inputs):
        autodiff.attach(out, inputs, backward, op)
    return out


def _is_weak(v) -> bool:
    """A bare number (Python or numpy scalar): it takes the other operand's dtype."""
    return isinstance(v, (int, float, bool, np.generic)) and not isinstance(v, np.ndarray)


def _weak_value(v, dtype: np.dtype) -> np.ndarray | None:
    """`v` (a bare number) in `dtype` when that loses nothing of its kind, else None."""
    if dtype.kind in "fc" or (dtype.kind in "iu" and isinstance(v, (int, bool, np.integer, np.bool_))) \
            or (dtype.kind == "b" and isinstance(v, (bool, np.bool_))):
        return np.asarray(v, dtype=dtype)
    return None


def _pair_values(a, b, op: str = "op"):
    """The two operands as arrays of one dtype, checked to broadcast. A bare number takes the
    tensor operand's dtype (weak typing, as TF and JAX do: `x32 * 0.5` stays float32, and a float64
    tensor times 0.2 is not rounded through float32); ints mixed with float32 stay float32 rather
    than numpy's float64."""
    x = y = None
    if _is_weak(a) and not _is_weak(b):
        y = as_tensor_value(b)
        x = _weak_value(a, y.dtype)
    elif _is_weak(b) and not _is_weak(a):
        x = as_tensor_value(a)
        y = _weak_value(b, x.dtype)
    if x is None:
        x = as_tensor_value(a)
    if y is None:
        y = as_tensor_value(b)
    if x.dtype != y.dtype:
        dt = np.result_type(x, y)
        if dt == np.float64 and np.float64 not in (x.dtype, y.dtype):
            dt = np.dtype(np.float32)
        x, y = x.astype(dt, copy=False), y.astype(dt, copy=False)
    xs, ys = x.shape, y.shape
    if xs != ys and not (len(ys) <= len(xs) and xs[len(xs) - len(ys):] == ys) \
            and not (len(xs) < len(ys) and ys[len(ys) - len(xs):] == xs):  # the common cases (bias, scalar) first
        _check_broadcast(op, xs, ys)
    return x, y


def _check_broadcast(op: str, *shapes) -> None:
    """A clear error when the shapes do not broadcast. A plain loop: np.broadcast_shapes costs a
    few microseconds, which small ops in a training loop would pay on every call."""
    n = builtins.max(len(s) for s in shapes)
    for i in range(1, n + 1):  # axes aligned from the right: at most one size other than 1 per axis
        sizes = {s[-i] for s in shapes if len(s) >= i and s[-i] != 1}
        if len(sizes) > 1:
            raise ValueError(
                f"{op}: shapes {' and '.join(str(tuple(s)) for s in shapes)} are incompatible: broadcasting needs "
                f"each pair of trailing dimensions to be equal or 1")


def _result_ref(out):
    """A way for a backward rule to use its op's own output while staying differentiable: the
    recorded output itself (so a second derivative flows through it) through a weak reference (no
    reference cycle keeping activations alive), or its value once the output is gone."""
    if out._node is None:  # not recorded: no backward will ever ask
        return None
    ref = weakref.ref(out)
    value = out.view(np.ndarray)

    def get():
        t = ref()
        return t if t is not None else wrap(value)
    return get


# ---- binary ops ------------------------------------------------------------------------------
def add(a, b):  # a [...] + b [...] -> broadcast
    x, y = _pair_values(a, b, "add")
    return output(np.add(x, y), (a, b), lambda g: (g, g), "add")


def subtract(a, b):  # broadcast
    x, y = _pair_values(a, b, "subtract")
    return output(np.subtract(x, y), (a, b), lambda g: (g, negative(g)), "subtract")


def multiply(a, b):  # broadcast
    x, y = _pair_values(a, b, "multiply")
    return output(np.multiply(x, y), (a, b), lambda g: (multiply(g, b), multiply(g, a)), "multiply")


def divide(a, b):  # broadcast; true division (ints give float32, not numpy's float64)
    x, y = _pair_values(a, b, "divide")
    with np.errstate(divide="ignore", invalid="ignore"):  # x/0 is inf or nan, as in TF
        value = np.true_divide(x, y)
    if value.dtype == np.float64 and np.float64 not in (x.dtype, y.dtype):
        value = value.astype(np.float32)

    def backward(g):
        ga = divide(g, b)
        return ga, negative(multiply(ga, divide(a, b)))
    return output(value, (a, b), backward, "divide")


def floor_divide(a, b):  # broadcast; piecewise constant: no gradient
    x, y = _pair_values(a, b, "floor_divide")
    with np.errstate(divide="ignore", invalid="ignore"):
        return wrap(np.floor_divide(x, y))


def mod(a, b):  # broadcast; d/da = 1, d/db = -floor(a / b)
    x, y = _pair_values(a, b, "mod")
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.mod(x, y)
    return output(value, (a, b), lambda g: (g, negative(multiply(g, floor_divide(a, b)))), "mod")


def power(a, b):  # broadcast; d/da = b a^(b-1), d/db = a^b log a (a > 0)
    x, y = _pair_values(a, b, "power")
    if x.dtype.kind in "iu" and y.size and (y < 0).any():
        raise ValueError("power: integers to negative integer powers are not allowed; cast the base to float")
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.power(x, y)

    def backward(g):
        ga = multiply(g, multiply(b, power(a, subtract(b, 1))))
        gb = None
        if autodiff._reachable(b):
            safe = where(as_tensor_value(a) > 0, a, 1.0)
            gb = multiply(g, multiply(result(), log(safe)))
        return ga, gb
    out = output(value, (a, b), backward, "power")
    result = _result_ref(out)
    return out


def value_of(arr):
    """A constant (never tracked) tensor of `arr`."""
    return wrap(as_tensor_value(arr))


def maximum(a, b):  # broadcast; the gradient goes to a where a >= b
    x, y = _pair_values(a, b, "maximum")
    pick_a = x >= y

    def backward(g):
        return where(pick_a, g, 0.0), where(pick_a, 0.0, g)
    return output(np.maximum(x, y), (a, b), backward, "maximum")


def minimum(a, b):  # broadcast; the gradient goes to a where a <= b
    x, y = _pair_values(a, b, "minimum")
    pick_a = x <= y

    def backward(g):
        return where(pick_a, g, 0.0), where(pick_a, 0.0, g)
    return output(np.minimum(x, y), (a, b), backward, "minimum")


def squared_difference(a, b):  # broadcast
    return square(subtract(a, b))


def matmul(a, b, transpose_a: bool = False, transpose_b: bool = False):  # [..., M, K] @ [..., K, N] -> [..., M, N]
    """a [..., M, K] @ b [..., K, N] (1-D operands as numpy); float32 2-D/3-D runs the Rust gemm."""
    x, y = as_tensor_value(a), as_tensor_value(b)
    for name, v in (("a", x), ("b", y)):
        if v.dtype.kind not in "biuf":
            raise TypeError(f"matmul: {name} must be a real numeric tensor, got dtype {v.dtype}")
        if v.ndim < 1:
            raise TypeError(f"matmul: {name} must be at least 1-D, got a 0-D (scalar) tensor; use multiply")
    if x.dtype != y.dtype:
        x, y = _pair_values(a, b, "matmul")
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
    if x.ndim > 2 and y.ndim > 2:
        try:
            np.broadcast_shapes(x.shape[:-2], y.shape[:-2])
        except ValueError:
            raise ValueError(f"matmul: the batch dimensions of a {x.shape[:-2]} and b {y.shape[:-2]} do not broadcast "
                             f"(shapes {np.shape(a)} and {np.shape(b)})") from None
    value = _matmul_values(x, y)

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
    """Gradients when a or b is 1-D (numpy's rule: promoted to [1, K] / [K, 1], the axis dropped
    after): the same promotion on g, two matmuls, then the promoted axis and batch summed away."""
    a1, b1 = np.ndim(a) == 1, np.ndim(b) == 1
    a2 = array_ops.expand_dims(a, 0) if a1 else a
    b2 = array_ops.expand_dims(b, -1) if b1 else b
    out_shape = np.broadcast_shapes(np.shape(a2)[:-2], np.shape(b2)[:-2]) + (np.shape(a2)[-2], np.shape(b2)[-1])
    g2 = array_ops.reshape(g, out_shape)
    ga = matmul(g2, b2, transpose_b=True)   # batch + [M, K]
    gb = matmul(a2, g2, transpose_a=True)   # batch + [K, N]
    if a1:  # batch + [1, K] -> [K]
        ga = array_ops.reshape(sum(ga, axis=tuple(range(np.ndim(ga) - 1))), np.shape(a))
    if b1:  # batch + [K, 1] -> [K]
        gb = array_ops.squeeze(gb, -1)
        gb = sum(gb, axis=tuple(range(np.ndim(gb) - 1))) if np.ndim(gb) > 1 else gb
    if transpose_a and np.ndim(ga) >= 2:
        ga = transpose_last(ga)
    if transpose_b and np.ndim(gb) >= 2:
        gb = transpose_last(gb)
    return ga, gb


def transpose_last(x):
    nd = np.ndim(x)
    perm = list(range(nd))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    return array_ops.transpose(x, perm)


# ---- unary ops -------------------------------------------------------------------------------
def _float_value(x) -> np.ndarray:
    v = as_tensor_value(x)
    return v if v.dtype.kind in "fc" else v.astype(np.float32)


def negative(x):  # x [...] -> same shape
    return output(np.negative(as_tensor_value(x)), (x,), lambda g: (negative(g),), "negative")


def exp(x):  # d/dx = exp(x): the recorded output itself, so d2/dx2 works
    value = np.exp(_float_value(x))
    out = output(value, (x,), lambda g: (multiply(g, result()),), "exp")
    result = _result_ref(out)
    return out


def expm1(x):  # x [...] -> same; d/dx = exp(x)
    value = np.expm1(_float_value(x))
    return output(value, (x,), lambda g: (multiply(g, exp(x)),), "expm1")


def log(x):  # log(0) = -inf and log(<0) = nan, as in TF (no warning)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.log(_float_value(x))
    return output(value, (x,), lambda g: (divide(g, x),), "log")


def log1p(x):  # x [...] -> same; d/dx = 1 / (1 + x)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.log1p(_float_value(x))
    return output(value, (x,), lambda g: (divide(g, add(x, 1.0)),), "log1p")


def sqrt(x):  # d/dx = 0.5 / sqrt(x), through the recorded output
    with np.errstate(invalid="ignore"):
        value = np.sqrt(_float_value(x))
    out = output(value, (x,), lambda g: (divide(multiply(g, 0.5), result()),), "sqrt")
    result = _result_ref(out)
    return out


def rsqrt(x):  # x [...] -> same: 1 / sqrt(x)
    return divide(1.0, sqrt(x))


def square(x):  # x [...] -> same; d/dx = 2x
    return output(np.square(as_tensor_value(x)), (x,), lambda g: (multiply(g, multiply(x, 2.0)),), "square")


def abs(x):  # noqa: A001 - TF's name
    v = as_tensor_value(x)
    return output(np.abs(v), (x,), lambda g: (multiply(g, value_of(np.sign(v))),), "abs")


def sign(x):  # x [...] -> same; piecewise constant: no gradient
    return wrap(np.sign(as_tensor_value(x)))


def reciprocal(x):  # x [...] -> same: 1 / x
    return divide(1.0, x)


def sin(x):  # x [...] -> same; d/dx = cos(x)
    return output(np.sin(_float_value(x)), (x,), lambda g: (multiply(g, cos(x)),), "sin")


def cos(x):  # x [...] -> same; d/dx = -sin(x)
    return output(np.cos(_float_value(x)), (x,), lambda g: (negative(multiply(g, sin(x))),), "cos")


def tan(x):  # d/dx = 1 + tan^2
    value = np.tan(_float_value(x))
    out = output(value, (x,), lambda g: (multiply(g, add(1.0, square(result()))),), "tan")
    result = _result_ref(out)
    return out


def sinh(x):  # x [...] -> same; d/dx = cosh(x)
    return output(np.sinh(_float_value(x)), (x,), lambda g: (multiply(g, cosh(x)),), "sinh")


def cosh(x):  # x [...] -> same; d/dx = sinh(x)
    return output(np.cosh(_float_value(x)), (x,), lambda g: (multiply(g, sinh(x)),), "cosh")


def arctan(x):  # x [...] -> same; d/dx = 1 / (1 + x^2)
    return output(np.arctan(_float_value(x)), (x,), lambda g: (divide(g, add(1.0, square(x))),), "arctan")


def logaddexp(a, b):  # broadcast: log(e^a + e^b); d/da = sigmoid(a - b)
    m = maximum(a, b)
    # max + log1p(exp(-|a - b|)): exact for large differences, and m's gradient plus the log1p's add up
    # to the softmax weights of a and b
    return add(m, log1p(exp(negative(abs(subtract(a, b))))))


def floor(x):  # x [...] -> same; no gradient
    return wrap(np.floor(as_tensor_value(x)))


def ceil(x):  # x [...] -> same; no gradient
    return wrap(np.ceil(as_tensor_value(x)))


def round(x):  # noqa: A001 - TF's name (banker's rounding, as tf.round)
    return wrap(np.round(as_tensor_value(x)))


def erf(x):  # d/dx = 2/sqrt(pi) exp(-x^2)
    v = _float_value(x)
    value = np.vectorize(math.erf, otypes=[v.dtype])(v) if v.size else v.copy()
    scale = float(2.0 / np.sqrt(np.pi))  # a Python float: weak, keeps float32 gradients float32
    return output(value, (x,), lambda g: (multiply(g, multiply(scale, exp(negative(square(x))))),), "erf")


def clip_by_value(x, clip_value_min, clip_value_max):  # x [...] -> same; gradient where lo <= x <= hi
    v = as_tensor_value(x)
    lo = as_tensor_value(clip_value_min).astype(v.dtype)
    hi = as_tensor_value(clip_value_max).astype(v.dtype)
    _check_broadcast("clip_by_value", v.shape, lo.shape, hi.shape)
    if np.isnan(as_tensor_value(clip_value_min)).any() or np.isnan(as_tensor_value(clip_value_max)).any():
        raise ValueError("clip_by_value: clip_value_min and clip_value_max must not be NaN")
    if np.any(lo > hi):
        raise ValueError(f"clip_by_value: clip_value_min {clip_value_min} is greater than clip_value_max {clip_value_max}")
    inside = (v >= lo) & (v <= hi)
    return output(np.clip(v, lo, hi), (x,), lambda g: (where(inside, g, 0.0),), "clip")


# ---- reductions ------------------------------------------------------------------------------
def _axes(axis, ndim: int, op: str = "reduction"):
    """`axis` (None, an int, or a list/tuple/tensor of ints) as sorted non-negative axes of a
    rank-`ndim` tensor; a clear error for an axis out of range or not an integer."""
    if axis is None:
        return tuple(range(ndim))
    raw = np.asarray(as_tensor_value(axis)) if not isinstance(axis, (int, np.integer)) else np.asarray(axis)
    if raw.dtype.kind not in "iu" and raw.size:
        raise TypeError(f"{op}: axis must be an int or a list of ints, got {axis!r}")
    out = []
    for a in (int(v) for v in raw.ravel()):
        if ndim == 0 and a in (0, -1):
            continue  # a scalar's "last axis": nothing to reduce (keras code reducing per-sample values)
        if not -ndim <= a < ndim:
            raise ValueError(f"{op}: axis {a} is out of range for a tensor of rank {ndim} "
                             f"(valid axes: {-ndim} to {ndim - 1})" if ndim else
                             f"{op}: axis {a} is out of range for a tensor of rank 0 (a scalar has no axes)")
        out.append(a % ndim)
    return tuple(sorted(set(out)))


def _restore(g, shape, axes, keepdims):
    """Broadcast a reduced gradient back to `shape`."""
    if not keepdims:
        kept = tuple(1 if i in axes else d for i, d in enumerate(shape))
        g = array_ops.reshape(g, kept)
    return array_ops.broadcast_to(g, shape)


def sum(x, axis=None, keepdims: bool = False):  # noqa: A001 - keras.ops name; x [...] -> reduced
    v = as_tensor_value(x)
    axes = _axes(axis, v.ndim, "sum")
    value = np.sum(v, axis=axes, keepdims=keepdims)
    if v.dtype == np.bool_:
        value = value.astype(np.int32)
    shape = v.shape
    return output(np.asarray(value), (x,), lambda g: (_restore(g, shape, axes, keepdims),), "sum")


def mean(x, axis=None, keepdims: bool = False):  # x [...] -> reduced; the mean of nothing is NaN, as in TF
    v = _float_value(x)
    axes = _axes(axis, v.ndim, "mean")
    count = int(np.prod([v.shape[a] for a in axes])) if axes else 1
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.sum(v, axis=axes, keepdims=keepdims) / v.dtype.type(count) if count == 0 else \
            np.mean(v, axis=axes, keepdims=keepdims)
    shape = v.shape
    return output(np.asarray(value, dtype=v.dtype), (x,),
                  lambda g: (_restore(divide(g, float(builtins.max(count, 1))), shape, axes, keepdims),), "mean")


def _extreme(x, axis, keepdims, fn, name):  # x [...] -> reduced; ties share the gradient equally, as TF
    v = as_tensor_value(x)
    axes = _axes(axis, v.ndim, name)
    if v.size == 0 and builtins.any(v.shape[a] == 0 for a in axes):
        raise ValueError(f"{name}: reducing an empty axis (tensor of shape {v.shape}) has no value")
    value = fn(v, axis=axes, keepdims=True)
    hits = (v == value) | (np.isnan(value) & np.isnan(v)) if v.dtype.kind == "f" else (v == value)
    hits = hits.astype(v.dtype if v.dtype.kind == "f" else np.float32)
    share = hits / np.maximum(hits.sum(axis=axes, keepdims=True), 1)
    out_value = value if keepdims else np.squeeze(value, axis=axes)
    shape = v.shape

    def backward(g):
        return (multiply(_restore(g, shape, axes, keepdims), value_of(share)),)
    return output(np.asarray(out_value), (x,), backward, name)


def max(x, axis=None, keepdims: bool = False):  # noqa: A001
    return _extreme(x, axis, keepdims, np.max, "max")


def min(x, axis=None, keepdims: bool = False):  # noqa: A001
    return _extreme(x, axis, keepdims, np.min, "min")


def prod(x, axis=None, keepdims: bool = False):  # x [...] -> reduced
    v = as_tensor_value(x)
    axes = _axes(axis, v.ndim, "prod")
    value = np.prod(v, axis=axes, keepdims=keepdims)
    shape = v.shape

    def backward(g):
        if autodiff.recording() and not (v == 0).any():
            # recorded (a second derivative may follow): prod / x_i with ops; exact without zeros
            full = _restore(multiply(g, result()), shape, axes, keepdims)
            return (divide(full, x),)
        # d prod / d x_i = prod of the others (exact with zeros: products of the left and right parts)
        moved = np.moveaxis(v, axes, range(len(axes)))
        flat = moved.reshape((-1,) + moved.shape[len(axes):])
        left = np.concatenate([np.ones_like(flat[:1]), np.cumprod(flat, axis=0)[:-1]], axis=0)
        right = np.concatenate([np.cumprod(flat[::-1], axis=0)[::-1][1:], np.ones_like(flat[:1])], axis=0)
        others = (left * right).reshape(moved.shape)
        others = np.moveaxis(others, range(len(axes)), axes)
        return (multiply(_restore(g, shape, axes, keepdims), value_of(others)),)
    out = output(np.asarray(value), (x,), backward, "prod")
    result = _result_ref(out)
    return out


def logsumexp(x, axis=None, keepdims: bool = False):  # x [...] -> reduced; d/dx = softmax(x)
    v = _float_value(x)
    axes = _axes(axis, v.ndim, "logsumexp")
    m = np.max(v, axis=axes, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):
        value = np.log(np.sum(np.exp(v - m), axis=axes, keepdims=True)) + m
    out_value = value if keepdims else np.squeeze(value, axis=axes)
    shape = v.shape

    def backward(g):
        # softmax = exp(x - logsumexp(x)) with the recorded output, so the second derivative flows
        lse = result()
        if not keepdims:
            lse = array_ops.reshape(lse, tuple(1 if i in axes else d for i, d in enumerate(shape)))
        return (multiply(_restore(g, shape, axes, keepdims), exp(subtract(x, lse))),)
    out = output(np.asarray(out_value, dtype=v.dtype), (x,), backward, "logsumexp")
    result = _result_ref(out)
    return out


def var(x, axis=None, keepdims: bool = False):  # x [...] -> reduced (population variance, as numpy/TF)
    centered = subtract(x, mean(x, axis=axis, keepdims=True))
    return mean(square(centered), axis=axis, keepdims=keepdims)


def std(x, axis=None, keepdims: bool = False):  # x [...] -> reduced
    return sqrt(var(x, axis=axis, keepdims=keepdims))


def _arg_extreme(x, axis, fn, name):  # x [...] -> int64 indices (axis None: of the flattened tensor)
    v = as_tensor_value(x)
    if axis is not None:
        (ax,) = _axes(int(axis), v.ndim, name)
        if v.shape[ax] == 0:
            raise ValueError(f"{name}: axis {axis} of the tensor of shape {v.shape} is empty")
    elif v.size == 0:
        raise ValueError(f"{name}: the tensor is empty (shape {v.shape})")
    return wrap(np.asarray(fn(v, axis=axis), dtype=np.int64))


def argmax(x, axis=None):  # x [...] -> int64, reduced (None: flattened index)
    return _arg_extreme(x, axis, np.argmax, "argmax")


def argmin(x, axis=None):  # x [...] -> int64, reduced (None: flattened index)
    return _arg_extreme(x, axis, np.argmin, "argmin")


def reduce_all(x, axis=None, keepdims=False):  # x [...] -> bool, reduced
    v = as_tensor_value(x)
    return wrap(np.asarray(np.all(v, axis=_axes(axis, v.ndim, "all"), keepdims=keepdims)))


def reduce_any(x, axis=None, keepdims=False):  # x [...] -> bool, reduced
    v = as_tensor_value(x)
    return wrap(np.asarray(np.any(v, axis=_axes(axis, v.ndim, "any"), keepdims=keepdims)))


def cumsum(x, axis=None):  # x [...] -> same shape (axis None: flattened first); d/dx = reversed cumsum
    v = as_tensor_value(x)
    if axis is None:
        return cumsum(array_ops.reshape(x, (-1,)), 0)
    (ax,) = _axes(int(axis), v.ndim, "cumsum")

    def backward(g):
        return (array_ops.reverse(cumsum(array_ops.reverse(g, [ax]), ax), [ax]),)
    return output(np.cumsum(v, axis=ax), (x,), backward, "cumsum")


# ---- comparisons (no gradient) -----------------------------------------------------------------
def _compare(fn, name):
    def op(a, b):  # broadcast -> bool
        x, y = _pair_values(a, b, name)
        return wrap(np.asarray(fn(x, y)))
    op.__name__ = op.__qualname__ = name
    return op


equal = _compare(np.equal, "equal")
not_equal = _compare(np.not_equal, "not_equal")
greater = _compare(np.greater, "greater")
greater_equal = _compare(np.greater_equal, "greater_equal")
less = _compare(np.less, "less")
less_equal = _compare(np.less_equal, "less_equal")
logical_and = _compare(np.logical_and, "logical_and")
logical_or = _compare(np.logical_or, "logical_or")
logical_xor = _compare(np.logical_xor, "logical_xor")


def logical_not(x):  # x [...] -> bool, same shape
    return wrap(np.logical_not(as_tensor_value(x)))


def is_nan(x):  # x [...] -> bool, same shape
    return wrap(np.isnan(as_tensor_value(x)))


def is_inf(x):  # x [...] -> bool, same shape
    return wrap(np.isinf(as_tensor_value(x)))


def is_finite(x):  # x [...] -> bool, same shape
    return wrap(np.isfinite(as_tensor_value(x)))


def where(condition, x=None, y=None):  # c, x, y broadcast -> x where c else y; gradient split by c
    """Elements of x where condition, else of y; with one argument, the indices of true elements."""
    c = as_tensor_value(condition).astype(bool)
    if x is None and y is None:
        return wrap(np.argwhere(c).astype(np.int64))
    if x is None or y is None:
        raise ValueError("where takes either only a condition, or a condition, x and y")
    xv, yv = _pair_values(x, y, "where")
    _check_broadcast("where", c.shape, xv.shape, yv.shape)

    def backward(g):
        zero = np.zeros((), dtype=np.result_type(as_tensor_value(g)))
        return None, _select(c, g, zero), _select(c, zero, g)
    return output(np.where(c, xv, yv), (condition, x, y), backward, "where")


def _select(c, a, b):
    """where(c, a, b) with c constant (the gradient rule of where, itself differentiable)."""
    av, bv = _pair_values(a, b, "where")
    return output(np.where(c, av, bv), (a, b), lambda g: (_select(c, g, 0.0), _select(c, 0.0, g)), "select")


def _stack_values(rows):
    return array_ops.stack(rows)


def cast(x, dtype):  # x [...] -> same shape, dtype
    """x as `dtype`; the gradient passes through float-to-float casts only."""
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
    np.expm1: expm1, np.matmul: matmul, np.mod: mod, np.sinh: sinh, np.cosh: cosh, np.arctan: arctan,
    np.logaddexp: logaddexp,
})
# Tensor's methods (t.sum(), t.mean(), t.max(), t.min(), t @ w, t.astype) are these ops.
_METHOD_OPS.update({"sum": sum, "mean": mean, "max": max, "min": min, "matmul": matmul, "cast": cast})
