"""Merge layers (Keras 3): Concatenate, Add, Subtract, Multiply, Average, Maximum, Minimum, Dot, and
their functional forms (`keras.layers.add([a, b])` ...).

They take a list of tensors and are written with the tensor ops, so their gradients come from the
op tape (no fused kernel: the work is one elementwise op or one matmul). Shapes are checked when the
layer is built, i.e. when it is first called (on symbolic tensors: when the graph is defined).
"""

from __future__ import annotations

import numpy as np

from ...ops import array_ops, math_ops
from ...ops.nn_ops import l2_normalize
from .base import Layer


def _shape_str(shapes) -> str:
    return ", ".join(str(tuple(s)) for s in shapes)


class _Merge(Layer):
    """Base of the merge layers: a list of inputs in, one tensor out."""

    _MIN_INPUTS = 1
    _MAX_INPUTS = None

    def _input_shapes(self, input_shape) -> list[tuple]:
        kind = type(self).__name__
        if not isinstance(input_shape, (list, tuple)) or not input_shape \
                or not all(isinstance(s, (list, tuple)) for s in input_shape):
            raise ValueError(f"{self.name}: a {kind} layer should be called on a list of tensors, got a single "
                             f"tensor of shape {tuple(input_shape) if isinstance(input_shape, (list, tuple)) else input_shape}")
        n = len(input_shape)
        if n < self._MIN_INPUTS or (self._MAX_INPUTS is not None and n > self._MAX_INPUTS):
            want = (f"exactly {self._MIN_INPUTS}" if self._MIN_INPUTS == self._MAX_INPUTS
                    else f"at least {self._MIN_INPUTS}")
            raise ValueError(f"{self.name}: a {kind} layer should be called on {want} inputs, got {n} "
                             f"(shapes {_shape_str(input_shape)})")
        return [tuple(s) for s in input_shape]

    def _check_input_rank(self, shape):  # called with one shape: merge layers need a list
        self._input_shapes(shape)

    def build(self, input_shape):
        shapes = self._input_shapes(input_shape)
        self._elementwise_shape(shapes)

    def _elementwise_shape(self, shapes) -> tuple:
        """Keras's rule: inputs of lower rank get size-1 axes after the batch axis; then each axis
        must agree, a size 1 broadcasting, None matching anything."""
        rank = max(len(s) for s in shapes)
        aligned = [(s[0],) + (1,) * (rank - len(s)) + tuple(s[1:]) for s in shapes]
        out = [None]
        for i in range(1, rank):
            dims = [s[i] for s in aligned]
            sizes = {d for d in dims if d is not None and d != 1}
            if len(sizes) > 1:
                raise ValueError(f"{self.name}: inputs of a {type(self).__name__} layer have incompatible shapes "
                                 f"{_shape_str(shapes)} (axis {i}: sizes {sorted(sizes)})")
            out.append(sizes.pop() if sizes else (None if None in dims else 1))
        return tuple(out)

    def _aligned(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{self.name}: a {type(self).__name__} layer should be called on a list of tensors, "
                             f"got {type(inputs).__name__}")
        self._input_shapes([tuple(np.shape(x)) for x in inputs])
        rank = max(np.ndim(x) for x in inputs)
        out = []
        for x in inputs:
            for _ in range(rank - np.ndim(x)):  # as Keras: new axes right after the batch axis
                x = array_ops.expand_dims(x, 1)
            out.append(x)
        return out

    def call(self, inputs):
        return self._merge(self._aligned(inputs))

    def compute_output_shape(self, input_shape):
        return self._elementwise_shape(self._input_shapes(input_shape))


def _fold(fn, values):
    out = values[0]
    for v in values[1:]:
        out = fn(out, v)
    return out


class Add(_Merge):
    """Elementwise sum of the inputs."""

    def _merge(self, xs):
        return _fold(math_ops.add, xs)


class Subtract(_Merge):
    """inputs[0] - inputs[1] (exactly two inputs)."""

    _MIN_INPUTS = _MAX_INPUTS = 2

    def _merge(self, xs):
        return math_ops.subtract(xs[0], xs[1])


class Multiply(_Merge):
    """Elementwise product of the inputs."""

    def _merge(self, xs):
        return _fold(math_ops.multiply, xs)


class Average(_Merge):
    """Elementwise mean of the inputs."""

    def _merge(self, xs):
        return math_ops.divide(_fold(math_ops.add, xs), float(len(xs)))


class Maximum(_Merge):
    """Elementwise maximum of the inputs."""

    def _merge(self, xs):
        return _fold(math_ops.maximum, xs)


class Minimum(_Merge):
    """Elementwise minimum of the inputs."""

    def _merge(self, xs):
        return _fold(math_ops.minimum, xs)


