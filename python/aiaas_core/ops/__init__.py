"""`aiaas_core.ops` (also `keras.ops`): tensor operations with reverse-mode autodiff.

Every function takes numpy arrays, Python numbers, Tensors and Variables and returns a Tensor (a
numpy array subclass: `np.asarray(t)` shares its memory). While a `GradientTape` records, an op
whose input is tracked records its gradient rule; given symbolic Keras tensors (`keras.Input`), an
op records itself in the functional graph instead. Names follow Keras 3's `keras.ops`; the
TensorFlow spellings (`reduce_mean`, `concat`...) are in `aiaas_core.tf_api`.
"""

from __future__ import annotations

import functools

import numpy as np

from . import symbolic as _symbolic
from .symbolic import symbolic_dispatch as _dispatch
from . import array_ops as _a
from . import autodiff, dtypes
from . import math_ops as _m
from . import nn_ops as _n
from .backprop import GradientTape
from .tensor import InputTypeError, Tensor, TensorShape, as_tensor_value, wrap


def named(fn, name: str | None = None):
    """`fn` with its name put in front of an input-type error raised deep inside (as_tensor_value
    knows what was wrong but not which op was called)."""
    name = name or fn.__name__

    @functools.wraps(fn)
    def op(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InputTypeError as exc:
            if getattr(exc, "op", None):
                raise
            err = InputTypeError(f"{name}: {exc}")
            err.op = name
            raise err from None
    return op


@named
def convert_to_tensor(x, dtype=None, sparse=None):
    """`x` as a Tensor (a Tensor passes through; a Variable gives its current value)."""
    if isinstance(x, Tensor) and dtype is None:
        return x
    if hasattr(x, "_auto_watch") and dtype is None:  # a Variable: read it, recorded
        return _a.identity(x)
    return wrap(np.array(as_tensor_value(x, None if dtype is None else dtypes.as_dtype(dtype)), copy=False))


def convert_to_numpy(x) -> np.ndarray:
    return np.asarray(as_tensor_value(x))


def is_tensor(x) -> bool:
    return isinstance(x, Tensor) or hasattr(x, "_auto_watch") or type(x).__name__ == "KerasTensor"


def shape(x) -> tuple:
    """keras.ops.shape: the shape as a tuple (None for unknown symbolic dimensions)."""
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def dtype(x) -> str:
    return np.dtype(getattr(x, "dtype", np.asarray(x).dtype)).name


def _export(module, names, rename=None):
    out = {}
    for name in names:
        public = (rename or {}).get(name, name)
        out[public] = _dispatch(named(getattr(module, name), public))
    return out


_MATH = ["add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "matmul", "negative", "exp",
         "expm1", "log", "log1p", "sqrt", "rsqrt", "square", "abs", "sign", "reciprocal", "sin", "cos", "tan",
         "floor", "ceil", "round", "erf", "sum", "mean", "max", "min", "prod", "logsumexp", "var", "std",
         "argmax", "argmin", "cumsum", "equal", "not_equal", "greater", "greater_equal", "less", "less_equal",
         "logical_and", "logical_or", "logical_xor", "logical_not", "where", "cast", "floor_divide", "mod",
         "squared_difference", "clip_by_value", "is_nan", "is_inf", "is_finite", "reduce_all", "reduce_any",
         "sinh", "cosh", "arctan", "logaddexp"]
_ARRAY = ["reshape", "transpose", "swapaxes", "moveaxis", "expand_dims", "squeeze", "broadcast_to", "concat",
          "stack", "unstack", "split", "getitem", "gather", "take", "take_along_axis", "gather_nd", "tile",
          "repeat", "pad", "reverse", "one_hot", "stop_gradient", "identity", "zeros_like", "ones_like",
          "sort", "argsort", "top_k", "einsum", "add_n", "ravel", "tril", "triu", "diagonal", "outer", "tensordot"]
_NN = ["relu", "relu6", "sigmoid", "tanh", "leaky_relu", "elu", "selu", "gelu", "softmax", "log_softmax",
       "softplus", "softsign", "silu", "swish", "hard_sigmoid", "l2_normalize", "moments", "log_sigmoid",
       "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"]

globals().update(_export(_m, _MATH))
globals().update(_export(_a, _ARRAY))
globals().update(_export(_n, _NN))

# Keras 3 spellings of the same ops (each its own wrapper, so errors name the spelling used)
concatenate = _dispatch(named(_a.concat, "concatenate"))
true_divide = _dispatch(named(_m.divide, "true_divide"))
absolute = _dispatch(named(_m.abs, "absolute"))
amax, amin = _dispatch(named(_m.max, "amax")), _dispatch(named(_m.min, "amin"))
clip = _dispatch(named(_m.clip_by_value, "clip"))
flip = _dispatch(named(_a.reverse, "flip"))
arange = named(_a.range_, "arange")
zeros, ones, full, eye, linspace = (named(_a.zeros), named(_a.ones), named(_a.fill, "full"), named(_a.eye),
                                    named(_a.linspace))


@named
def full_like(x, fill_value, dtype=None):  # x [...] -> that shape, every entry fill_value
    return _a.fill(np.shape(as_tensor_value(x)), fill_value, dtype)


size = _dispatch(named(_a.size))


def ndim(x) -> int:
    return x.ndim if hasattr(x, "ndim") else np.ndim(as_tensor_value(x))


dot = _dispatch(named(_m.matmul, "dot"))
isnan = _dispatch(named(_m.is_nan, "isnan"))
isinf = _dispatch(named(_m.is_inf, "isinf"))
isfinite = _dispatch(named(_m.is_finite, "isfinite"))
all = _dispatch(named(_m.reduce_all, "all"))  # noqa: A001
any = _dispatch(named(_m.reduce_any, "any"))  # noqa: A001


def _norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 - x [...] -> reduced euclidean norm
    if ord not in (None, 2, "euclidean", "fro"):
        raise ValueError(f"norm: only the euclidean / Frobenius norm (ord=None) is supported, got ord={ord!r}")
    return _m.sqrt(_m.sum(_m.square(x), axis=axis, keepdims=keepdims))


norm = _dispatch(named(_norm, "norm"))
norm.__name__ = "norm"


@named
def trace(x, offset=0, axis1=0, axis2=1):  # the sum of diagonal(x), as numpy
    return _m.sum(_a.diagonal(x, offset, axis1, axis2), axis=-1)


@named
def count_nonzero(x, axis=None):  # x [...] -> int32, reduced
    return _m.sum(_m.not_equal(x, 0), axis=axis)


@named
def average(x, axis=None, weights=None):  # weighted mean along axis (a 1-D weights vector along it, as numpy)
    if weights is None:
        return _m.mean(x, axis=axis)
    v, w = as_tensor_value(x), as_tensor_value(weights)
    if axis is not None and w.ndim == 1 and v.ndim > 1:
        ax = _a._axis(axis, v.ndim, "average")
        if w.shape[0] != v.shape[ax]:
            raise ValueError(f"average: weights of length {w.shape[0]} for axis {axis} of size {v.shape[ax]}")
        weights = _a.reshape(weights, tuple(-1 if i == ax else 1 for i in range(v.ndim)))
    elif w.shape != v.shape:
        raise ValueError(f"average: weights of shape {w.shape} must match x of shape {v.shape} (or be 1-D along axis)")
    weighted = _m.sum(_m.multiply(x, weights), axis=axis)
    total = _m.sum(_a.broadcast_to(weights, v.shape) if w.shape != v.shape else weights, axis=axis)
    return _m.divide(weighted, total)


trace, count_nonzero, average = _dispatch(trace), _dispatch(count_nonzero), _dispatch(average)


def vectorized_map(fn, elements):
    """fn applied to each element along the first axis, results stacked (eager loop)."""
    return _a.stack([fn(e) for e in (elements if isinstance(elements, (list, tuple)) else _a.unstack(elements))])


def cond(pred, true_fn, false_fn):
    """Eager `if`: calls true_fn() or false_fn()."""
    return true_fn() if bool(as_tensor_value(pred)) else false_fn()


__all__ = sorted(n for n, v in globals().items()
                 if not n.startswith("_") and n not in ("annotations", "np", "functools", "named", "InputTypeError",
                                                         "wrap", "as_tensor_value")
                 and not isinstance(v, type(np)))

# The ops KerasTensor's operators record (symbolic.py cannot import this package).
_symbolic.OPERATOR_OPS.update({name: globals()[name] for name in (
    "add", "subtract", "multiply", "divide", "power", "matmul", "negative", "abs", "less", "less_equal",
    "greater", "greater_equal", "getitem", "mod", "floor_divide")})
