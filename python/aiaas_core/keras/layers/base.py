"""The Layer contract: build(input_shape) / call(x, training) / get_config() / from_config().

Built-in layers implement `forward(x, training) -> (y, ctx)` and `backward(ctx, dy, need_dx) ->
(dx, grads)` (grads aligned with `trainable_weights`); `__call__` records (layer, ctx, x, y) on the
active tape during training so a model's backward pass can replay the calls in reverse.
A user layer that overrides `call` instead is a composition: the layers it calls record themselves.
"""

from __future__ import annotations

import inspect
import math
import re
from typing import Any

import numpy as np

from ..._arrays import as_float32
from ...ops import autodiff
from ...ops.tensor import Tensor, wrap
from .. import backend
from ...ops import symbolic
from ..variables import Variable

_MISSING = object()  # `inputs` not given positionally

# Keys any layer config may hold; regularizers/constraints only as None (not supported).
_BASE_KEYS = {"name", "trainable", "dtype", "input_shape", "batch_input_shape", "batch_size"}
_NONE_ONLY_KEYS = {
    "kernel_regularizer", "bias_regularizer", "activity_regularizer", "recurrent_regularizer",
    "kernel_constraint", "bias_constraint", "recurrent_constraint", "beta_regularizer",
    "gamma_regularizer", "beta_constraint", "gamma_constraint", "embeddings_regularizer",
    "embeddings_constraint",
}


def _snake(name: str) -> str:
    """Keras's to_snake_case: SimpleRNN -> simple_rnn, MaxPooling2D -> max_pooling2d, ConvNet -> conv_net."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


unique_name = backend.unique_name


def shape_tuple(shape, what: str) -> tuple[int | None, ...]:
    """A per-sample shape (no batch axis) as a tuple of positive ints, None for a dimension of any
    size (a variable-length sequence), as keras.Input takes it."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"{what} must be a tuple of positive ints (None for any size), got {shape!r}")
    out = []
    for d in shape:
        if d is not None and (isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d <= 0):
            raise ValueError(f"{what} must be a tuple of positive ints (None for any size), got {tuple(shape)!r}")
        out.append(None if d is None else int(d))
    return tuple(out)


def check_positive_int(value, what: str) -> int:
    if hasattr(value, "shape") and hasattr(value, "dtype") and tuple(value.shape) == () \
            and np.dtype(value.dtype).kind in "iu":
        value = int(np.asarray(value))  # a 0-d integer array or tensor (tf.reduce_prod(shape).numpy())
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return int(value)