class Concatenate(_Merge):
    """Join the inputs along `axis` (default -1, the channels); every other axis must match."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"Concatenate axis must be an int, got {axis!r}")
        self.axis = int(axis)

    def _concat_shape(self, shapes) -> tuple:
        ranks = {len(s) for s in shapes}
        if len(ranks) != 1:
            raise ValueError(f"{self.name}: a Concatenate layer needs inputs of one rank, got shapes {_shape_str(shapes)}")
        rank = ranks.pop()
        if not -rank <= self.axis < rank:
            raise ValueError(f"{self.name}: Concatenate axis {self.axis} is out of range for inputs of rank {rank}")
        ax = self.axis % rank
        if ax == 0:
            raise ValueError(f"{self.name}: Concatenate along the batch axis (axis=0) is not supported")
        out = list(shapes[0])
        for s in shapes[1:]:
            for i, d in enumerate(s):
                if i == ax:
                    out[i] = None if d is None or out[i] is None else out[i] + d
                elif i > 0 and d is not None and out[i] is not None and d != out[i]:
                    raise ValueError(
                        f"{self.name}: a Concatenate layer requires inputs with matching shapes except for the "
                        f"concatenation axis {self.axis}; got shapes {_shape_str(shapes)} (axis {i}: {out[i]} vs {d})")
                elif out[i] is None:
                    out[i] = d
        out[0] = None
        return tuple(out)

    def build(self, input_shape):
        self._concat_shape(self._input_shapes(input_shape))

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{self.name}: a Concatenate layer should be called on a list of tensors, "
                             f"got {type(inputs).__name__}")
        self._concat_shape(self._input_shapes([tuple(np.shape(x)) for x in inputs]))
        return array_ops.concat(list(inputs), axis=self.axis)

    def compute_output_shape(self, input_shape):
        return self._concat_shape(self._input_shapes(input_shape))

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config


class Dot(_Merge):
    """Batchwise dot product of two inputs along `axes` (an int for both, or a pair; counted with
    the batch axis, which cannot be one of them). normalize=True L2-normalizes both inputs along
    their axis first, giving the cosine similarity. Output: x's axes without axes[0], then y's
    without the batch axis and axes[1]; (batch, 1) when nothing else remains."""

    _MIN_INPUTS = _MAX_INPUTS = 2

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2 or any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axes):
                raise ValueError(f"Dot axes must be an int or a pair of ints, got {axes!r}")
            self.axes = [int(axes[0]), int(axes[1])]
        elif isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
            self.axes = int(axes)
        else:
            raise TypeError(f"Dot axes must be an int or a pair of ints, got {axes!r}")
        self.normalize = bool(normalize)

    def _resolved_axes(self, shapes) -> tuple[int, int]:
        pair = self.axes if isinstance(self.axes, list) else [self.axes, self.axes]
        out = []
        for a, s in zip(pair, shapes):
            if len(s) < 2:
                raise ValueError(f"{self.name}: a Dot layer needs inputs of rank >= 2, got shapes {_shape_str(shapes)}")
            if not -len(s) <= a < len(s):
                raise ValueError(f"{self.name}: Dot axes {self.axes} out of range for shapes {_shape_str(shapes)}")
            a %= len(s)
            if a == 0:
                raise ValueError(f"{self.name}: Dot cannot reduce over the batch axis (axes={self.axes})")
            out.append(a)
        d1, d2 = shapes[0][out[0]], shapes[1][out[1]]
        if d1 is not None and d2 is not None and d1 != d2:
            raise ValueError(f"{self.name}: Dot axes {self.axes}: size {d1} (axis {out[0]} of the first input) != "
                             f"{d2} (axis {out[1]} of the second); shapes {_shape_str(shapes)}")
        return out[0], out[1]

    def build(self, input_shape):
        shapes = self._input_shapes(input_shape)
        self._resolved_axes(shapes)

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{self.name}: a Dot layer should be called on a list of 2 tensors, got {type(inputs).__name__}")
        shapes = self._input_shapes([tuple(np.shape(x)) for x in inputs])
        a1, a2 = self._resolved_axes(shapes)
        x, y = inputs
        if self.normalize:  # x / sqrt(max(sum x^2, 1e-12)) along the dot axis, as tf.nn.l2_normalize
            x = l2_normalize(x, axis=a1)
            y = l2_normalize(y, axis=a2)
        # Bring x's axis last and y's axis to position 1, flatten the rest, one batched matmul.
        x = array_ops.moveaxis(x, a1, -1)
        y = array_ops.moveaxis(y, a2, 1)
        xs, ys = tuple(np.shape(x)), tuple(np.shape(y))
        k = xs[-1]
        x3 = array_ops.reshape(x, (xs[0], -1, k))
        y3 = array_ops.reshape(y, (ys[0], k, -1))
        out = math_ops.matmul(x3, y3)
        out_shape = (xs[0],) + xs[1:-1] + ys[2:]
        if len(out_shape) == 1:
            out_shape = (xs[0], 1)
        return array_ops.reshape(out, out_shape)

    def compute_output_shape(self, input_shape):
        shapes = self._input_shapes(input_shape)
        a1, a2 = self._resolved_axes(shapes)
        s1 = [d for i, d in enumerate(shapes[0]) if i != a1]
        s2 = [d for i, d in enumerate(shapes[1]) if i not in (0, a2)]
        out = s1 + s2
        return tuple(out + [1] if len(out) == 1 else out)

    def get_config(self):
        config = super().get_config()
        config.update(axes=self.axes, normalize=self.normalize)
        return config


def _functional(cls, inputs, **kwargs):
    return cls(**kwargs)(inputs)


def add(inputs, **kwargs):
    """Functional form of Add: `add([a, b])`."""
    return _functional(Add, inputs, **kwargs)


def subtract(inputs, **kwargs):
    """Functional form of Subtract: `subtract([a, b])` = a - b."""
    return _functional(Subtract, inputs, **kwargs)


def multiply(inputs, **kwargs):
    """Functional form of Multiply."""
    return _functional(Multiply, inputs, **kwargs)


def average(inputs, **kwargs):
    """Functional form of Average."""
    return _functional(Average, inputs, **kwargs)


def maximum(inputs, **kwargs):
    """Functional form of Maximum."""
    return _functional(Maximum, inputs, **kwargs)


def minimum(inputs, **kwargs):
    """Functional form of Minimum."""
    return _functional(Minimum, inputs, **kwargs)


def concatenate(inputs, axis=-1, **kwargs):
    """Functional form of Concatenate: `concatenate([a, b], axis=-1)`."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, normalize=False, **kwargs):
    """Functional form of Dot: `dot([a, b], axes)`."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
