"""Symbolic tensors for the functional API: `keras.Input(...)` and what layers and ops make of it.

A KerasTensor holds a shape (None where unknown: the batch axis, variable-length sequences), a
dtype and the node that made it. Calling a layer or an op on KerasTensors records a `SymbolicNode`
(what to call, on which tensors, with which constant arguments) and computes the output shapes by
running the call on small probe arrays twice: once with every unknown dimension 1 and once with 2.
A dimension that follows the probes is unknown in the output too. A functional `Model(inputs,
outputs)` replays the recorded nodes on real data (engine/functional.py).
"""

from __future__ import annotations

import itertools

import numpy as np

from . import autodiff
from .operators import OperatorMixin
from .tensor import TensorShape, as_tensor_value

_uid = itertools.count()


class SymbolicNode:
    """One recorded call: `layer` (a Layer) or `fn` (an op), its arguments with KerasTensors in
    place (any nesting), and the KerasTensors it produced (`outputs`, same structure as returned)."""

    __slots__ = ("layer", "fn", "args", "kwargs", "outputs", "id")

    def __init__(self, layer, fn, args, kwargs):
        self.layer = layer
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.outputs = None
        self.id = next(_uid)

    def inputs(self) -> list["KerasTensor"]:
        return [t for t in flatten((self.args, self.kwargs)) if isinstance(t, KerasTensor)]


class KerasTensor(OperatorMixin):
    """A symbolic tensor: shape, dtype and the node that made it (None for an Input)."""

    def __init__(self, shape, dtype="float32", node: SymbolicNode | None = None, name: str | None = None):
        self.shape = TensorShape(None if d is None else int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.node = node
        self.name = name
        self._input_layer = None  # the InputLayer for a keras.Input

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def _keras_history(self):
        return (self.node.layer if self.node is not None else self._input_layer, 0, 0)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={tuple(self.shape)}, dtype={self.dtype.name}, name={self.name}>"

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other):  # identity: KerasTensors are graph handles, not values
        return self is other

    def __bool__(self):
        raise TypeError(
            "a symbolic KerasTensor has no value: Python control flow (if/while) on it cannot be traced; "
            "use ops such as keras.ops.where, or a subclassed model with call()"
        )

    def __len__(self):
        if self.shape and self.shape[0] is not None:
            return self.shape[0]
        raise TypeError("len() of a symbolic tensor with an unknown first dimension")

    def __iter__(self):
        raise TypeError("a symbolic KerasTensor cannot be iterated: its values exist only when the model runs")

    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            f"{self!r} is symbolic (a keras.Input or an output computed from one): it has no values. "
            "numpy functions cannot run on it; use keras.ops / tf functions, which the functional model records"
        )

    def numpy(self):
        self.__array__()

    def probe(self, run: int) -> np.ndarray:
        """An array of this shape for probe run 0 or 1: an unknown batch axis (the first) takes
        PROBE_BATCH[run], any other unknown dimension (a sequence length, an image side)
        PROBE_LENGTH[run], long enough for strided convolutions and pooling windows. Ones for floats
        (safe for log and division), zeros for integer ids."""
        dims = tuple((PROBE_BATCH[run] if i == 0 else PROBE_LENGTH[run]) if d is None else d
                     for i, d in enumerate(self.shape))
        if self.dtype.kind == "f":
            return np.ones(dims, self.dtype)
        return np.zeros(dims, self.dtype)


def flatten(structure) -> list:
    if isinstance(structure, (list, tuple)):
        return [x for item in structure for x in flatten(item)]
    if isinstance(structure, dict):
        return [x for key in structure for x in flatten(structure[key])]
    return [structure]


def map_structure(fn, structure):
    if isinstance(structure, (list, tuple)):
        mapped = [map_structure(fn, item) for item in structure]
        return tuple(mapped) if isinstance(structure, tuple) else mapped
    if isinstance(structure, dict):
        return {k: map_structure(fn, v) for k, v in structure.items()}
    return fn(structure)


def is_symbolic(x) -> bool:
    """Whether `x` is, or holds (in a list, tuple or dict), a KerasTensor."""
    if isinstance(x, KerasTensor):
        return True
    if isinstance(x, (list, tuple)):
        return any(is_symbolic(v) for v in x)
    if isinstance(x, dict):
        return any(is_symbolic(v) for v in x.values())
    return False


# The two probe runs: every unknown dimension differs between them, so an output dimension that
# follows an unknown input dimension differs too and is unknown in the output.
PROBE_BATCH = (1, 2)
PROBE_LENGTH = (64, 128)


def _run_on_probes(run, args, kwargs):
    """(output structure of probe run 0, of run 1): `run` on every KerasTensor replaced by a probe."""
    outs = []
    for size in (0, 1):
        a = map_structure(lambda t: t.probe(size) if isinstance(t, KerasTensor) else t, args)
        k = map_structure(lambda t: t.probe(size) if isinstance(t, KerasTensor) else t, kwargs)
        with autodiff.no_recording(), np.errstate(all="ignore"):
            outs.append(run(*a, **k))
    return outs


