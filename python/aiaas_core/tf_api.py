"""TensorFlow's spellings of the tensor ops, so that `import aiaas_core as tf` programs run.

Everything here is a thin layer over `aiaas_core.ops` (the values, gradients and checks live
there): TF's argument names and defaults (`reduce_mean(input_tensor, axis, keepdims)`,
`tf.argmax` along axis 0, `tf.shape` as an int32 tensor, `tf.nn.gelu` exact by default...), and
the namespaces `tf.math`, `tf.nn`, `tf.random`, `tf.linalg`, `tf.config`, `tf.debugging`,
`tf.dtypes`, `tf.errors`. The package `aiaas_core` re-exports the top-level names and registers
the namespaces as submodules (`from aiaas_core.math import reduce_mean` works).

Every function records on a GradientTape through the ops it calls, and records itself in the
functional graph when given symbolic Keras tensors (`keras.Input`). `tf.data` is not here (it is
`aiaas_core.data`).
"""

from __future__ import annotations

import builtins
import collections
import contextlib
import enum
import functools
import sys
import types

import numpy as np

from . import _core
from . import ops as _ops
from . import seeding as _seeding
from .keras import config as _keras_config
from .keras import random as _keras_random
from .keras.variables import Variable
from .ops import array_ops as _a
from .ops import dtypes as _dtypes_mod
from .ops import named as _named
from .ops import math_ops as _m
from .ops import nn_ops as _n
from .ops import random_ops as _r
from .ops.backprop import GradientTape
from .data.dataset import TensorSpec  # one TensorSpec: tf.TensorSpec is the tf.data one
from .ops.symbolic import KerasTensor, symbolic_dispatch
from .ops.tensor import Tensor, TensorShape, as_tensor_value, wrap

newaxis = None

# ---- dtypes ------------------------------------------------------------------------------------
float16, half = _dtypes_mod.float16, _dtypes_mod.half
float32, float64, double = _dtypes_mod.float32, _dtypes_mod.float64, _dtypes_mod.double
int8, int16, int32, int64 = _dtypes_mod.int8, _dtypes_mod.int16, _dtypes_mod.int32, _dtypes_mod.int64
uint8, uint16, uint32, uint64 = _dtypes_mod.uint8, _dtypes_mod.uint16, _dtypes_mod.uint32, _dtypes_mod.uint64
complex64 = _dtypes_mod.complex64
bool = _dtypes_mod.bool_  # noqa: A001 - tf.bool
as_dtype = _dtypes_mod.as_dtype
DType = np.dtype


def _dtype_or_none(dtype):
    return None if dtype is None else _dtypes_mod.as_dtype(dtype)


# ---- tensors -----------------------------------------------------------------------------------
def constant(value, dtype=None, shape=None, name=None):
    """A new tensor holding a copy of `value` (later changes to a numpy source do not show), as
    `dtype` if given; with `shape`, a scalar is filled out to it and other values reshaped."""
    arr = np.array(as_tensor_value(value, _dtype_or_none(dtype)), copy=True)
    if shape is not None:
        dims = _a._dims(shape)
        if arr.size == 1:
            arr = np.full(dims, arr.reshape(()), dtype=arr.dtype)
        elif arr.size == int(np.prod(dims)):
            arr = arr.reshape(dims)
        else:
            raise ValueError(f"constant: a value of {arr.size} elements (shape {arr.shape}) cannot take shape {dims}")
    return wrap(arr)


def convert_to_tensor(value, dtype=None, dtype_hint=None, name=None):
    """`value` as a Tensor without a copy where possible; a Tensor passes through; a Variable gives
    its (recorded) current value. `dtype_hint` applies to Python numbers and lists only."""
    if dtype is None and dtype_hint is not None and not isinstance(value, (np.ndarray, Tensor, Variable)):
        dtype = dtype_hint
    return _ops.convert_to_tensor(value, dtype=dtype)


def is_tensor(x) -> bool:  # noqa: D401 - TF's name
    return isinstance(x, (Tensor, Variable, KerasTensor))


def zeros(shape, dtype=float32, name=None):
    return _a.zeros(shape, dtype)


def ones(shape, dtype=float32, name=None):
    return _a.ones(shape, dtype)


def fill(dims, value, name=None):
    return _a.fill(dims, value)


def zeros_like(input, dtype=None, name=None):  # noqa: A002 - TF's argument name
    return _a.zeros_like(input, dtype)


def ones_like(input, dtype=None, name=None):  # noqa: A002
    return _a.ones_like(input, dtype)


def range(start, limit=None, delta=1, dtype=None, name="range"):  # noqa: A001 - tf.range
    return _a.range_(start, limit, delta, dtype)


def eye(num_rows, num_columns=None, batch_shape=None, dtype=float32, name=None):
    out = _a.eye(num_rows, num_columns, dtype)
    if batch_shape is not None:
        dims = _a._dims(batch_shape)
        out = _a.broadcast_to(out, dims + tuple(out.shape))
    return out


def linspace(start, stop, num, name=None, axis=0):
    return _a.linspace(start, stop, num, axis)


def identity(input, name=None):  # noqa: A002
    return _a.identity(input)


def stop_gradient(input, name=None):  # noqa: A002
    return _a.stop_gradient(input)


def cast(x, dtype, name=None):
    return _m.cast(x, dtype)


