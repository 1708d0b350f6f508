"""The Tensor type: a numpy array (zero-copy for numpy, `np.asarray(t)` shares memory) that can
carry the autodiff node that made it.

A Tensor behaves as TensorFlow's eager tensors do where they differ from numpy arrays: it is
immutable under augmented assignment (`t -= m` makes a new tensor, as in TF; it never writes into
an array another layer still needs), operators and numpy ufuncs are recorded for gradients while
a tape records, and `.numpy()` gives a plain array.
"""

from __future__ import annotations

import numpy as np

from . import autodiff


class TensorShape(tuple):
    """A tuple of dimensions (None where unknown) with TensorFlow's `as_list()` and `rank`."""

    def as_list(self) -> list:
        return list(self)

    @property
    def rank(self) -> int:
        return len(self)

    @property
    def ndims(self) -> int:
        return len(self)

    def num_elements(self):
        return None if any(d is None for d in self) else int(np.prod(self))


# ufuncs whose gradient the engine knows: numpy code on tensors (np.exp(t), t * 2) is recorded too.
_UFUNC_OPS: dict = {}
# The ops behind Tensor's methods and operators (t.sum(), t[i], t @ w, t.T), registered by the
# modules that define them (math_ops, array_ops): this module sits below them and imports neither.
_METHOD_OPS: dict = {}


