"""`Sequential`: a plain stack of layers, built as soon as its input shape is known."""

from __future__ import annotations

from ...ops.symbolic import KerasTensor
from .. import backend
from ..layers.base import InputLayer, Layer, claim_unique_name, structure_changed
from .functional import Input
from .model import Model


class Sequential(Model):
    """`Sequential([layers])` or `.add(layer)`; the first element may be `keras.Input(shape)`."""

    _needs_batch_axis = True

    def __init__(self, layers=None, name: str | None = None, trainable: bool = True):
        super().__init__(name=name, trainable=trainable)
        self._layers: list[Layer] = []
        self._input_layer: InputLayer | None = None
        if layers is not None:
            if not isinstance(layers, (list, tuple)):
                raise TypeError(f"Sequential takes a list of layers, got {type(layers).__name__}")
            for layer in layers:
                self.add(layer)

    @property
    def layers(self) -> list[Layer]:
        if self.built and self.__dict__.get("_graph", (None,))[0] != self._graph_key():
            try:  # so that `[layer.output for layer in model.layers]` works as in Keras 3
                self._symbolic_graph()
            except (ValueError, TypeError):
                pass  # not traceable: model.output names the reason
        return list(self._layers)

    # ---- the functional graph Keras 3 gives a Sequential whose input shape is known ----------------
    def _graph_key(self):
        return (self._build_input_shape, tuple(id(layer) for layer in self._layers))

    def _symbolic_graph(self):
        """(input tensor, output tensor): the layers called in order on a keras.Input (the one the
        Sequential was given, else one of its build shape), so layer.output / model.input exist."""
        key = self._graph_key()
        cached = self.__dict__.get("_graph")
        if cached is not None and cached[0] == key:
            return cached[1]
        if self._build_input_shape is None or not self._layers:
            raise ValueError(f"Sequential {self.name!r} has no input shape yet (start it with keras.Input(shape) or "
                             "build it), so it has no input/output tensors")
        io = self._input_layer.__dict__.get("_symbolic_io") if self._input_layer is not None else None
        x = io[0] if io is not None else Input(batch_shape=self._build_input_shape)
        h = x
        for layer in self._layers:
            h = layer(h)
        self.__dict__["_graph"] = (key, (x, h))
        return x, h

    @property
    def input(self):
        return self._symbolic_graph()[0]

    @property
    def output(self):
        return self._symbolic_graph()[1]

    @property
    def inputs(self) -> list:
        return [self.input]

    @property
    def outputs(self) -> list:
        return [self.output]

    def _children(self):
        return [(f"layers.{i}", layer) for i, layer in enumerate(self._layers)]

    @property
    def input_shape(self):
        return self._build_input_shape

    @property
    def output_shape(self):
        return self._output_shape

    def add(self, layer: Layer) -> None:
        """Append a layer; `keras.Input(shape)` is only accepted first."""
        if isinstance(layer, KerasTensor) and layer._input_layer is not None:
            layer = layer._input_layer  # keras.Input(...) first in a Sequential
        elif isinstance(layer, KerasTensor):
            raise TypeError("Sequential.add takes layers; a tensor computed from keras.Input belongs in a functional "
                            "model: keras.Model(inputs, outputs)")
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError("an Input can only be the first element of a Sequential")
            self._input_layer = layer
            self.build(layer.shape)
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add takes a keras layer, got {type(layer).__name__}")
        if any(layer is l for l in self._layers):
            raise ValueError(f"layer {layer.name!r} is already in this Sequential")
        claim_unique_name(layer, {l.name for l in self._layers})
        declared = None
        if not self._layers and self._input_layer is None:
            # The first layer's declared input shape; a built model (a feature extractor) has its own.
            declared = layer._batch_input_shape
            if declared is None and isinstance(layer, Model) and layer.built:
                declared = layer._build_input_shape
        self._layers.append(layer)
        structure_changed()
        if declared is not None:
            self.build(declared)
        elif self._build_input_shape is not None:
            self.build(self._build_input_shape)

    def pop(self) -> Layer:
        if not self._layers:
            raise ValueError("pop: the Sequential has no layers")
        layer = self._layers.pop()
        structure_changed()
        if self._build_input_shape is not None:
            self.build(self._build_input_shape)
        return layer

    def build(self, input_shape=None) -> None:
        """Build every layer in order from `input_shape` (batch axis included; may be None)."""
        if input_shape is None:
            input_shape = self._build_input_shape
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) < 2:
            raise ValueError(f"build takes the input shape with its batch axis, e.g. (None, 100); got {input_shape!r}")
        shape = (None,) + tuple(None if d is None else int(d) for d in input_shape[1:])  # None: any size
        self._build_input_shape = shape
        for i, layer in enumerate(self._layers):
            try:
                if not layer.built:
                    layer._check_input_rank((1,) + shape[1:])
                    layer._build_once(shape)
                shape = tuple(layer.compute_output_shape(shape))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"layer {i} ({type(layer).__name__} {layer.name!r}): {exc}") from None
        self._output_shape = shape
        self.built = bool(self._layers)

    build._standard = True

    def _first_call(self, x, training, args, kwargs):
        self.build((None,) + tuple(x.shape[1:]))
        return self._call_composite(x, training, args, kwargs)

    def call(self, inputs, training: bool = False):
        x = inputs
        for layer in self._layers:
            x = layer(x, training=training)
        return x

    def kernel_chain(self) -> list[Layer] | None:
        """The layers if every one runs a Rust forward/backward (fast training path), else None."""
        chain = []
        for layer in self._layers:
            if isinstance(layer, Model) or type(layer).forward is Layer.forward or type(layer).call is not Layer.call:
                return None
            chain.append(layer)
        return chain

    def params_for(self, input_shape) -> int:
        """A nested Sequential is built before its parent: its weights are already counted."""
        return self.count_params() if self.built else 0

    def get_config(self) -> dict:
        from .saving import sequential_config
        return sequential_config(self)

    @classmethod
    def from_config(cls, config: dict) -> "Sequential":
        from .saving import model_from_config
        return model_from_config({"class_name": "Sequential", "config": config})