def shape(input, out_type=int32, name=None):  # noqa: A002
    """The dynamic shape as an int32 tensor (`tf.shape(x)[0]` is the batch size)."""
    return wrap(np.asarray(_shape_of(input), dtype=_dtypes_mod.as_dtype(out_type)))


def _shape_of(x) -> tuple:
    if isinstance(x, Variable):
        return x.value.shape
    return np.shape(as_tensor_value(x))


def size(input, out_type=int32, name=None):  # noqa: A002
    return wrap(np.asarray(int(np.prod(_shape_of(input))), dtype=_dtypes_mod.as_dtype(out_type)))


def rank(input, name=None):  # noqa: A002
    return wrap(np.asarray(len(_shape_of(input)), dtype=np.int32))


# ---- elementwise -------------------------------------------------------------------------------
def add(x, y, name=None):
    return _m.add(x, y)


def subtract(x, y, name=None):
    return _m.subtract(x, y)


def multiply(x, y, name=None):
    return _m.multiply(x, y)


def divide(x, y, name=None):
    return _m.divide(x, y)


truediv = divide


def floordiv(x, y, name=None):
    return _m.floor_divide(x, y)


def mod(x, y, name=None):
    return _m.mod(x, y)


def pow(x, y, name=None):  # noqa: A001 - tf.pow
    return _m.power(x, y)


def negative(x, name=None):
    return _m.negative(x)


def square(x, name=None):
    return _m.square(x)


def sqrt(x, name=None):
    return _m.sqrt(x)


def rsqrt(x, name=None):
    return _m.rsqrt(x)


def exp(x, name=None):
    return _m.exp(x)


def abs(x, name=None):  # noqa: A001
    return _m.abs(x)


def sign(x, name=None):
    return _m.sign(x)


def round(x, name=None):  # noqa: A001 - banker's rounding, as tf.round
    return _m.round(x)


def floor(x, name=None):
    return _m.floor(x)


def ceil(x, name=None):
    return _m.ceil(x)


def sin(x, name=None):
    return _m.sin(x)


def cos(x, name=None):
    return _m.cos(x)


def tanh(x, name=None):
    return _n.tanh(x)


def sigmoid(x, name=None):
    return _n.sigmoid(x)


def maximum(x, y, name=None):
    return _m.maximum(x, y)


def minimum(x, y, name=None):
    return _m.minimum(x, y)


def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    return _m.clip_by_value(t, clip_value_min, clip_value_max)


def add_n(inputs, name=None):
    return _a.add_n(inputs)


def equal(x, y, name=None):
    return _m.equal(x, y)


def not_equal(x, y, name=None):
    return _m.not_equal(x, y)


def less(x, y, name=None):
    return _m.less(x, y)


def less_equal(x, y, name=None):
    return _m.less_equal(x, y)


def greater(x, y, name=None):
    return _m.greater(x, y)


def greater_equal(x, y, name=None):
    return _m.greater_equal(x, y)


def logical_and(x, y, name=None):
    return _m.logical_and(_as_bool(x, "logical_and"), _as_bool(y, "logical_and"))


def logical_or(x, y, name=None):
    return _m.logical_or(_as_bool(x, "logical_or"), _as_bool(y, "logical_or"))


def logical_xor(x, y, name=None):
    return _m.logical_xor(_as_bool(x, "logical_xor"), _as_bool(y, "logical_xor"))


def logical_not(x, name=None):
    return _m.logical_not(_as_bool(x, "logical_not"))


def _as_bool(x, op):
    v = as_tensor_value(x)
    if v.dtype != np.bool_:
        raise TypeError(f"{op}: expects bool tensors (as tf.math.{op}), got dtype {v.dtype}; compare first, "
                        f"e.g. tf.greater(x, 0)")
    return x


# ---- reductions --------------------------------------------------------------------------------
def reduce_sum(input_tensor, axis=None, keepdims=False, name=None):
    return _m.sum(input_tensor, axis=axis, keepdims=keepdims)


def reduce_mean(input_tensor, axis=None, keepdims=False, name=None):
    return _m.mean(input_tensor, axis=axis, keepdims=keepdims)


def reduce_max(input_tensor, axis=None, keepdims=False, name=None):
    return _m.max(input_tensor, axis=axis, keepdims=keepdims)


def reduce_min(input_tensor, axis=None, keepdims=False, name=None):
    return _m.min(input_tensor, axis=axis, keepdims=keepdims)


def reduce_prod(input_tensor, axis=None, keepdims=False, name=None):
    return _m.prod(input_tensor, axis=axis, keepdims=keepdims)


def reduce_logsumexp(input_tensor, axis=None, keepdims=False, name=None):
    return _m.logsumexp(input_tensor, axis=axis, keepdims=keepdims)


def reduce_any(input_tensor, axis=None, keepdims=False, name=None):
    return _m.reduce_any(input_tensor, axis=axis, keepdims=keepdims)


def reduce_all(input_tensor, axis=None, keepdims=False, name=None):
    return _m.reduce_all(input_tensor, axis=axis, keepdims=keepdims)


def reduce_variance(input_tensor, axis=None, keepdims=False, name=None):
    return _m.var(input_tensor, axis=axis, keepdims=keepdims)


def reduce_std(input_tensor, axis=None, keepdims=False, name=None):
    return _m.std(input_tensor, axis=axis, keepdims=keepdims)


