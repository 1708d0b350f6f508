"""`Model`: the Keras model API over layers (tracking, weights, compile/fit/evaluate/predict, saving).

A subclassed model defines `__init__` (creating layers as attributes) and `call(self, x)`; in
training, the built-in layers it calls record themselves on a tape and the backward pass replays
them in reverse. `Sequential` (engine/sequential.py) runs its layers as a plain chain instead.
"""

from __future__ import annotations

import numpy as np

from ..._arrays import as_float32
from ...ops.tensor import Tensor, wrap
from .. import backend
from ..layers.base import _MISSING, Layer, inputs_from_kwargs
from .trainer import Trainer


def _inject_functional(cls: type, functional: type) -> type:
    """`cls` with Model replaced by `functional` wherever it appears among its (user-defined) bases."""
    if cls is Model:
        return functional
    if cls is object or not issubclass(cls, Model) or issubclass(cls, functional):
        return cls
    cls.__bases__ = tuple(_inject_functional(base, functional) for base in cls.__bases__)
    return cls


class Model(Trainer, Layer):
    """Subclass it (layers in `__init__`, `call(self, x)`), or build a graph: `Model(inputs,
    outputs)` returns a functional model (engine/functional.py)."""

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            from .functional import Functional
            return Functional.__new__(Functional)
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        if args or "inputs" in kwargs or "outputs" in kwargs:
            from .functional import Functional
            if not isinstance(self, Functional):
                # Keras 3: a Model subclass built from (inputs, outputs) is a functional model with the
                # subclass's overrides (its train_step, its metrics): Functional takes Model's place
                # among the subclass's bases.
                _inject_functional(type(self), Functional)
            Functional.__init__(self, *args, **kwargs)
            return
        super().__init__(name=kwargs.pop("name", None), trainable=kwargs.pop("trainable", True),
                         dtype=kwargs.pop("dtype", None))
        if kwargs:
            raise TypeError(f"Model: unexpected argument(s) {', '.join(sorted(kwargs))}")
        self._init_model_state()

    def _init_model_state(self) -> None:
        d = self.__dict__
        d.setdefault("_tracked", {})
        d.setdefault("optimizer", None)
        d.setdefault("loss", None)
        d.setdefault("compiled_loss", None)
        d.setdefault("compiled_metrics", [])
        d.setdefault("_metric_specs", [])
        d.setdefault("_loss_tracker", None)
        d.setdefault("_compile_config", None)
        d.setdefault("stop_training", False)
        d.setdefault("history", None)
        d.setdefault("preprocessing", None)
        d.setdefault("_output_shape", None)

    # ---- layers (tracking itself is Layer's: attributes, lists and dicts of layers) ------------
    @property
    def layers(self) -> list[Layer]:
        return self._sublayers()

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by name or index."""
        if index is not None:
            if not isinstance(index, int) or not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"layer index {index!r} out of range: the model has {len(self.layers)} layers")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named {name!r}; layers: {', '.join(l.name for l in self.layers)}")

    def count_params(self) -> int:
        self._require_built("count_params")
        return int(sum(w.value.size for w in self.weights))

    # ---- build / call ----------------------------------------------------------------------
    def _require_built(self, what: str) -> None:
        if not self.built:
            raise ValueError(
                f"{what}: model {self.name!r} is not built yet; fit it, call it on data, or call "
                "build(input_shape) first (or give the first layer an input_shape)"
            )

    def build(self, input_shape) -> None:
        """Build every layer by running `call` once on zeros of `input_shape` (batch axis included)."""
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) < 2:
            raise ValueError(f"build takes the input shape with its batch axis, e.g. (None, 28, 28, 1); got {input_shape!r}")
        probe = np.zeros((1,) + tuple(int(d) for d in input_shape[1:]), np.float32)
        from ...ops import autodiff
        with autodiff.no_recording():
            self(probe, training=False)

    build._standard = True

    def _check_input_shape(self, x: np.ndarray, what: str = "input") -> None:
        want = self._build_input_shape
        if want is not None and not isinstance(want, list) and (
                len(x.shape) != len(want) or any(w is not None and w != d for d, w in zip(x.shape[1:], want[1:]))):
            raise ValueError(
                f"model {self.name!r} expects {what} of shape {tuple(want)}, got {x.shape}"
            )

    def __call__(self, inputs=_MISSING, *args, training: bool | None = None, **kwargs):
        if inputs is _MISSING:
            inputs = inputs_from_kwargs(self, kwargs)
        from ...ops import symbolic
        if symbolic.is_symbolic(inputs):  # a model used as a layer in a functional graph
            return symbolic.call_layer(self, inputs, args, dict(kwargs, training=training))
        x = inputs
        if not (type(x) is Tensor and x.dtype == np.float32):
            if isinstance(x, (list, tuple, dict)) and not _is_nested_numbers(x):
                return self._call_structured(x, training, args, kwargs)
            x = wrap(as_float32(x, f"input of model {self.name!r}"))
        if training is None:
            training = backend.state.training
        if self.built:
            self._check_input_shape(x)
            return self._call_composite(x, training, args, kwargs)
        if x.ndim < 2 and self._needs_batch_axis:
            raise ValueError(f"model {self.name!r} takes a batch: the first axis counts samples, got shape {x.shape}")
        out = self._first_call(x, training, args, kwargs)
        # a subclassed model's call may take any rank, a scalar too (`w * x + b` on a vector of samples)
        self._build_input_shape = (None,) + tuple(x.shape[1:]) if x.ndim else ()
        self.built = True
        return out

    _needs_batch_axis = False  # a Sequential's layers do (Dense on a vector of samples is an error)

    def _call_structured(self, x, training, args, kwargs):
        """A subclassed model called on a list / tuple / dict of inputs: passed to call() as is."""
        if training is None:
            training = backend.state.training
        out = self._call_composite(x, training, args, kwargs)
        self.built = True
        return out

    def _first_call(self, x, training, args, kwargs):
        return self._call_composite(x, training, args, kwargs)

    def call(self, inputs, training: bool = False):
        raise NotImplementedError(f"{type(self).__name__} must define call(self, x)")

    call._undefined = True  # a model without call (a GAN driving its sub-models in train_step) is built as is

    def compute_output_shape(self, input_shape):
        if self._output_shape is not None and self._build_input_shape == (None,) + tuple(input_shape)[1:]:
            return self._output_shape
        return super().compute_output_shape(input_shape)

    def get_weights(self) -> list[np.ndarray]:
        return [w.numpy() for w in self.weights]

    def summary(self, line_length: int | None = None, positions=None, print_fn=None, **kwargs) -> None:
        """Print a Keras-like table: layer (type), output shape, params; totals."""
        from .summary import summary
        summary(self, line_length=line_length, print_fn=print_fn)

    # ---- saving (engine/saving.py) -----------------------------------------------------------
    def get_config(self) -> dict:
        raise NotImplementedError(
            f"{type(self).__name__} is a subclassed model: it has no config to save. Use "
            "model.save_weights(path) and rebuild the class in code (Keras requires get_config too)."
        )

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        """`keras.Model.from_config(functional_model.get_config())` rebuilds the functional model
        (Keras 3 routes it the same way); a subclass's config goes to its own constructor."""
        if cls is Model and isinstance(config, dict) and "input_layers" in config and "output_layers" in config:
            from .functional_config import functional_from_config
            return functional_from_config(config, custom_objects)
        if custom_objects is not None:
            raise ValueError(f"{cls.__name__}.from_config: custom_objects apply to functional model configs only")
        return super().from_config(config)

    def to_json(self, **kwargs) -> str:
        from .saving import model_to_json
        return model_to_json(self, **kwargs)

    def save(self, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
        """Write one zip file: config.json, model.weights.safetensors, optimizer.safetensors."""
        from .saving import save_model
        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        """Write the weights to one .safetensors file, named by attribute path."""
        from .saving import save_weights
        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath) -> None:
        """Load weights written by `save_weights` (names and shapes must match)."""
        from .saving import load_weights
        load_weights(self, filepath)


def _is_nested_numbers(x) -> bool:
    """A list/tuple of numbers or of such lists (one array written as lists), not several inputs."""
    if isinstance(x, dict):
        return False
    first = x[0] if len(x) else None
    while isinstance(first, (list, tuple)):
        first = first[0] if len(first) else None
    return first is None or isinstance(first, (int, float, np.number, bool))