def _zip_structures(a, b):
    if isinstance(a, (list, tuple)):
        zipped = [_zip_structures(x, y) for x, y in zip(a, b)]
        return tuple(zipped) if isinstance(a, tuple) else zipped
    if isinstance(a, dict):
        return {k: _zip_structures(a[k], b[k]) for k in a}
    return _Pair(a, b)


class _Pair(tuple):
    def __new__(cls, a, b):
        return super().__new__(cls, (a, b))


def _map_pairs(fn, structure):
    if isinstance(structure, _Pair):
        return fn(structure)
    if isinstance(structure, (list, tuple)):
        mapped = [_map_pairs(fn, item) for item in structure]
        return tuple(mapped) if isinstance(structure, tuple) else mapped
    if isinstance(structure, dict):
        return {k: _map_pairs(fn, v) for k, v in structure.items()}
    return structure


def _outputs_for(node, small, large):
    def make(pair):
        a, b = pair
        va, vb = np.asarray(as_tensor_value(a)), np.asarray(as_tensor_value(b))
        if va.ndim != vb.ndim:
            raise ValueError("an op on symbolic tensors changed rank with the batch size; it cannot be traced")
        shape = [da if da == db else None for da, db in zip(va.shape, vb.shape)]
        return KerasTensor(shape, va.dtype, node)
    return _map_pairs(make, _zip_structures(small, large))


def call_layer(layer, inputs, args, kwargs):
    """`layer(inputs)` on KerasTensors: builds the layer, records the call, returns KerasTensors."""
    kwargs = {k: v for k, v in kwargs.items() if not (k == "training" and v is None)}
    node = SymbolicNode(layer, None, (inputs,) + tuple(args), kwargs)

    def run(x, *a, **k):
        return layer(x, *a, **k)

    small, large = _run_on_probes(run, (inputs,) + tuple(args), dict(kwargs, training=False) if "training" not in kwargs else kwargs)
    node.outputs = _outputs_for(node, small, large)
    _name_outputs(node.outputs, layer.name)
    layer.__dict__.setdefault("_symbolic_io", (inputs, node.outputs))  # layer.input / layer.output: the first call
    return node.outputs


def call_op(fn, args, kwargs):
    """An op (keras.ops / tf function) on KerasTensors: recorded like a layer call."""
    node = SymbolicNode(None, fn, tuple(args), dict(kwargs))
    small, large = _run_on_probes(fn, tuple(args), dict(kwargs))
    node.outputs = _outputs_for(node, small, large)
    _name_outputs(node.outputs, getattr(fn, "__name__", "op"))
    return node.outputs


def _name_outputs(outputs, base: str) -> None:
    flat = [t for t in flatten(outputs) if isinstance(t, KerasTensor)]
    for i, t in enumerate(flat):
        t.name = base if len(flat) == 1 else f"{base}_{i}"


def symbolic_dispatch(fn):
    """Decorate a public op so that, given KerasTensors, it records itself in the functional graph
    instead of computing (the check is a scan of the top-level arguments and lists in them)."""
    def op(*args, **kwargs):
        for a in args:
            if isinstance(a, KerasTensor) or (isinstance(a, (list, tuple)) and a and any(isinstance(v, KerasTensor) for v in a)):
                return call_op(fn, args, kwargs)
        for a in kwargs.values():
            if isinstance(a, KerasTensor):
                return call_op(fn, args, kwargs)
        return fn(*args, **kwargs)
    op.__name__ = fn.__name__
    op.__qualname__ = getattr(fn, "__qualname__", fn.__name__)
    op.__doc__ = fn.__doc__
    op.__wrapped__ = fn
    return op


# KerasTensor operators record the public op they stand for (x + y, x[:, 0], -x) in the graph, as
# the ops package registers them here (it sits above this module): a saved config names that op.
OPERATOR_OPS: dict = {}


def _operator(name):
    def method(self, *others):
        return OPERATOR_OPS[name](self, *others)
    return method


def _roperator(name):
    def method(self, other):
        return OPERATOR_OPS[name](other, self)
    return method


for _name, _op in (("__add__", "add"), ("__sub__", "subtract"), ("__mul__", "multiply"), ("__truediv__", "divide"),
                   ("__pow__", "power"), ("__matmul__", "matmul"), ("__neg__", "negative"), ("__abs__", "abs"),
                   ("__lt__", "less"), ("__le__", "less_equal"), ("__gt__", "greater"), ("__ge__", "greater_equal"),
                   ("__getitem__", "getitem"), ("__mod__", "mod"), ("__floordiv__", "floor_divide")):
    setattr(KerasTensor, _name, _operator(_op))
for _name, _op in (("__radd__", "add"), ("__rsub__", "subtract"), ("__rmul__", "multiply"),
                   ("__rtruediv__", "divide"), ("__rpow__", "power"), ("__rmatmul__", "matmul")):
    setattr(KerasTensor, _name, _roperator(_op))