def reduce_euclidean_norm(input_tensor, axis=None, keepdims=False, name=None):
    return _m.sqrt(_m.sum(_m.square(input_tensor), axis=axis, keepdims=keepdims))


def argmax(input, axis=None, output_type=int64, name=None):  # noqa: A002
    """Indices of the largest values along `axis` (TF: axis None means 0)."""
    out = _m.argmax(input, axis=0 if axis is None else axis)
    return _m.cast(out, output_type)


def argmin(input, axis=None, output_type=int64, name=None):  # noqa: A002
    out = _m.argmin(input, axis=0 if axis is None else axis)
    return _m.cast(out, output_type)


def cumsum(x, axis=0, exclusive=False, reverse=False, name=None):
    v = as_tensor_value(x)
    if v.ndim == 0:
        raise ValueError("cumsum: needs a tensor of rank >= 1, got a scalar")
    ax = _a._axis(axis, v.ndim, "cumsum")
    t = _a.reverse(x, [ax]) if reverse else x
    out = _m.cumsum(t, axis=ax)
    if exclusive:  # shift by one: [0, x0, x0 + x1, ...]
        out = _m.subtract(out, t)
    return _a.reverse(out, [ax]) if reverse else out


# ---- shapes and indexing -----------------------------------------------------------------------
def reshape(tensor, shape, name=None):
    return _a.reshape(tensor, shape)


def transpose(a, perm=None, conjugate=False, name="transpose"):
    return _a.transpose(a, perm)


def squeeze(input, axis=None, name=None):  # noqa: A002
    return _a.squeeze(input, axis)


def expand_dims(input, axis, name=None):  # noqa: A002
    return _a.expand_dims(input, axis)


def concat(values, axis, name="concat"):
    return _a.concat(values, axis)


def stack(values, axis=0, name="stack"):
    return _a.stack(values, axis)


def unstack(value, num=None, axis=0, name="unstack"):
    return _a.unstack(value, num, axis)


def split(value, num_or_size_splits, axis=0, num=None, name="split"):
    return _a.split(value, num_or_size_splits, axis)


def tile(input, multiples, name=None):  # noqa: A002
    return _a.tile(input, multiples)


def pad(tensor, paddings, mode="CONSTANT", constant_values=0, name=None):
    return _a.pad(tensor, paddings, mode, constant_values)


def reverse(tensor, axis, name=None):
    return _a.reverse(tensor, axis)


def broadcast_to(input, shape, name=None):  # noqa: A002
    return _a.broadcast_to(input, shape)


def gather(params, indices, validate_indices=None, axis=None, batch_dims=0, name=None):
    return _a.gather(params, indices, axis=0 if axis is None else axis, batch_dims=batch_dims)


def gather_nd(params, indices, batch_dims=0, name=None):
    if batch_dims:
        raise ValueError("gather_nd: batch_dims is not supported")
    return _a.gather_nd(params, indices)


def boolean_mask(tensor, mask, axis=None, name="boolean_mask"):
    m = as_tensor_value(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"boolean_mask: mask must be bool, got dtype {m.dtype}")
    ax = 0 if axis is None else _a._axis(axis, np.ndim(as_tensor_value(tensor)), "boolean_mask")
    return _a.getitem(tensor, (slice(None),) * ax + (m,))


def where(condition, x=None, y=None, name=None):
    return _m.where(condition, x, y)


def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name=None):
    if dtype is None:
        dtype = np.result_type(as_tensor_value(on_value)) if on_value is not None else float32
    return _a.one_hot(indices, depth, 1 if on_value is None else on_value, 0 if off_value is None else off_value,
                      -1 if axis is None else axis, _dtypes_mod.as_dtype(dtype))


def sort(values, axis=-1, direction="ASCENDING", name=None):
    return _a.sort(values, axis, direction)


def argsort(values, axis=-1, direction="ASCENDING", stable=False, name=None):
    return _a.argsort(values, axis, direction)


def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False, a_is_sparse=False,
           b_is_sparse=False, output_type=None, name=None):
    return _m.matmul(a, b, transpose_a=transpose_a or adjoint_a, transpose_b=transpose_b or adjoint_b)


def einsum(equation, *inputs, **kwargs):
    kwargs.pop("name", None)
    if kwargs:
        raise TypeError(f"einsum: unexpected argument(s) {sorted(kwargs)}")
    return _a.einsum(equation, *inputs)


def norm(tensor, ord="euclidean", axis=None, keepdims=None, name=None):  # noqa: A002
    """Vector norms (euclidean/2, 1, inf) over `axis`, or the Frobenius norm ('fro') of matrices."""
    keep = builtins.bool(keepdims)
    if ord in ("euclidean", 2, 2.0, "fro"):
        return _m.sqrt(_m.sum(_m.square(tensor), axis=axis, keepdims=keep))
    if ord in (1, 1.0):
        return _m.sum(_m.abs(tensor), axis=axis, keepdims=keep)
    if ord in (np.inf, "inf"):
        return _m.max(_m.abs(tensor), axis=axis, keepdims=keep)
    raise ValueError(f"norm: ord must be 'euclidean', 'fro', 1, 2 or np.inf, got {ord!r}")