def pair(value, what: str) -> tuple[int, int]:
    """Keras accepts an int or a pair for kernel sizes and strides."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{what} must be an int or a pair of ints, got {value!r}")
    return (check_positive_int(value[0], what), check_positive_int(value[1], what))


class Layer:
    """Base class of every layer (and of Model)."""

    def __init__(self, name: str | None = None, trainable: bool = True, dtype=None,
                 input_shape=None, batch_input_shape=None, batch_size=None, **kwargs):
        unsupported = sorted(k for k, v in kwargs.items() if k in _NONE_ONLY_KEYS and v is not None)
        if unsupported:  # Keras arguments this implementation does not have: say so, not "unexpected"
            raise ValueError(
                f"{type(self).__name__}: {', '.join(unsupported)} not supported (regularizers and constraints are "
                "not implemented; leave them None)"
            )
        kwargs = {k: v for k, v in kwargs.items() if k not in _NONE_ONLY_KEYS}
        if kwargs:
            raise TypeError(
                f"{type(self).__name__}: unexpected argument(s) {', '.join(sorted(kwargs))}"
            )
        if dtype not in (None, "float32", np.float32) and not isinstance(dtype, dict):
            raise ValueError(f"{type(self).__name__}: only dtype 'float32' is supported, got {dtype!r}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"layer name must be a str, got {type(name).__name__}")
        self.name = name or unique_name(_snake(type(self).__name__))
        self._auto_named = name is None  # a generated name may be replaced if it clashes in a model
        self.trainable = bool(trainable)
        self.built = False
        self._weights: list[Variable] = []
        self._losses: list = []
        self._build_input_shape: tuple | None = None  # with the batch axis (None)
        self._batch_input_shape: tuple | None = None
        if batch_input_shape is not None:
            self._batch_input_shape = (None,) + shape_tuple(tuple(batch_input_shape)[1:], "batch_input_shape")
        elif input_shape is not None:
            self._batch_input_shape = (None,) + shape_tuple(input_shape, "input_shape")

    # ---- weights -----------------------------------------------------------------------------
    def add_weight(self, *args, shape=None, initializer=None, dtype=None, trainable: bool = True,
                   name: str | None = None, regularizer=None, constraint=None, **kwargs) -> Variable:
        """Create a weight. Keras 3 order `add_weight(shape, initializer, dtype, trainable, ...,
        name)`; Keras 2's `add_weight(name, shape, ...)` (a str first) is accepted too. The
        initializer defaults to glorot_uniform for floats, as in Keras."""
        from .. import initializers
        if args and isinstance(args[0], str):  # Keras 2: name first
            name, args = args[0], args[1:]
        names = ("shape", "initializer", "dtype", "trainable")
        for key, value in zip(names, args):
            if key == "shape":
                shape = value
            elif key == "initializer":
                initializer = value
            elif key == "dtype":
                dtype = value
            else:
                trainable = value
        if len(args) > len(names):
            raise TypeError(f"add_weight takes at most {len(names)} positional arguments after the name")
        kwargs.pop("autocast", None), kwargs.pop("aggregation", None), kwargs.pop("synchronization", None)
        kwargs.pop("use_resource", None), kwargs.pop("partitioner", None)
        if kwargs:
            raise TypeError(f"add_weight: unexpected argument(s) {', '.join(sorted(kwargs))}")
        if regularizer is not None or constraint is not None:
            raise ValueError(f"{self.name}: add_weight regularizer/constraint are not supported (leave them None)")
        shape = () if shape is None else tuple(int(d) for d in shape)
        if any(d < 0 for d in shape):
            raise ValueError(f"{self.name}: add_weight shape must hold non-negative sizes, got {shape}")
        if callable(initializer) and not isinstance(initializer, initializers.Initializer):
            init = initializer  # a function or an object with __call__(shape, dtype)
        else:
            init = initializers.get("glorot_uniform" if initializer is None else initializer)
        try:
            value = init(shape)
        except TypeError:
            value = init(shape, dtype)
        var = Variable(value, name or f"variable_{len(self._weights)}", bool(trainable),
                       None if dtype in (None, "float32") else dtype)
        var._owner_name = self.name  # named in errors about untracked layers
        self._weights.append(var)
        structure_changed()
        return var

    def _check_initialized(self, name: str = "name") -> None:
        """AttributeError naming the cause when a subclass's __init__ skipped Layer.__init__."""
        if "_weights" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__} has no attribute {name!r}: its __init__ did not call super().__init__() "
                "(a Keras layer or model must call it before anything else)"
            )

    def __getattr__(self, name: str):
        # Reached only when the normal lookup fails.
        if not name.startswith("__"):
            self._check_initialized(name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ---- sublayers ---------------------------------------------------------------------------
    # Keras tracks the layers a layer (or model) holds as attributes, directly or in a list, tuple or
    # dict: their weights are this layer's weights, trained, counted and saved with it.
    # Attributes of the framework itself that hold layers but are not children by attribute path:
    _UNTRACKED = frozenset({"_layers", "_input_layer", "_tracked"})

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._UNTRACKED and not name.startswith("__"):
            tracked = self.__dict__.get("_tracked")
            if _holds_layers(value):
                if tracked is None:
                    tracked = self.__dict__["_tracked"] = {}
                tracked[name] = value
                structure_changed()
            elif tracked is not None and name in tracked:
                tracked.pop(name, None)
                structure_changed()
            elif name == "trainable":
                structure_changed()
            if isinstance(value, Variable) or (isinstance(value, (list, tuple)) and value
                                               and all(isinstance(v, Variable) for v in value)):
                self._track_variables(name, value)
        object.__setattr__(self, name, value)

    def _track_variables(self, name: str, value) -> None:
        """Keras tracks the variables a layer holds as attributes (`self.w = keras.Variable(...)`, or
        a list of them) like those add_weight made: they are its weights, trained and saved."""
        weights = self.__dict__.get("_weights")
        if weights is None:
            return  # before Layer.__init__: _check_initialized names that mistake on first use
        new = [value] if isinstance(value, Variable) else list(value)
        old = self.__dict__.get(name)
        old = [old] if isinstance(old, Variable) else list(old) if isinstance(old, (list, tuple)) else []
        ids = {id(w) for w in weights}
        new_ids = {id(v) for v in new}
        for v in old:  # an attribute rebound: the variables it held are no longer this layer's
            if id(v) in ids and id(v) not in new_ids:
                weights.remove(v)
        for v in new:
            if id(v) not in ids:
                weights.append(v)
        structure_changed()

    def _children(self) -> list[tuple[str, "Layer"]]:
        """(attribute path, layer) of the direct sublayers, in definition order."""
        out = []
        for name, value in self.__dict__.get("_tracked", {}).items():
            if isinstance(value, Layer):
                out.append((name, value))
            elif isinstance(value, dict):
                out.extend((f"{name}.{key}", v) for key, v in value.items())
            else:
                out.extend((f"{name}.{i}", v) for i, v in enumerate(value))
        return out

    def _sublayers(self) -> list["Layer"]:
        """The direct sublayers, each once."""
        seen, out = set(), []
        for _, layer in self._children():
            if id(layer) not in seen:
                seen.add(id(layer))
                out.append(layer)
        return out

    def _walk_cached(self, trainable_only: bool = False) -> list[tuple[str, "Layer"]]:
        """`_walk()` (or the walk that stops at frozen layers), remembered until any layer's
        structure changes: a training step asks for weights and losses every batch."""
        key = "_walk_trainable" if trainable_only else "_walk_all"
        cached = self.__dict__.get(key)
        if cached is not None and cached[0] == _STRUCTURE[0]:
            return cached[1]
        walk = self._walk(follow=(lambda layer: layer.trainable) if trainable_only else (lambda layer: True))
        self.__dict__[key] = (_STRUCTURE[0], walk)
        return walk

    def _walk(self, follow=lambda layer: True) -> list[tuple[str, "Layer"]]:
        """(attribute path, layer) of this layer ("") and every layer below it, depth first in
        definition order, each layer once: a layer that holds its parent (or itself) is not walked
        into again. `follow(layer)` False skips a layer and everything below it."""
        seen, out = set(), []

        def visit(path: str, layer: "Layer") -> None:
            if id(layer) in seen or not follow(layer):
                return
            seen.add(id(layer))
            out.append((path, layer))
            for name, child in layer._children():
                visit(f"{path}.{name}" if path else name, child)

        visit("", self)
        return out

    def _leaf_layers(self) -> list["Layer"]:
        """Every layer below this one that holds no sublayers (the ones that run kernels), each once."""
        return [layer for path, layer in self._walk_cached() if path and not layer._children()]

    def named_weights(self) -> list[tuple[str, Variable]]:
        """(stable name, variable): own weights by name ("kernel"), a sublayer's by attribute path
        ("conv1.kernel", "heads.0.bias"; "layers.0.kernel" in a Sequential)."""
        return self._unique_weights(self._walk_cached(), trainable_only=False)

    @property
    def weights(self) -> list[Variable]:
        if "_tracked" not in self.__dict__:
            return list(self._weights)
        return [v for _, v in self.named_weights()]

    @property
    def trainable_weights(self) -> list[Variable]:
        # A frozen layer freezes everything below it, as in Keras.
        layers = self._walk_cached(trainable_only=True)
        return [v for _, v in self._unique_weights(layers, trainable_only=True)]

    @staticmethod
    def _unique_weights(layers: list[tuple[str, "Layer"]], trainable_only: bool) -> list[tuple[str, Variable]]:
        """The weights of `layers` in order, each variable once, named by its layer's path."""
        seen, out = set(), []
        for path, layer in layers:
            for w in layer._weights:
                if id(w) not in seen and (w.trainable or not trainable_only):
                    seen.add(id(w))
                    out.append((f"{path}.{w.name}" if path else w.name, w))
        return out

    # ---- added losses (Keras's add_loss: activity regularization, a VAE's KL term) -----------------
    def add_loss(self, loss) -> None:
        """Add a scalar loss computed in call(); the model adds it to its compiled loss in training.
        Losses of the previous call are cleared when the outermost layer is called again."""
        self.__dict__.setdefault("_losses", []).append(loss)

    @property
    def losses(self) -> list:
        out = []
        for _, layer in self._walk_cached():
            out.extend(layer.__dict__.get("_losses", ()))
            if layer.__dict__.get("_weight_regularizers"):
                out.extend(layer._weight_penalties())
        return out

    # ---- regularizers and constraints (Dense, Conv2D: the layers that take these arguments) ---------
    # Keras 3 computes weight penalties when `losses` is read (under the training step's tape, so
    # they are differentiated), adds an activity penalty per call, and projects constrained weights
    # after each optimizer update.
    _REGULARIZER_KEYS: frozenset = frozenset()

    def _init_regularizers(self, kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                           kernel_constraint=None, bias_constraint=None) -> None:
        from .. import constraints, regularizers
        for arg, value, module in (("kernel_regularizer", kernel_regularizer, regularizers),
                                   ("bias_regularizer", bias_regularizer, regularizers),
                                   ("activity_regularizer", activity_regularizer, regularizers),
                                   ("kernel_constraint", kernel_constraint, constraints),
                                   ("bias_constraint", bias_constraint, constraints)):
            try:
                setattr(self, arg, module.get(value))
            except (TypeError, ValueError) as exc:  # name the argument, as every layer error does
                raise type(exc)(f"{type(self).__name__}: {arg}: {exc}") from None
        self._weight_regularizers = [(attr, reg) for attr, reg in (("kernel", self.kernel_regularizer),
                                                                   ("bias", self.bias_regularizer)) if reg is not None]

    @property
    def _regularized(self) -> bool:
        """Whether training must go through the tape for this layer's penalties (no fused step)."""
        return bool(self.__dict__.get("_weight_regularizers")) or self.__dict__.get("activity_regularizer") is not None

    def _weight_penalties(self) -> list:
        if not self.trainable:
            return []
        out = []
        for attr, reg in self._weight_regularizers:
            var = getattr(self, attr, None)
            if var is not None and var.trainable:
                out.append(reg(var))
        return out

    def _attach_constraints(self) -> None:
        """Register the constrained weights' arrays with the optimizers (call at the end of build)."""
        from .. import constraints
        for attr in ("kernel", "bias"):
            c, var = self.__dict__.get(f"{attr}_constraint"), getattr(self, attr, None)
            if c is not None and var is not None:
                constraints.attach(var.value, c)

    def _regularizer_config(self) -> dict:
        """The set arguments only (a config without them stays what it was before they existed)."""
        from .. import constraints, regularizers
        out = {}
        for key in ("kernel_regularizer", "bias_regularizer", "activity_regularizer"):
            if self.__dict__.get(key) is not None:
                out[key] = regularizers.serialize(self.__dict__[key])
        for key in ("kernel_constraint", "bias_constraint"):
            if self.__dict__.get(key) is not None:
                out[key] = constraints.serialize(self.__dict__[key])
        return out

    def _clear_losses(self) -> None:
        for _, layer in self._walk_cached():
            if layer.__dict__.get("_losses"):
                layer._losses = []

    @property
    def non_trainable_weights(self) -> list[Variable]:
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    @property
    def variables(self) -> list[Variable]:
        return self.weights

    # ---- the functional graph: the symbolic tensors of this layer's first call on keras.Input ones --
    def _symbolic(self, which: int, what: str):
        io = self.__dict__.get("_symbolic_io")
        if io is None:
            raise ValueError(f"layer {self.name!r} has never been called on symbolic tensors (keras.Input or "
                             f"what was computed from one), so it has no {what}")
        return io[which]

    @property
    def input(self):
        return self._symbolic(0, "input")

    @property
    def output(self):
        return self._symbolic(1, "output")

    @property
    def trainable_variables(self) -> list[Variable]:
        return self.trainable_weights

    @property
    def non_trainable_variables(self) -> list[Variable]:
        return self.non_trainable_weights

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights, Keras order and shapes."""
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Set every weight; the list must match `get_weights()` in count and shapes."""
        own = self.weights
        if not isinstance(weights, (list, tuple)):
            raise TypeError(f"set_weights takes a list of arrays, got {type(weights).__name__}")
        if len(weights) != len(own):
            raise ValueError(
                f"{self.name}: set_weights got {len(weights)} array(s), expected {len(own)} "
                f"(shapes {[w.shape for w in own]})"
            )
        arrays = []
        for i, (var, new) in enumerate(zip(own, weights)):
            arr = np.asarray(new)
            if arr.shape != var.shape:
                raise ValueError(
                    f"{self.name}: weight {i} ({var.name}) must have shape {var.shape}, got {arr.shape}"
                )
            arrays.append(as_float32(arr, f"weight {i} ({var.name})", finite=True))
        for var, arr in zip(own, arrays):
            np.copyto(var.value, arr)

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(
                f"layer {self.name!r} is not built yet: call it on data or build(input_shape) first"
            )
        return int(sum(w.value.size for w in self.weights))

    # ---- build / call ------------------------------------------------------------------------
    def build(self, input_shape) -> None:
        """Create weights for inputs of `input_shape` (batch axis included, may be None)."""
        self.built = True

    build._standard = True  # a build the framework calls itself (not a user's)

    def _build_once(self, input_shape) -> None:
        if isinstance(input_shape, list) or (isinstance(input_shape, tuple) and input_shape
                                             and isinstance(input_shape[0], (tuple, list))):
            input_shape = [(None,) + tuple(s)[1:] for s in input_shape]  # several inputs: one shape each
            self.build(input_shape)
            self.built = True
            self._build_input_shape = input_shape
            return
        input_shape = (None,) + tuple(input_shape)[1:]
        self.build(input_shape)
        self.built = True
        self._build_input_shape = input_shape

    def forward(self, x: np.ndarray, training: bool):
        """(y, ctx) for built-in layers; ctx is what `backward` needs."""
        raise NotImplementedError

    def backward(self, ctx, dy: np.ndarray, need_dx: bool = True):
        """(dx, [grad per trainable weight])."""
        raise NotImplementedError(f"layer {self.name!r} ({type(self).__name__}) has no backward pass")

    def call(self, inputs, training: bool = False):
        return self.forward(inputs, training)[0]

    def _prepare_input(self, x) -> np.ndarray:
        return as_float32(x, f"input of layer {self.name!r}", finite=False)

    def __call__(self, inputs=_MISSING, *args, training: bool | None = None, **kwargs):
        if inputs is _MISSING:
            inputs = inputs_from_kwargs(self, kwargs)
        if symbolic.is_symbolic(inputs):  # functional API: record the call, compute shapes only
            return symbolic.call_layer(self, inputs, args, dict(kwargs, training=training))
        st = backend.state
        if training is None:
            training = st.training
        if type(self).forward is not Layer.forward and type(self).call is Layer.call:
            return self._call_kernel(inputs, training)
        return self._call_composite(inputs, training, args, kwargs)

    def _call_kernel(self, inputs, training):
        """A built-in layer: its fused Rust forward; recorded as one autodiff node whose backward
        is the fused Rust backward."""
        x = inputs
        if not (type(x) is np.ndarray and x.dtype == np.float32 and x.flags.c_contiguous):
            x = self._prepare_input(x)
        if not self.built:
            self._check_input_rank(x.shape)
            self._build_once(x.shape)
        y, ctx = self.forward(x, training)
        out = wrap(y)
        activity = self.__dict__.get("activity_regularizer")
        if activity is not None:
            if backend.state.call_depth == 0:  # called on its own: the previous call's penalty goes
                self._losses = []
        if autodiff.recording():
            weights = [w for w in self._weights if w.trainable] if self.trainable else []
            need_dx = autodiff.is_tracked(inputs)
            if need_dx or weights:
                def backward(g, ctx=ctx, need_dx=need_dx, wrt_logits=False):
                    gv = np.ascontiguousarray(as_float32(g, "gradient"))
                    if wrt_logits:
                        dx, grads = self.backward(ctx, gv, need_dx, wrt_logits=True)
                    else:
                        dx, grads = self.backward(ctx, gv, need_dx)
                    return (dx if need_dx else None, *grads)
                autodiff.attach(out, (inputs, *weights), backward, type(self).__name__, layer=self, ctx=ctx)
        if activity is not None:  # after attach: the penalty's gradient flows through this layer's node
            self.add_loss(activity(out))
        if backend.state.call_log is not None:
            backend.state.call_log.append((self, inputs, out))
        return out

    def _call_composite(self, inputs, training, args=(), kwargs=None):
        """A layer defined by `call` (a Model or a user layer): run it on tensors, so the layers
        and ops it uses record themselves."""
        kwargs = kwargs or {}
        x = to_layer_inputs(inputs, self.name)
        if not self.built and not getattr(type(self).build, "_standard", False):
            self._build_once(_shapes_of(x))  # a user layer's own build(input_shape)
        st = backend.state
        if st.call_depth == 0:
            self._clear_losses()
        saved = st.training
        st.training = bool(training)
        st.call_depth += 1
        try:
            if _takes_training(type(self)):
                out = self.call(x, *args, training=training, **kwargs)
            else:
                out = self.call(x, *args, **kwargs)
        finally:
            st.training = saved
            st.call_depth -= 1
        self.built = True
        log = backend.state.call_log
        if log is not None and hasattr(out, "shape"):
            log.append((self, x, out))
        return out

    @classmethod
    def runs_a_kernel(cls) -> bool:
        """Whether calling this layer runs its own `forward` (a built-in layer), rather than a `call`
        composed of other layers (a Model or a user layer)."""
        return cls.forward is not Layer.forward and cls.call is Layer.call

    def _check_input_rank(self, shape) -> None:
        """Hook: raise ValueError if this layer cannot take inputs of `shape` (batch included)."""

    def params_for(self, input_shape) -> int:
        """How many weights `build(input_shape)` would create (checked before allocating)."""
        return 0

    def compute_output_shape(self, input_shape) -> tuple:
        """Output shape (batch axis None) for `input_shape`; the default runs a 1-sample forward."""
        probe = np.zeros((1,) + tuple(input_shape)[1:], np.float32)
        with autodiff.no_recording():
            out = self(probe, training=False)
        return (None,) + tuple(out.shape[1:])

    # ---- config ------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable, "dtype": "float32"}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        """Rebuild a layer from `get_config()`; unknown or unsupported fields are a ValueError."""
        if not isinstance(config, dict):
            raise ValueError(f"{cls.__name__} config must be a dict, got {type(config).__name__}")
        allowed = set(_BASE_KEYS)
        for klass in cls.__mro__:  # a subclass passes **kwargs up: every __init__ in the chain counts
            if "__init__" in vars(klass) and klass is not object:
                allowed |= set(inspect.signature(klass.__init__).parameters)
        kwargs = {}
        for key, value in config.items():
            if key in _NONE_ONLY_KEYS and key not in cls._REGULARIZER_KEYS:
                if value is not None:
                    raise ValueError(f"{cls.__name__}: field {key!r} is not supported (must be null)")
                continue
            if key not in allowed or key in ("self", "kwargs"):
                raise ValueError(
                    f"{cls.__name__}: unknown field {key!r}; accepted fields: {', '.join(sorted(allowed - {'self', 'kwargs'}))}"
                )
            kwargs[key] = value
        return cls(**kwargs)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def to_layer_inputs(inputs, name: str):
    """What a layer's `call` receives: float arrays as float32 tensors (Keras casts inputs to the
    layer's dtype), integer arrays as int tensors, tensors as they are (their graph kept), lists,
    tuples and dicts item by item."""
    if isinstance(inputs, Tensor):
        if inputs.dtype == np.float32 or inputs.dtype.kind in "biu":
            return inputs
        from ...ops.math_ops import cast
        return cast(inputs, np.float32)
    if isinstance(inputs, Variable):
        return inputs
    if isinstance(inputs, (list, tuple)):
        if inputs and not any(isinstance(v, (list, tuple, dict, np.ndarray, Variable)) or hasattr(v, "__array__")
                              for v in inputs):
            return wrap(as_float32(inputs, f"input of layer {name!r}"))  # a nested list of numbers
        return type(inputs)(to_layer_inputs(v, name) for v in inputs) if type(inputs) in (list, tuple) \
            else [to_layer_inputs(v, name) for v in inputs]
    if isinstance(inputs, dict):
        return {k: to_layer_inputs(v, name) for k, v in inputs.items()}
    if inputs is None:
        return None
    arr = np.asarray(inputs)
    if arr.dtype.kind in "iub":
        return wrap(arr)
    return wrap(as_float32(arr, f"input of layer {name!r}"))


def _shapes_of(x):
    if isinstance(x, (list, tuple)):
        return [tuple(np.shape(v)) for v in x]
    if isinstance(x, dict):
        return {k: tuple(np.shape(v)) for k, v in x.items()}
    return tuple(np.shape(x))


_STRUCTURE = [0]  # bumped whenever a layer gains or loses sublayers or weights, or is (un)frozen


def structure_changed() -> None:
    """Invalidate every cached layer walk (called by the framework on any structural change)."""
    _STRUCTURE[0] += 1


def structure_version() -> int:
    return _STRUCTURE[0]


def _holds_layers(value) -> bool:
    """A layer, or a non-empty list/tuple of layers, or a non-empty dict of str -> layer."""
    if isinstance(value, Layer):
        return True
    if isinstance(value, (list, tuple)):
        return bool(value) and all(isinstance(v, Layer) for v in value)
    if isinstance(value, dict):
        return bool(value) and all(isinstance(k, str) and isinstance(v, Layer) for k, v in value.items())
    return False


_TAKES_TRAINING: dict[type, bool] = {}


_FIRST_PARAM: dict[type, str | None] = {}


def inputs_from_kwargs(layer, kwargs: dict):
    """A layer called with its inputs as a keyword (`layer(logits=x, targets=t)`): as Keras, the
    first argument of `call` may be passed by its name; it is popped from `kwargs`."""
    cls = type(layer)
    if cls not in _FIRST_PARAM:
        params = [p for p in inspect.signature(cls.call).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        _FIRST_PARAM[cls] = params[1].name if len(params) > 1 else None
    name = _FIRST_PARAM[cls]
    if name is None or name not in kwargs:
        how = f"first or as {name}=" if name else "as the first argument"
        raise TypeError(f"layer {layer.name!r} was called without its inputs: pass them {how}")
    return kwargs.pop(name)


def _takes_training(cls: type) -> bool:
    """Whether `cls.call` accepts `training` (seed models define `call(self, x)` only)."""
    known = _TAKES_TRAINING.get(cls)
    if known is None:
        params = inspect.signature(cls.call).parameters
        known = "training" in params or any(p.kind == p.VAR_KEYWORD for p in params.values())
        _TAKES_TRAINING[cls] = known
    return known


class InputLayer(Layer):
    """What `keras.Input(shape)` makes: the per-sample input shape (None for any size) and dtype
    (float32, or an integer type for ids); first element of a Sequential or a functional graph."""

    def __init__(self, shape=None, batch_size=None, name=None, batch_shape=None,
                 input_shape=None, batch_input_shape=None, dtype=None, sparse=None, trainable=True, **kwargs):
        kwargs.pop("ragged", None), kwargs.pop("optional", None)
        if kwargs:
            raise TypeError(f"InputLayer: unexpected argument(s) {', '.join(sorted(kwargs))}")
        if shape is None and batch_shape is None and input_shape is None and batch_input_shape is None:
            raise ValueError("Input needs shape= (the per-sample shape, without the batch axis)")
        if shape is None:
            if batch_shape is not None or batch_input_shape is not None:
                full = batch_shape if batch_shape is not None else batch_input_shape
                if not isinstance(full, (list, tuple)) or len(full) < 2:
                    raise ValueError(f"batch_shape must list the batch axis and the sample axes, got {full!r}")
                shape = tuple(full)[1:]
            else:
                shape = input_shape
        if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
            shape = (int(shape),)
        if not isinstance(shape, (tuple, list)) or not shape:
            raise TypeError(f"Input shape must be a non-empty tuple of positive ints or None, got {shape!r}")
        for d in shape:
            if d is not None and (isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d <= 0):
                raise ValueError(f"Input shape must be a tuple of positive ints (None for any size), got {tuple(shape)!r}")
        from ...ops.dtypes import as_dtype
        dt = as_dtype("float32" if dtype is None or isinstance(dtype, dict) else dtype)
        super().__init__(name=name)
        self.input_dtype = dt.name
        self._batch_input_shape = (None,) + tuple(None if d is None else int(d) for d in shape)
        self.built = True
        self._build_input_shape = self._batch_input_shape

    @property
    def shape(self) -> tuple:
        return self._batch_input_shape

    def forward(self, x, training):
        return x, None

    def backward(self, ctx, dy, need_dx=True):
        return dy, []

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {"name": self.name, "batch_shape": list(self._batch_input_shape), "dtype": self.input_dtype}


def flat_size(shape) -> int:
    return int(math.prod(shape))


def claim_unique_name(layer: Layer, taken: set[str]) -> None:
    """Add `layer.name` to `taken` (the names in one Sequential). Keras requires unique names there:
    a name the user gave that is taken is a ValueError; a generated one (which can clash with names
    loaded from another process's file) is replaced by the next free generated name."""
    if layer.name in taken:
        if not getattr(layer, "_auto_named", False):
            raise ValueError(
                f"All layers added to a Sequential model should have unique names: {layer.name!r} is already "
                "the name of a layer in this model; pass another name="
            )
        base = _snake(type(layer).__name__)
        while layer.name in taken:
            layer.name = unique_name(base)
    taken.add(layer.name)
