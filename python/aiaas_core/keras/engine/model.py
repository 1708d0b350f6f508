"""`Model`: the Keras model API over layers (tracking, weights, compile/fit/evaluate/predict, saving).

A subclassed model defines `__init__` (creating layers as attributes) and `call(self, x)`; in
training, the built-in layers it calls record themselves on a tape and the backward pass replays
them in reverse. `Sequential` (engine/sequential.py) runs its layers as a plain chain instead.
"""

from __future__ import annotations

import numpy as np

from ..._arrays import as_float32
from .. import backend
from .. import losses as losses_mod
from .. import metrics as metrics_mod
from .. import optimizers as optimizers_mod
from ..layers.base import Layer


class Model(Layer):
    """Subclass it: create layers in `__init__`, use them in `call(self, x)`."""

    def __init__(self, *args, **kwargs):
        if args or "inputs" in kwargs or "outputs" in kwargs:
            raise NotImplementedError(
                "the functional API Model(inputs, outputs) is not supported: subclass keras.Model "
                "(define call) or use keras.Sequential"
            )
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
        d.setdefault("compiled_metrics", [])
        d.setdefault("_metric_specs", [])
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
        self(probe, training=False)

    def _check_input_shape(self, x: np.ndarray, what: str = "input") -> None:
        want = self._build_input_shape
        if want is not None and x.shape[1:] != tuple(want[1:]):
            raise ValueError(
                f"model {self.name!r} expects {what} of shape {tuple(want)}, got {x.shape}"
            )

    def __call__(self, inputs, training: bool | None = None, **kwargs):
        x = inputs
        if not (type(x) is np.ndarray and x.dtype == np.float32 and x.flags.c_contiguous):
            x = as_float32(x, f"input of model {self.name!r}")
        if training is None:
            training = backend.state.training
        if self.built:
            self._check_input_shape(x)
            return self._call_composite(x, training, kwargs)
        if x.ndim < 2:
            raise ValueError(f"model {self.name!r} takes a batch: the first axis counts samples, got shape {x.shape}")
        out = self._first_call(x, training, kwargs)
        self._build_input_shape = (None,) + x.shape[1:]
        self.built = True
        return out

    def _first_call(self, x, training, kwargs):
        return self._call_composite(x, training, kwargs)

    def call(self, inputs, training: bool = False):
        raise NotImplementedError(f"{type(self).__name__} must define call(self, x)")

    def compute_output_shape(self, input_shape):
        if self._output_shape is not None and self._build_input_shape == (None,) + tuple(input_shape)[1:]:
            return self._output_shape
        return super().compute_output_shape(input_shape)

    def get_weights(self) -> list[np.ndarray]:
        return [w.numpy() for w in self.weights]

    # ---- compile ---------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1, jit_compile="auto",
                auto_scale_loss=True) -> None:
        """Set the optimizer, loss and metrics (names or objects, Keras semantics)."""
        self._check_initialized()
        if loss_weights is not None or weighted_metrics is not None:
            raise ValueError("compile: loss_weights and weighted_metrics are not supported")
        opt = optimizers_mod.get(optimizer)
        if loss is None:
            raise ValueError(f"compile needs a loss; known losses: {', '.join(losses_mod.KNOWN)}")
        loss_obj = losses_mod.get(loss)
        if metrics is None:
            metrics = []
        if isinstance(metrics, (str, metrics_mod.Metric)):
            metrics = [metrics]
        if not isinstance(metrics, (list, tuple)):
            raise TypeError(f"metrics must be a list of names or Metric objects, got {type(metrics).__name__}")
        metrics = [metrics_mod.normalize(m) for m in metrics]
        self.optimizer = opt
        self.loss = loss_obj
        self._metric_specs = list(metrics)
        self.compiled_metrics = []
        self._compile_config = {
            "optimizer": optimizers_mod.serialize(opt),
            "loss": loss if isinstance(loss, str) else losses_mod.serialize(loss_obj),
            "metrics": [metrics_mod.serialize(m) for m in metrics],
        }

    @property
    def compiled(self) -> bool:
        return self.optimizer is not None and self.loss is not None

    @property
    def metrics_names(self) -> list[str]:
        return ["loss"] + [m.name for m in self.compiled_metrics]

    # ---- training API (engine/training.py) ---------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0, **kwargs):
        """Train; returns a `History` (`history.history`: loss, metrics, val_* per epoch)."""
        from .training import fit
        return fit(self, x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, callbacks=callbacks,
                   validation_split=validation_split, validation_data=validation_data, shuffle=shuffle,
                   initial_epoch=initial_epoch, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict=False, **kwargs):
        """Loss (scalar) if no metrics were compiled, else [loss, *metrics] (dict with return_dict)."""
        from .training import evaluate
        return evaluate(self, x, y, batch_size=batch_size, verbose=verbose, return_dict=return_dict, **kwargs)

    def predict(self, x, batch_size=None, verbose="auto", **kwargs) -> np.ndarray:
        """Outputs for `x` (first axis = samples), computed in batches, inference mode."""
        from .training import predict
        return predict(self, x, batch_size=batch_size, verbose=verbose, **kwargs)

    def train_on_batch(self, x, y, return_dict=False):
        from .training import train_on_batch
        return train_on_batch(self, x, y, return_dict=return_dict)

    def test_on_batch(self, x, y, return_dict=False):
        from .training import test_on_batch
        return test_on_batch(self, x, y, return_dict=return_dict)

    def predict_on_batch(self, x) -> np.ndarray:
        from .training import predict
        x = np.asarray(x)
        return predict(self, x, batch_size=max(1, len(x)), verbose=0)

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