# ---- tf.function and the eager world ------------------------------------------------------------
_FUNCTION_ARGS = {"input_signature", "autograph", "jit_compile", "reduce_retracing", "experimental_implements",
                  "experimental_autograph_options", "experimental_attributes", "experimental_relax_shapes",
                  "experimental_compile", "experimental_follow_type_hints"}


def function(func=None, **kwargs):
    """`@tf.function` (bare or with arguments): the function runs eagerly, as under
    `tf.config.run_functions_eagerly(True)`; jit_compile, reduce_retracing, input_signature and
    the other TF options are accepted and have nothing to change here."""
    unknown = set(kwargs) - _FUNCTION_ARGS
    if unknown:
        raise TypeError(f"tf.function got unexpected argument(s) {', '.join(sorted(unknown))}")
    if func is not None and not callable(func):
        raise TypeError(f"tf.function decorates a callable, got {type(func).__name__}")

    def decorate(f):
        @functools.wraps(f)
        def run(*args, **kw):
            return f(*args, **kw)
        run.python_function = f
        run.get_concrete_function = lambda *a, **k: run
        run.experimental_get_tracing_count = lambda: 0
        return run

    return decorate if func is None else decorate(func)


class Module:
    """`tf.Module`: a container whose `variables` / `trainable_variables` are the Variables found in
    its attributes (also inside lists, tuples, dicts, sub-Modules and Keras layers), in attribute
    order, each once."""

    def __init__(self, name=None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Module name must be a string, got {type(name).__name__}")
        self._module_name = name or "".join("_" + c.lower() if c.isupper() else c
                                            for c in type(self).__name__).lstrip("_")

    @property
    def name(self) -> str:
        return getattr(self, "_module_name", type(self).__name__.lower())

    @property
    def name_scope(self):
        return contextlib.nullcontext()

    @staticmethod
    def with_name_scope(method):
        return method

    def _walk(self):
        """(variables, submodules) reachable from the attributes, depth first, each once."""
        seen, variables, modules = {id(self)}, [], []

        def visit(value):
            if id(value) in seen:
                return
            if isinstance(value, Variable):
                seen.add(id(value))
                variables.append(value)
            elif isinstance(value, Module):
                seen.add(id(value))
                modules.append(value)
                for v in vars(value).values():
                    visit(v)
            elif isinstance(value, (list, tuple)):
                for v in value:
                    visit(v)
            elif isinstance(value, dict):
                for v in value.values():
                    visit(v)
            elif hasattr(value, "weights") and hasattr(value, "trainable_weights"):  # a Keras layer or model
                seen.add(id(value))
                for v in value.weights:
                    visit(v)

        for v in vars(self).values():
            visit(v)
        return variables, modules

    @property
    def variables(self) -> tuple:
        return tuple(self._walk()[0])

    @property
    def trainable_variables(self) -> tuple:
        return tuple(v for v in self._walk()[0] if v.trainable)

    @property
    def non_trainable_variables(self) -> tuple:
        return tuple(v for v in self._walk()[0] if not v.trainable)

    @property
    def submodules(self) -> tuple:
        return tuple(self._walk()[1])


def print(*inputs, output_stream=None, sep=" ", end="\n", summarize=3, name=None):  # noqa: A001 - tf.print
    """Prints tensors by value (as tf.print, to stderr unless output_stream is given)."""
    stream = sys.stderr if output_stream is None else output_stream
    parts = []
    for x in inputs:
        if isinstance(x, (Tensor, Variable)):
            parts.append(np.array2string(np.asarray(as_tensor_value(x)), threshold=max(int(summarize), 1) * 2 + 1,
                                         edgeitems=max(int(summarize), 1)))
        else:
            parts.append(str(x))
    text = sep.join(parts) + end
    if stream in ("stdout", sys.stdout):
        sys.stdout.write(text)
    elif stream in ("stderr", sys.stderr):
        sys.stderr.write(text)
    else:
        stream.write(text)


# ---- namespaces ---------------------------------------------------------------------------------
def _namespace(name: str, doc: str, members: dict) -> types.ModuleType:
    mod = types.ModuleType(f"aiaas_core.{name}", doc)
    for key, value in members.items():
        setattr(mod, key, value)
    mod.__all__ = sorted(members)
    return mod


# tf.math
def log(x, name=None):
    return _m.log(x)


def log1p(x, name=None):
    return _m.log1p(x)


def expm1(x, name=None):
    return _m.expm1(x)


def reciprocal(x, name=None):
    return _m.reciprocal(x)


def squared_difference(x, y, name=None):
    return _m.squared_difference(x, y)


def is_nan(x, name=None):
    return _m.is_nan(x)


def is_inf(x, name=None):
    return _m.is_inf(x)


def is_finite(x, name=None):
    return _m.is_finite(x)


TopKV2 = collections.namedtuple("TopKV2", ["values", "indices"])


def top_k(input, k=1, sorted=True, index_type=int32, name=None):  # noqa: A002
    values, indices = _a.top_k(input, k)
    return TopKV2(values, _m.cast(indices, index_type))


def divide_no_nan(x, y, name=None):
    """x / y, and 0 where y == 0 (the gradient there is 0 too: the division never sees a 0)."""
    zero = _m.equal(y, 0)
    safe = _m.where(zero, 1.0, y) if not isinstance(y, (int, float)) else (1.0 if y == 0 else y)
    return _m.where(zero, 0.0, _m.divide(x, safe))


def l2_normalize(x, axis=None, epsilon=1e-12, name=None, dim=None):
    return _n.l2_normalize(x, axis=dim if dim is not None else axis, epsilon=epsilon)


def softplus(features, name=None):
    return _n.softplus(features)


def erf(x, name=None):
    return _m.erf(x)


def tan(x, name=None):
    return _m.tan(x)


def log_sigmoid(x, name=None):
    return _n.log_sigmoid(x)


def sinh(x, name=None):
    return _m.sinh(x)


def cosh(x, name=None):
    return _m.cosh(x)


def atan(x, name=None):
    return _m.arctan(x)


def tensordot(a, b, axes, name=None):
    return _a.tensordot(a, b, axes)


def count_nonzero(input, axis=None, keepdims=None, dtype=int64, name=None):  # noqa: A002
    return _m.cast(_m.sum(_m.not_equal(input, 0), axis=axis, keepdims=builtins.bool(keepdims)), dtype)


math = _namespace("math", "tf.math: elementwise maths, reductions and comparisons.", dict(
    log=log, log1p=log1p, exp=exp, expm1=expm1, sqrt=sqrt, rsqrt=rsqrt, square=square, abs=abs, sign=sign,
    reduce_sum=reduce_sum, reduce_mean=reduce_mean, reduce_max=reduce_max, reduce_min=reduce_min,
    reduce_prod=reduce_prod, reduce_logsumexp=reduce_logsumexp, reduce_any=reduce_any, reduce_all=reduce_all,
    reduce_variance=reduce_variance, reduce_std=reduce_std, reduce_euclidean_norm=reduce_euclidean_norm,
    sigmoid=sigmoid, tanh=tanh, softplus=softplus, erf=erf, sin=sin, cos=cos, tan=tan, floor=floor, ceil=ceil,
    round=round, maximum=maximum, minimum=minimum, add=add, subtract=subtract, multiply=multiply, divide=divide,
    truediv=truediv, floordiv=floordiv, mod=mod, pow=pow, negative=negative, reciprocal=reciprocal,
    squared_difference=squared_difference, equal=equal, not_equal=not_equal, greater=greater,
    greater_equal=greater_equal, less=less, less_equal=less_equal, logical_and=logical_and, logical_or=logical_or,
    logical_not=logical_not, logical_xor=logical_xor, is_nan=is_nan, is_inf=is_inf, is_finite=is_finite,
    argmax=argmax, argmin=argmin, cumsum=cumsum, top_k=top_k, divide_no_nan=divide_no_nan, l2_normalize=l2_normalize,
    log_sigmoid=log_sigmoid, count_nonzero=count_nonzero, add_n=add_n, sinh=sinh, cosh=cosh, atan=atan,
    abs_=abs,
))
del math.abs_


# tf.nn
def relu(features, name=None):
    return _n.relu(features)


def relu6(features, name=None):
    return _n.relu6(features)


def softmax(logits, axis=None, name=None):
    return _n.softmax(logits, axis=-1 if axis is None else axis)


def log_softmax(logits, axis=None, name=None):
    return _n.log_softmax(logits, axis=-1 if axis is None else axis)


def leaky_relu(features, alpha=0.2, name=None):
    return _n.leaky_relu(features, alpha=alpha)


def elu(features, name=None):
    return _n.elu(features)


def selu(features, name=None):
    return _n.selu(features)


def gelu(features, approximate=False, name=None):
    """tf.nn.gelu: exact (erf) by default, on the Rust kernel; the tanh form with approximate=True."""
    return _n.gelu(features, approximate=approximate)


def silu(features, beta=1.0, name=None):
    return _n.silu(features, beta)


swish = silu


def softsign(features, name=None):
    return _n.softsign(features)


def moments(x, axes, shift=None, keepdims=False, name=None):
    return _n.moments(x, axes, keepdims=keepdims)


def dropout(x, rate, noise_shape=None, seed=None, name=None):
    return _n.dropout(x, rate, noise_shape, _tf_seed(seed))


def bias_add(value, bias, data_format=None, name=None):
    v, b = as_tensor_value(value), as_tensor_value(bias)
    if b.ndim != 1:
        raise ValueError(f"bias_add: bias must be 1-D, got shape {b.shape}")
    channels_first = data_format is not None and str(data_format).upper().startswith("NC")
    axis = 1 if channels_first else -1
    if v.ndim < 2 or v.shape[axis] != b.shape[0]:
        raise ValueError(f"bias_add: bias of size {b.shape[0]} must match the channel axis of value (shape {v.shape})")
    if channels_first:
        bias = _a.reshape(bias, (-1,) + (1,) * (v.ndim - 2))
    return _m.add(value, bias)


def sigmoid_cross_entropy_with_logits(labels=None, logits=None, name=None):
    return _n.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)