class Tensor(np.ndarray):
    """An immutable-by-convention numpy array with an optional autodiff node."""

    _node = None
    _watched = False
    __array_priority__ = 20.0

    # ---- TensorFlow's eager-tensor surface -------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The values as a plain numpy array (a copy, as TF's .numpy() is safe to mutate)."""
        return np.array(self.view(np.ndarray))

    @property
    def shape(self) -> TensorShape:  # type: ignore[override]
        return TensorShape(np.ndarray.shape.__get__(self))

    @shape.setter
    def shape(self, value) -> None:
        np.ndarray.shape.__set__(self, value)

    def get_shape(self) -> TensorShape:
        return self.shape

    @property
    def rank(self) -> int:
        return self.ndim

    def __repr__(self) -> str:
        arr = self.view(np.ndarray)
        return f"<tf.Tensor: shape={tuple(arr.shape)}, dtype={arr.dtype.name}, numpy={np.array2string(arr, threshold=20)}>"

    def __str__(self) -> str:
        return str(self.view(np.ndarray))

    def __hash__(self):  # TF tensors are hashable by identity (used as dict keys by some programs)
        return id(self)

    def __reduce__(self):
        raise TypeError("aiaas_core tensors are not picklable; convert with .numpy() and save arrays")

    def __bool__(self) -> bool:
        return bool(self.view(np.ndarray))

    # ---- recorded operators ----------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        op = _UFUNC_OPS.get(ufunc) if method == "__call__" and not kwargs else None
        if op is not None:
            return op(*inputs)
        if method == "reduce" and ufunc is np.add and "out" not in kwargs and len(inputs) == 1:
            return _METHOD_OPS["sum"](inputs[0], axis=kwargs.get("axis", 0), keepdims=kwargs.get("keepdims", False))
        base = [x.view(np.ndarray) if isinstance(x, Tensor) else _plain(x) for x in inputs]
        if "out" in kwargs:  # explicit in-place numpy: computed, never recorded
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, Tensor) else o for o in kwargs["out"])
        result = getattr(ufunc, method)(*base, **kwargs)
        if isinstance(result, np.ndarray) and "out" not in kwargs:
            return result.view(Tensor)
        return result

    def __getitem__(self, key):
        return _METHOD_OPS["getitem"](self, key)

    def __setitem__(self, key, value):
        raise TypeError(
            "'Tensor' object does not support item assignment (tensors are immutable, as in TensorFlow): "
            "use tf.where / tf.tensor_scatter_nd_update, or .numpy() for a writable copy"
        )

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        if self.ndim == 1 and not autodiff.any_tracked((self,)):
            yield from self.view(np.ndarray)  # numpy scalars: hashable by value, as numpy code expects
            return
        for i in range(len(self)):
            yield self[i]

    def __matmul__(self, other):
        return _METHOD_OPS["matmul"](self, other)

    def __rmatmul__(self, other):
        return _METHOD_OPS["matmul"](other, self)

    # TF tensors are immutable: `a += b` rebinds a to a new tensor (numpy would write into a).
    def __iadd__(self, other):
        return self.__add__(other)

    def __isub__(self, other):
        return self.__sub__(other)

    def __imul__(self, other):
        return self.__mul__(other)

    def __itruediv__(self, other):
        return self.__truediv__(other)

    def __ipow__(self, other):
        return self.__pow__(other)

    def __imatmul__(self, other):
        return self.__matmul__(other)

    # numpy-style methods that programs call on outputs, recorded like the ops they stand for.
    def reshape(self, *shape, **kwargs):
        if kwargs:
            return np.ndarray.reshape(self, *shape, **kwargs)
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _METHOD_OPS["reshape"](self, shape)

    def sum(self, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
        if dtype is not None or out is not None or kwargs:
            return np.ndarray.sum(self.view(np.ndarray), axis=axis, dtype=dtype, out=out, keepdims=keepdims, **kwargs)
        return _METHOD_OPS["sum"](self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
        if dtype is not None or out is not None or kwargs:
            return np.ndarray.mean(self.view(np.ndarray), axis=axis, dtype=dtype, out=out, keepdims=keepdims, **kwargs)
        return _METHOD_OPS["mean"](self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, out=None, keepdims=False, **kwargs):
        if out is not None or kwargs:
            return np.ndarray.max(self.view(np.ndarray), axis=axis, out=out, keepdims=keepdims, **kwargs)
        return _METHOD_OPS["max"](self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, out=None, keepdims=False, **kwargs):
        if out is not None or kwargs:
            return np.ndarray.min(self.view(np.ndarray), axis=axis, out=out, keepdims=keepdims, **kwargs)
        return _METHOD_OPS["min"](self, axis=axis, keepdims=keepdims)

    def astype(self, dtype, *args, **kwargs):
        """numpy's astype, recorded as a cast (float to float keeps the gradient)."""
        if args or kwargs or np.dtype(dtype).kind not in "biufc":
            return np.ndarray.astype(self.view(np.ndarray), dtype, *args, **kwargs)
        return _METHOD_OPS["cast"](self, dtype)

    @property
    def T(self):
        return _METHOD_OPS["transpose"](self)


def _plain(x):
    """A variable or other array-like as what numpy computes with."""
    value = getattr(x, "value", None)
    if isinstance(value, np.ndarray) and type(x).__name__ == "Variable":
        return value
    return x


class InputTypeError(TypeError):
    """An op got something that is not a numeric tensor; the public op wrappers (ops/__init__.py)
    put the op's name in front of the message."""


def _describe(x) -> str:
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


def as_tensor_value(x, dtype=None) -> np.ndarray:
    """The plain array behind `x` (Tensor, Variable, numpy, list or scalar), as `dtype` if given.
    Python floats become float32 and Python ints int32 (int64 when a value does not fit), as in
    TensorFlow."""
    if isinstance(x, Tensor):
        arr = x.view(np.ndarray)
    elif isinstance(x, np.ndarray):
        arr = x
    else:
        value = getattr(x, "value", None)
        if isinstance(value, np.ndarray) and hasattr(x, "_node"):
            arr = value
        else:
            if x is None:
                raise InputTypeError("expected a numeric tensor, got None")
            try:
                arr = np.asarray(x)
            except (ValueError, TypeError) as exc:  # ragged nested lists, odd objects
                raise InputTypeError(f"expected a numeric tensor, got {_describe(x)}: {exc}") from None
            if arr.dtype == np.float64 and not isinstance(x, (np.floating, np.generic)):
                arr = arr.astype(np.float32)
            elif arr.dtype == np.int64 and not isinstance(x, np.generic):
                info = np.iinfo(np.int32)
                if arr.size == 0 or (info.min <= arr.min() and arr.max() <= info.max):
                    arr = arr.astype(np.int32)
    if arr.dtype.kind not in "biufc":
        raise InputTypeError(
            f"expected a numeric tensor (numbers, a numpy array, a Tensor or a Variable), got "
            f"{_describe(x)} of dtype {arr.dtype}")
    if dtype is not None:
        dtype = np.dtype(dtype)
        if arr.dtype != dtype:
            arr = arr.astype(dtype)
    return arr


def wrap(arr) -> Tensor:
    """`arr` (a numpy array or scalar) as a Tensor sharing its memory."""
    if isinstance(arr, Tensor):
        return arr if arr._node is None and not arr._watched else arr.view(Tensor)
    if not isinstance(arr, np.ndarray):
        arr = np.asarray(arr)
    return arr.view(Tensor)


def ones_like_value(t):
    return wrap(np.ones(np.shape(t), dtype=_float_dtype(t)))


def zeros_like_value(t):
    return wrap(np.zeros(np.shape(t), dtype=_float_dtype(t)))


def _float_dtype(t):
    dt = np.result_type(as_tensor_value(t))
    return dt if dt.kind == "f" else np.float32
