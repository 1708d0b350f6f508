"""Functional models: `keras.Model(inputs, outputs)` over the graph that calling layers and ops on
`keras.Input` tensors recorded (ops/symbolic.py).

The graph is kept as a list of nodes in the order they must run; `call` feeds the real inputs to
the input tensors and replays each node (a layer call, or an op such as `x + y`), so training
records on the tape like any other model: built-in layers as one fused node each. Inputs and
outputs may be one tensor, a list or a dict; layers may be shared (called several times) and a
model may be used as a layer.
"""

from __future__ import annotations

import numpy as np

from ..._arrays import as_float32
from ...ops import array_ops, symbolic
from ...ops.symbolic import KerasTensor, flatten, map_structure
from ...ops.tensor import Tensor, wrap
from .. import backend
from ..layers.base import _MISSING, InputLayer, Layer, _snake, inputs_from_kwargs, unique_name
from .model import Model


def _input_tensors(inputs) -> list[KerasTensor]:
    flat = flatten(inputs)
    for t in flat:
        if not isinstance(t, KerasTensor):
            raise TypeError(f"Model inputs must be keras.Input tensors, got {type(t).__name__}")
        if t.node is not None:
            raise ValueError(
                f"Model inputs must be keras.Input(...) tensors; {t.name!r} is computed from other tensors"
            )
    return flat


def _graph_nodes(inputs: list[KerasTensor], outputs: list[KerasTensor]) -> list:
    """The nodes between `inputs` and `outputs`, each once, in an order where every node's inputs
    are computed before it (depth-first from the outputs)."""
    input_ids = {id(t) for t in inputs}
    order, state = [], {}

    def visit(tensor: KerasTensor, path: list):
        if id(tensor) in input_ids:
            return
        node = tensor.node
        if node is None:
            raise ValueError(
                f"output {path[0]!r} depends on the input {tensor.name!r}, which is not among the model's inputs "
                f"({', '.join(t.name or '?' for t in inputs)}): pass every keras.Input the outputs use"
            )
        mark = state.get(node.id)
        if mark == "done":
            return
        if mark == "active":
            raise ValueError("the layer graph has a cycle")
        state[node.id] = "active"
        for t in node.inputs():
            visit(t, path)
        state[node.id] = "done"
        order.append(node)

    for t in outputs:
        if not isinstance(t, KerasTensor):
            raise TypeError(f"Model outputs must be tensors computed from keras.Input, got {type(t).__name__}")
        visit(t, [t.name])
    return order