def softmax_cross_entropy_with_logits(labels=None, logits=None, axis=-1, name=None):
    return _n.softmax_cross_entropy_with_logits(labels=labels, logits=logits, axis=axis)


def sparse_softmax_cross_entropy_with_logits(labels=None, logits=None, name=None):
    return _n.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)


def embedding_lookup(params, ids, max_norm=None, name=None):
    return _a.gather(params, ids, axis=0)


nn = _namespace("nn", "tf.nn: activations, normalisation, dropout and cross-entropies from logits.", dict(
    relu=relu, relu6=relu6, sigmoid=sigmoid, tanh=tanh, softmax=softmax, log_softmax=log_softmax,
    leaky_relu=leaky_relu, elu=elu, selu=selu, gelu=gelu, silu=silu, swish=swish, softplus=softplus,
    softsign=softsign, l2_normalize=l2_normalize, moments=moments, dropout=dropout, bias_add=bias_add,
    sigmoid_cross_entropy_with_logits=sigmoid_cross_entropy_with_logits,
    softmax_cross_entropy_with_logits=softmax_cross_entropy_with_logits,
    sparse_softmax_cross_entropy_with_logits=sparse_softmax_cross_entropy_with_logits,
    embedding_lookup=embedding_lookup, log_sigmoid=log_sigmoid,
))


