"""Python operators for tensor-like objects that are not numpy arrays (Variables, symbolic Keras
tensors): each maps to the recorded op, so `x @ self.w + self.b` is differentiable."""

from __future__ import annotations


from . import array_ops, math_ops
from .tensor import _UFUNC_OPS, as_tensor_value


class OperatorMixin:
    """Arithmetic, comparison, matmul and indexing through aiaas_core.ops."""

    __array_priority__ = 30.0  # numpy defers to these operators (ndarray + var -> var.__radd__)

    def __add__(self, o):
        return math_ops.add(self, o)

    def __radd__(self, o):
        return math_ops.add(o, self)

    def __sub__(self, o):
        return math_ops.subtract(self, o)

    def __rsub__(self, o):
        return math_ops.subtract(o, self)

    def __mul__(self, o):
        return math_ops.multiply(self, o)

    def __rmul__(self, o):
        return math_ops.multiply(o, self)

    def __truediv__(self, o):
        return math_ops.divide(self, o)

    def __rtruediv__(self, o):
        return math_ops.divide(o, self)

    def __floordiv__(self, o):
        return math_ops.floor_divide(self, o)

    def __mod__(self, o):
        return math_ops.mod(self, o)

    def __pow__(self, o):
        return math_ops.power(self, o)

    def __rpow__(self, o):
        return math_ops.power(o, self)

    def __matmul__(self, o):
        return math_ops.matmul(self, o)

    def __rmatmul__(self, o):
        return math_ops.matmul(o, self)

    def __neg__(self):
        return math_ops.negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return math_ops.abs(self)

    def __lt__(self, o):
        return math_ops.less(self, o)

    def __le__(self, o):
        return math_ops.less_equal(self, o)

    def __gt__(self, o):
        return math_ops.greater(self, o)

    def __ge__(self, o):
        return math_ops.greater_equal(self, o)

    def __getitem__(self, key):
        return array_ops.getitem(self, key)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        op = _UFUNC_OPS.get(ufunc) if method == "__call__" and not kwargs else None
        if op is not None:
            return op(*inputs)
        plain = [as_tensor_value(x) if isinstance(x, OperatorMixin) else x for x in inputs]
        return getattr(ufunc, method)(*plain, **kwargs)