class Functional(Model):
    """A model defined by its graph: `Model(inputs, outputs, name=None)`."""

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if kwargs:
            raise TypeError(f"Model: unexpected argument(s) {', '.join(sorted(kwargs))}")
        if inputs is None or outputs is None:
            raise ValueError("a functional Model needs inputs= and outputs= (keras.Input tensors and what was computed from them)")
        Layer.__init__(self, name=name, trainable=trainable)
        self._init_model_state()
        if isinstance(inputs, tuple):
            inputs = list(inputs)
        if isinstance(outputs, tuple):
            outputs = list(outputs)
        flat_in = _input_tensors(inputs)
        flat_out = flatten(outputs)
        self.__dict__["_input_struct"] = inputs
        self.__dict__["_output_struct"] = outputs
        self.__dict__["_flat_inputs"] = flat_in
        self.__dict__["_flat_outputs"] = flat_out
        self.__dict__["_nodes"] = _graph_nodes(flat_in, flat_out)
        layers, seen = [], set()
        for node in self._nodes:
            if node.layer is not None and id(node.layer) not in seen:
                seen.add(id(node.layer))
                layers.append(node.layer)
        self.__dict__["_graph_layers"] = layers
        self.__dict__["_input_layers"] = [t._input_layer for t in flat_in]
        _claim_unique_names(self._input_layers + layers)
        self.output_names = [t.name for t in flat_out] if not isinstance(outputs, dict) else list(outputs)
        self.input_names = [t.name for t in flat_in] if not isinstance(inputs, dict) else list(inputs)
        self.built = True
        self._build_input_shape = (tuple(flat_in[0].shape) if len(flat_in) == 1 and not isinstance(inputs, dict)
                                   else [tuple(t.shape) for t in flat_in])
        self.__dict__["_int_input"] = len(flat_in) == 1 and flat_in[0].dtype.kind in "iub"
        if len(flat_out) == 1 and not isinstance(outputs, (list, dict)):
            self._output_shape = tuple(flat_out[0].shape)

    # ---- structure ----------------------------------------------------------------------------
    def _children(self):
        return [(f"layers.{i}", layer) for i, layer in enumerate(self._graph_layers)]

    @property
    def layers(self) -> list[Layer]:
        return list(self._input_layers) + list(self._graph_layers)

    @property
    def inputs(self) -> list[KerasTensor]:
        return list(self._flat_inputs)

    @property
    def outputs(self) -> list[KerasTensor]:
        return list(self._flat_outputs)

    @property
    def input(self):
        return self._input_struct

    @property
    def output(self):
        return self._output_struct

    @property
    def input_shape(self):
        shapes = [tuple(t.shape) for t in self._flat_inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [tuple(t.shape) for t in self._flat_outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    # ---- running the graph -----------------------------------------------------------------
    def __call__(self, inputs=_MISSING, *args, training: bool | None = None, **kwargs):
        if inputs is _MISSING:
            inputs = inputs_from_kwargs(self, kwargs)
        if symbolic.is_symbolic(inputs):  # a functional model used as a layer in another graph
            return symbolic.call_layer(self, inputs, args, dict(kwargs, training=training))
        if training is None:
            training = backend.state.training
        return self._call_composite(inputs, training, args, kwargs)

    def call(self, inputs, training=None, mask=None):
        values = self._feed(inputs)
        for node in self._nodes:
            args = map_structure(lambda t: values[id(t)] if isinstance(t, KerasTensor) else t, node.args)
            kwargs = map_structure(lambda t: values[id(t)] if isinstance(t, KerasTensor) else t, node.kwargs)
            if node.layer is not None:
                if "training" in kwargs and kwargs["training"] is None:
                    kwargs.pop("training")
                kwargs.setdefault("training", training)
                result = node.layer(*args, **kwargs)
            else:
                result = node.fn(*args, **kwargs)
            self._bind(node.outputs, result, values)
        return map_structure(lambda t: values[id(t)], self._output_struct)

    def _bind(self, symbolic_out, result, values: dict) -> None:
        if isinstance(symbolic_out, KerasTensor):
            values[id(symbolic_out)] = result
            return
        if isinstance(symbolic_out, dict):
            for k, t in symbolic_out.items():
                self._bind(t, result[k], values)
            return
        for t, r in zip(symbolic_out, result):
            self._bind(t, r, values)

    def _feed(self, inputs) -> dict:
        """{id(input tensor): value}, each value checked against its Input's shape and dtype."""
        spec = self._input_struct
        if isinstance(spec, dict):
            if not isinstance(inputs, dict):
                if len(spec) == 1 and not isinstance(inputs, (list, tuple)):
                    inputs = {next(iter(spec)): inputs}
                else:
                    raise ValueError(f"model {self.name!r} takes a dict of inputs {sorted(spec)}, got {type(inputs).__name__}")
            missing = sorted(set(spec) - set(inputs))
            if missing:
                raise ValueError(f"model {self.name!r}: inputs {missing} are missing (expected keys {sorted(spec)})")
            pairs = [(spec[k], inputs[k]) for k in spec]
        elif isinstance(spec, list):
            if isinstance(inputs, dict):
                by_name = {t.name: t for t in spec}
                unknown = sorted(set(inputs) - set(by_name))
                if unknown or len(inputs) != len(spec):
                    raise ValueError(f"model {self.name!r}: input names are {sorted(by_name)}, got {sorted(inputs)}")
                pairs = [(by_name[k], v) for k, v in inputs.items()]
            else:
                if len(spec) == 1 and not isinstance(inputs, (list, tuple)):
                    inputs = [inputs]  # Model(inputs=[x], ...) called on one array, as Keras
                if not isinstance(inputs, (list, tuple)) or len(inputs) != len(spec):
                    got = len(inputs) if isinstance(inputs, (list, tuple)) else 1
                    raise ValueError(f"model {self.name!r} takes {len(spec)} inputs, got {got}")
                pairs = list(zip(spec, inputs))
        else:
            if isinstance(inputs, (list, tuple)) and len(inputs) == 1 and hasattr(inputs[0], "shape"):
                inputs = inputs[0]
            pairs = [(spec, inputs)]
        return {id(t): _check_input(self.name, t, v) for t, v in pairs}

    # ---- config --------------------------------------------------------------------------------
    def get_config(self) -> dict:
        from .functional_config import functional_config
        return functional_config(self)

    @classmethod
    def from_config(cls, config: dict, custom_objects=None) -> "Functional":
        from .functional_config import functional_from_config
        return functional_from_config(config, custom_objects)


def _claim_unique_names(layers: list) -> None:
    """Keras requires unique layer names in a model (its config refers to layers by name). A name
    the user gave twice is a ValueError; a generated one that clashes (a layer loaded from another
    process's file keeps its name) is replaced by the next free generated name."""
    taken: set[str] = set()
    seen: set[int] = set()
    for layer in layers:
        if id(layer) in seen:  # the same Input listed twice in inputs=
            continue
        seen.add(id(layer))
        if layer.name in taken:
            if not getattr(layer, "_auto_named", False) or isinstance(layer, InputLayer):
                raise ValueError(
                    f"the name {layer.name!r} is used by two layers of this model; layer names must be unique "
                    "in a model: pass another name="
                )
            while layer.name in taken:
                layer.name = unique_name(_snake(type(layer).__name__))
        taken.add(layer.name)


def _check_input(model_name: str, tensor: KerasTensor, value):
    """`value` as a tensor for the Input `tensor`: float inputs as float32, integer inputs as int64
    (ids), the per-sample shape checked where the Input fixed it."""
    if isinstance(value, KerasTensor):
        return value
    if tensor.dtype.kind == "f":
        arr = value if (type(value) is Tensor and value.dtype == np.float32) else wrap(
            as_float32(value, f"input {tensor.name!r} of model {model_name!r}"))
    else:
        raw = np.asarray(value)
        if raw.dtype.kind == "f" and raw.size and (raw != np.round(raw)).any():
            raise ValueError(f"input {tensor.name!r} of model {model_name!r} takes integers ({tensor.dtype}), "
                             "got non-integer values")
        if raw.dtype.kind not in "biuf":
            raise TypeError(f"input {tensor.name!r} of model {model_name!r} must be numeric, got dtype {raw.dtype}")
        arr = value if (type(value) is Tensor and value.dtype == tensor.dtype) else wrap(raw.astype(tensor.dtype))
    want = tuple(tensor.shape)
    got = given = tuple(arr.shape)
    # as Keras 3: a missing (or extra) trailing axis of size 1 is added (or dropped)
    if len(got) == len(want) - 1 and want[-1] == 1:
        arr, got = array_ops.expand_dims(arr, -1), got + (1,)
    elif len(got) == len(want) + 1 and got[-1] == 1:
        arr, got = array_ops.squeeze(arr, -1), got[:-1]
    if len(got) != len(want) or any(w is not None and w != g for w, g in zip(want, got)):
        raise ValueError(f"input {tensor.name!r} of model {model_name!r} must have shape {want}, got {given}")
    return arr


def Input(shape=None, batch_size=None, name=None, dtype=None, batch_shape=None, sparse=None, tensor=None,
          optional=False):
    """`keras.Input`: a symbolic tensor to build a functional model from (or to put first in a
    Sequential). `shape` is the per-sample shape; None marks a dimension of any size."""
    if sparse:
        raise ValueError("Input: sparse inputs are not supported")
    if shape is None and batch_shape is None:
        raise ValueError("Input needs shape= (the per-sample shape, without the batch axis)")
    if batch_shape is not None:
        if not isinstance(batch_shape, (list, tuple)) or len(batch_shape) < 1:
            raise ValueError(f"batch_shape must list the batch axis and the sample axes, got {batch_shape!r}")
        full = tuple(batch_shape)
    else:
        if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
            shape = (int(shape),)
        if not isinstance(shape, (tuple, list)):
            raise TypeError(f"Input shape must be a tuple of ints (None for any size), got {shape!r}")
        full = (batch_size,) + tuple(shape)
    for d in full:
        if d is not None and (isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d <= 0):
            raise ValueError(f"Input shape must hold positive ints or None, got {tuple(full[1:])!r}")
    from ...ops.dtypes import as_dtype
    dt = as_dtype("float32" if dtype is None else dtype)
    layer = InputLayer(batch_shape=full, name=name, dtype=dt.name)
    t = KerasTensor(full, dt, None, name=layer.name)
    t._input_layer = layer
    layer.__dict__["_symbolic_io"] = (t, t)
    return t