# tf.random: TF's seeding. An op seed with the global seed picks a stream that advances on every
# call (in TF two calls of tf.random.normal(..., seed=1) differ; tf.random.set_seed restarts them),
# unlike keras.random, where an int seed always gives the same draw.
_op_streams: dict = {}


def _tf_seed(seed):
    if seed is None or isinstance(seed, _r.SeedGenerator):  # a SeedGenerator: keras.random's seeding
        return seed
    if isinstance(seed, builtins.bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be None, an int or a keras.random.SeedGenerator, got {type(seed).__name__}")
    key = (_seeding.current_seed(), int(seed))
    stream = _op_streams.get(key)
    if stream is None:
        stream = _op_streams[key] = _r.SeedGenerator(int(seed) if _seeding.current_seed() is None
                                                      else int(seed) * 1_000_003 + _seeding.current_seed())
    return stream


def set_seed(seed):
    """tf.random.set_seed: the global seed of everything random (keras.utils.set_random_seed), and
    every op-seeded stream starts again."""
    _seeding.set_random_seed(seed)
    _op_streams.clear()


def normal(shape, mean=0.0, stddev=1.0, dtype=float32, seed=None, name=None):
    return _r.normal(shape, mean, stddev, dtype, _tf_seed(seed))


def uniform(shape, minval=0, maxval=None, dtype=float32, seed=None, name=None):
    return _r.uniform(shape, minval, maxval, dtype, _tf_seed(seed))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=float32, seed=None, name=None):
    return _r.truncated_normal(shape, mean, stddev, dtype, _tf_seed(seed))


def shuffle(value, seed=None, name=None):
    return _r.shuffle(value, _tf_seed(seed))


def categorical(logits, num_samples, dtype=None, seed=None, name=None):
    return _r.categorical(logits, num_samples, dtype or int64, _tf_seed(seed))


random = _namespace("random", "tf.random: random tensors and the global seed.", dict(
    normal=normal, uniform=uniform, truncated_normal=truncated_normal, shuffle=shuffle, categorical=categorical,
    set_seed=set_seed,
    # keras.random's own names, since `import aiaas_core as keras` makes this module keras.random too
    SeedGenerator=_r.SeedGenerator, randint=_keras_random.randint, dropout=_keras_random.dropout,
))


# tf.linalg
def matvec(a, b, transpose_a=False, adjoint_a=False, name=None):
    return _m.matmul(a, b, transpose_a=transpose_a or adjoint_a) if np.ndim(as_tensor_value(b)) == 1 else \
        _a.squeeze(_m.matmul(a, _a.expand_dims(b, -1), transpose_a=transpose_a or adjoint_a), -1)


def diag_part(input, name=None, k=0):  # noqa: A002
    """The main diagonal of the last two axes: [..., M, N] -> [..., min(M, N)] (differentiable)."""
    v = as_tensor_value(input)
    if v.ndim < 2:
        raise ValueError(f"diag_part: needs a tensor of rank >= 2, got shape {v.shape}")
    if k:
        raise ValueError("diag_part: only the main diagonal (k=0) is supported")
    n = builtins.min(v.shape[-2], v.shape[-1])
    square = _a.getitem(input, (Ellipsis, slice(0, n), slice(0, n)))
    return _m.sum(_m.multiply(square, np.eye(n, dtype=v.dtype if v.dtype.kind == "f" else np.float32)), axis=-1)


def trace(x, name=None):
    return _m.sum(diag_part(x), axis=-1)


def matrix_transpose(a, name="matrix_transpose", conjugate=False):
    v = as_tensor_value(a)
    if v.ndim < 2:
        raise ValueError(f"linalg.matrix_transpose: needs a tensor of rank >= 2, got shape {v.shape}")
    return _a.swapaxes(a, -1, -2)


def diag(diagonal, name="diag", k=0):
    v = as_tensor_value(diagonal)
    if v.ndim < 1 or k:
        raise ValueError(f"linalg.diag: needs a tensor of rank >= 1 and k=0, got shape {v.shape}")
    n = v.shape[-1]
    return _m.multiply(_a.expand_dims(diagonal, -1), np.eye(n, dtype=v.dtype if v.dtype.kind == "f" else np.float32))


linalg = _namespace("linalg", "tf.linalg: matrix products, norms and diagonals.", dict(
    matmul=matmul, matvec=matvec, norm=norm, eye=eye, diag_part=diag_part, diag=diag, trace=trace,
    transpose=matrix_transpose, matrix_transpose=matrix_transpose, einsum=einsum, tensordot=tensordot,
))


# tf.config
PhysicalDevice = collections.namedtuple("PhysicalDevice", ["name", "device_type"])
LogicalDevice = collections.namedtuple("LogicalDevice", ["name", "device_type"])
_eager = {"functions": True}


def run_functions_eagerly(run_eagerly):
    _eager["functions"] = builtins.bool(run_eagerly)  # recorded for functions_run_eagerly(); always eager here


def functions_run_eagerly():
    return True


def list_physical_devices(device_type=None):
    """One CPU entry; no GPU (the Rust kernels run on the CPU)."""
    if device_type is None or str(device_type).upper() == "CPU":
        return [PhysicalDevice("/physical_device:CPU:0", "CPU")]
    return []


def list_logical_devices(device_type=None):
    if device_type is None or str(device_type).upper() == "CPU":
        return [LogicalDevice("/device:CPU:0", "CPU")]
    return []


def _set_memory_growth(device, enable):
    """Accepted for GPU programs' set-up code; there is no device memory to manage."""


def _set_visible_devices(devices, device_type=None):
    """Accepted; only the CPU exists."""


def _set_intra_op_parallelism_threads(num_threads):
    if int(num_threads) > 0:
        _core.set_num_threads(int(num_threads))


config = _namespace("config", "tf.config: devices (the CPU) and the eager switch; keras.config's settings.", dict(
    **{key: getattr(_keras_config, key) for key in _keras_config.__all__},
    run_functions_eagerly=run_functions_eagerly, functions_run_eagerly=functions_run_eagerly,
    list_physical_devices=list_physical_devices, list_logical_devices=list_logical_devices,
    set_visible_devices=_set_visible_devices,
    experimental=types.SimpleNamespace(set_memory_growth=_set_memory_growth,
                                       list_physical_devices=list_physical_devices,
                                       set_visible_devices=_set_visible_devices),
    threading=types.SimpleNamespace(set_intra_op_parallelism_threads=_set_intra_op_parallelism_threads,
                                    set_inter_op_parallelism_threads=lambda n: None,
                                    get_intra_op_parallelism_threads=_core.get_num_threads),
))


# tf.errors / tf.debugging
class InvalidArgumentError(ValueError):
    """tf.errors.InvalidArgumentError (a ValueError here)."""


errors = _namespace("errors", "tf.errors: the exception types programs catch.", dict(
    InvalidArgumentError=InvalidArgumentError, OutOfRangeError=_a.IndexOutOfRangeError,
))


def _fail(message, default):
    raise InvalidArgumentError(f"{message}: {default}" if message else default)


def assert_equal(x, y, message=None, summarize=None, name=None):
    a, b = as_tensor_value(x), as_tensor_value(y)
    try:
        same = np.array_equal(*np.broadcast_arrays(a, b))
    except ValueError:
        same = False
    if not same:
        _fail(message, f"assert_equal failed: {a!r} != {b!r}")


def assert_near(x, y, rtol=None, atol=None, message=None, summarize=None, name=None):
    a, b = as_tensor_value(x), as_tensor_value(y)
    if not np.allclose(a, b, rtol=1e-6 if rtol is None else rtol, atol=1e-6 if atol is None else atol):
        _fail(message, f"assert_near failed: max difference {np.max(np.abs(a - b))}")


def _compare_assert(fn, what):
    def check(x, y, message=None, summarize=None, name=None):
        a, b = as_tensor_value(x), as_tensor_value(y)
        if not np.all(fn(a, b)):
            _fail(message, f"assert_{what} failed for {a!r} and {b!r}")
    check.__name__ = f"assert_{what}"
    return check


def _sign_assert(fn, what):
    def check(x, message=None, summarize=None, name=None):
        a = as_tensor_value(x)
        if not np.all(fn(a)):
            _fail(message, f"assert_{what} failed for {a!r}")
    check.__name__ = f"assert_{what}"
    return check


def assert_all_finite(t, message, name=None):
    if not np.all(np.isfinite(as_tensor_value(t))):
        _fail(message, "tensor had NaN or Inf values")
    return t


def check_numerics(tensor, message, name=None):
    return assert_all_finite(tensor, message)


def assert_rank(x, rank, message=None, name=None):
    if np.ndim(as_tensor_value(x)) != int(rank):
        _fail(message, f"expected rank {rank}, got shape {np.shape(as_tensor_value(x))}")


debugging = _namespace("debugging", "tf.debugging: assertions that raise InvalidArgumentError.", dict(
    assert_equal=assert_equal, assert_near=assert_near, assert_less=_compare_assert(np.less, "less"),
    assert_less_equal=_compare_assert(np.less_equal, "less_equal"),
    assert_greater=_compare_assert(np.greater, "greater"),
    assert_greater_equal=_compare_assert(np.greater_equal, "greater_equal"),
    assert_non_negative=_sign_assert(lambda a: a >= 0, "non_negative"),
    assert_positive=_sign_assert(lambda a: a > 0, "positive"),
    assert_all_finite=assert_all_finite, check_numerics=check_numerics, assert_rank=assert_rank,
))

dtypes = _namespace("dtypes", "tf.dtypes: numpy dtypes under TensorFlow's names.", dict(
    float16=float16, half=half, float32=float32, float64=float64, double=double, int8=int8, int16=int16,
    int32=int32, int64=int64, uint8=uint8, uint16=uint16, uint32=uint32, uint64=uint64, bool=bool,
    complex64=complex64, as_dtype=as_dtype, DType=DType, cast=cast,
))

class UnconnectedGradients(enum.Enum):
    """tf.UnconnectedGradients: what GradientTape.gradient gives a source the target does not reach."""
    NONE = "none"
    ZERO = "zero"


# tf.distribute: one replica (this process's CPU); programs written for several devices run unchanged
class Strategy:
    """tf.distribute's default strategy: `scope()` is a no-op context, one replica in sync."""

    num_replicas_in_sync = 1

    def __init__(self, devices=None, cross_device_ops=None, **kwargs):
        self.devices = list(devices) if devices else ["/device:CPU:0"]

    def scope(self):
        return contextlib.nullcontext(self)

    def run(self, fn, args=(), kwargs=None):
        return fn(*args, **(kwargs or {}))

    def experimental_distribute_dataset(self, dataset, options=None):
        return dataset

    def reduce(self, reduce_op, value, axis=None):
        return value


_default_strategy = Strategy()
distribute = _namespace("distribute", "tf.distribute: a single-replica strategy (MirroredStrategy and the "
                        "others run on this process's CPU as one replica).", dict(
    get_strategy=lambda: _default_strategy, has_strategy=lambda: False, Strategy=Strategy,
    MirroredStrategy=Strategy, OneDeviceStrategy=Strategy, MultiWorkerMirroredStrategy=Strategy,
    ReduceOp=types.SimpleNamespace(SUM="SUM", MEAN="MEAN"),
))


# tf.experimental.numpy ("tnp"): NumPy's names over the differentiable ops (keras.ops has them)
_tnp = types.ModuleType("aiaas_core.experimental.numpy", "tf.experimental.numpy: NumPy-style ops on tensors, "
                        "with gradients (the keras.ops functions under NumPy's names).")
_tnp.__getattr__ = lambda name: getattr(_ops, name)  # noqa: E731 - a module-level __getattr__
for _key in ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool_"):
    setattr(_tnp, _key, getattr(np, _key))
_tnp.asarray = _tnp.array = lambda a, dtype=None, **kwargs: convert_to_tensor(a, dtype=dtype)
_tnp.newaxis = None
experimental = _namespace("experimental", "tf.experimental: numpy (tnp).", dict(numpy=_tnp))


# ---- what `import aiaas_core as tf` gets ----------------------------------------------------------
NAMESPACES = ("math", "nn", "random", "linalg", "config", "debugging", "dtypes", "errors", "experimental", "distribute")
_NOT_OPS = {"function", "print", "set_seed", "run_functions_eagerly", "functions_run_eagerly",
            "list_physical_devices", "list_logical_devices", "is_tensor", "assert_equal", "assert_near",
            "assert_all_finite", "check_numerics", "assert_rank"}


def _wrap_ops() -> None:
    """Every tensor function: its name in input-type errors, and recorded symbolically when given
    keras.Input tensors (the functional API)."""
    module = sys.modules[__name__]
    wrapped = {}
    for key, value in list(vars(module).items()):
        if (key.startswith("_") or not isinstance(value, types.FunctionType) or key in _NOT_OPS
                or value.__module__ != __name__):
            continue
        wrapped[id(value)] = symbolic_dispatch(_named(value, key))
        setattr(module, key, wrapped[id(value)])
    for ns in NAMESPACES:
        mod = getattr(module, ns)
        for key, value in list(vars(mod).items()):
            if id(value) in wrapped:
                setattr(mod, key, wrapped[id(value)])
            elif isinstance(value, types.FunctionType) and value.__module__ == __name__ and key not in _NOT_OPS \
                    and not key.startswith("assert") and not key.startswith("_") and ns not in ("config",):
                setattr(mod, key, symbolic_dispatch(_named(value, key)))


_wrap_ops()

# The names TensorFlow has at its top level (tf.reduce_mean, not tf.log, which is tf.math.log only).
TOP_LEVEL = (
    "constant", "convert_to_tensor", "Variable", "zeros", "ones", "fill", "range", "zeros_like", "ones_like", "eye",
    "linspace", "identity", "stop_gradient", "cast", "shape", "size", "rank", "newaxis",
    "reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "reduce_logsumexp", "reduce_any",
    "reduce_all", "square", "sqrt", "exp", "abs", "sign", "round", "floor", "sin", "cos", "tanh", "sigmoid",
    "maximum", "minimum", "clip_by_value", "add_n", "add", "subtract", "multiply", "divide", "truediv", "floordiv",
    "pow", "negative", "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and",
    "logical_or", "logical_not", "argmax", "argmin", "cumsum", "reshape", "transpose", "squeeze", "expand_dims",
    "concat", "stack", "unstack", "split", "tile", "pad", "reverse", "broadcast_to", "gather", "gather_nd",
    "boolean_mask", "where", "one_hot", "sort", "argsort", "matmul", "einsum", "tensordot", "norm", "GradientTape", "function",
    "TensorShape", "TensorSpec", "Tensor", "is_tensor", "print", "Module", "assert_equal", "as_dtype", "DType",
    "UnconnectedGradients",
    "float16", "half", "float32", "float64", "double", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
    "uint64", "bool", "complex64",
) + NAMESPACES
