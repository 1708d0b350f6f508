"""Export an aiaas_core.keras model to ONNX (opset 17), read from the Keras contract only.

A Sequential exports its layers; a subclassed Model whose call() applies built-in layers one after
another (the seeds' ConvNet / RNN / Autoencoder) exports the chain its call() was observed to run; a
functional model exports its graph (several inputs and outputs, shared layers, nested models, and
the simple ops between layers listed in _FUNCTIONAL_OPS).

The exporter reads each layer's class name, `get_config()` and `get_weights()` (Keras order and
shapes), so it depends on nothing private. Our tensors are channels-last (NHWC) while ONNX Conv /
pooling are NCHW: the graph transposes to NCHW before a spatial layer and back to NHWC only when a
layer needs channels-last (Flatten, Dense, Reshape, the output), so a Conv/Pool stack pays for one
pair of Transposes. LSTM / GRU / SimpleRNN weights are converted to ONNX gate order and layout.

Supported layers: InputLayer, Dense, Activation (and ReLU, LeakyReLU, ELU, Softmax), Conv2D,
MaxPooling2D, AveragePooling2D, Flatten, Reshape, Dropout (identity at inference), BatchNormalization (moving statistics folded into a
per-channel scale and shift), Embedding (Gather), LSTM, GRU (reset_after), SimpleRNN. Anything else raises
NotImplementedError naming the layer.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

OPSET = 17
# Keras activation name -> ONNX op for a standalone activation node.
_SIMPLE_ACTIVATIONS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}
# Keras activation name -> ONNX name in the recurrent ops' `activations` attribute.
_RNN_ACTIVATIONS = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu"}
# Keras defaults for activation parameters, used when the layer does not carry `alpha`.
_DEFAULT_ALPHA = {"leaky_relu": 0.2, "elu": 1.0}


class _GraphBuilder:
    """Collects nodes and initializers; hands out unique tensor names."""

    def __init__(self):
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, array: np.ndarray, hint: str) -> str:
        name = self.name(hint)
        self.initializers.append(self.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], hint: str, n_out: int = 1, **attrs) -> list[str]:
        outputs = [self.name(f"{hint}_{op.lower()}") for _ in range(n_out)]
        self.nodes.append(self.helper.make_node(op, inputs, outputs, name=self.name(op), **attrs))
        return outputs

    def one(self, op: str, inputs: list[str], hint: str, **attrs) -> str:
        return self.node(op, inputs, hint, 1, **attrs)[0]


def _activation(g: _GraphBuilder, x: str, name: str, alpha: float | None, hint: str) -> str:
    """Append the Keras activation `name` to tensor x (softmax over the last axis, as Keras)."""
    if name in (None, "linear"):
        return x
    if name in _SIMPLE_ACTIVATIONS:
        return g.one(_SIMPLE_ACTIVATIONS[name], [x], hint)
    if name == "softmax":
        return g.one("Softmax", [x], hint, axis=-1)
    if name == "leaky_relu":
        return g.one("LeakyRelu", [x], hint, alpha=float(_DEFAULT_ALPHA[name] if alpha is None else alpha))
    if name == "elu":
        return g.one("Elu", [x], hint, alpha=float(_DEFAULT_ALPHA[name] if alpha is None else alpha))
    if name == "gelu":  # exact gelu (Keras approximate=False): 0.5 x (1 + erf(x / sqrt 2)); Gelu op is opset 20
        scaled = g.one("Mul", [x, g.const(np.array(1 / math.sqrt(2), np.float32), "inv_sqrt2")], hint)
        one_plus = g.one("Add", [g.one("Erf", [scaled], hint), g.const(np.array(1.0, np.float32), "one")], hint)
        half_x = g.one("Mul", [x, g.const(np.array(0.5, np.float32), "half")], hint)
        return g.one("Mul", [half_x, one_plus], hint)
    raise NotImplementedError(f"ONNX export: activation {name!r} is not supported")


def _same_pads(size: int, window: int, stride: int) -> tuple[int, int]:
    """TF/Keras 'same' padding: total pad split with the extra cell at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def _spatial_attrs(cfg: dict, window: tuple[int, int], shape_nhwc: tuple) -> dict:
    strides = tuple(int(s) for s in cfg.get("strides") or window)
    pads = [0, 0, 0, 0]
    if cfg.get("padding", "valid") == "same":
        top, bottom = _same_pads(shape_nhwc[1], window[0], strides[0])
        left, right = _same_pads(shape_nhwc[2], window[1], strides[1])
        pads = [top, left, bottom, right]  # ONNX: begins of each axis, then ends
    return {"kernel_shape": list(window), "strides": list(strides), "pads": pads}


def _out_len(size: int, window: int, stride: int, padding: str) -> int:
    if padding == "same":
        return -(-size // stride)
    return (size - window) // stride + 1


def _model_layers(model) -> list:
    """The layers to export: a Sequential's, or those a subclassed model's call() applies in a chain."""
    from .keras.engine.model import Model
    from .keras.engine.trace import layer_chain

    direct = list(getattr(model, "layers", [])) if type(model).__name__ == "Sequential" else None
    if direct is not None and all(type(layer).runs_a_kernel() for layer in direct):
        layers = direct  # the layers themselves: an unbuilt model can be exported with input_shape=
    elif isinstance(model, Model):  # subclassed, or a Sequential holding models: the traced chain
        if not model.built:
            raise ValueError(
                f"ONNX export: model {model.name!r} is not built yet; call it on data or fit it first"
            )
        layers = layer_chain(model)
    else:
        raise TypeError(f"ONNX export takes an aiaas_core.keras model, got {type(model).__name__}")
    if not layers:
        raise ValueError("ONNX export: the model has no layers")
    return layers


def _input_shape(model, layers: list, input_shape) -> tuple[int, ...]:
    """Per-sample input shape (no batch axis) from the argument or the built model."""
    if input_shape is not None:
        shape = tuple(int(d) for d in input_shape)
    else:
        shape = None
        for candidate in (getattr(model, "input_shape", None), getattr(model, "_build_input_shape", None),
                          getattr(layers[0], "_build_input_shape", None),
                          getattr(layers[0], "_batch_input_shape", None)):
            if isinstance(candidate, (tuple, list)) and len(candidate) >= 2 and all(
                isinstance(d, (int, np.integer)) for d in candidate[1:]
            ):
                shape = tuple(int(d) for d in candidate[1:])
                break
        if shape is None:
            raise ValueError(
                "ONNX export: the model's input shape is unknown; build the model (call it, fit it or "
                "give input_shape to its first layer) or pass input_shape=(per-sample shape)"
            )
    if not shape or any(d <= 0 for d in shape):
        raise ValueError(f"ONNX export: input_shape must be positive ints without the batch axis, got {shape}")
    return shape


def _weights(layer, count: int) -> list[np.ndarray]:
    w = [np.asarray(a, dtype=np.float32) for a in layer.get_weights()]
    if not w:
        raise ValueError(f"ONNX export: layer {layer.name!r} has no weights; build the model (fit or predict) first")
    if len(w) != count:
        raise ValueError(f"ONNX export: layer {layer.name!r} has {len(w)} weight arrays, expected {count}")
    return w


def _reorder_gates(w: np.ndarray, units: int, order: list[int]) -> np.ndarray:
    """Columns of w [..., G*H] regrouped by gate: order lists Keras gate indices in ONNX order."""
    blocks = [w[..., k * units:(k + 1) * units] for k in order]
    return np.concatenate(blocks, axis=-1)


def _recurrent(g: _GraphBuilder, x: str, layer, cfg: dict, kind: str, shape: tuple) -> tuple[str, tuple]:
    """LSTM / GRU / SimpleRNN on x [N,T,D] (batch-first) -> [N,T,H] or [N,H]."""
    units = int(cfg["units"])
    for flag in ("go_backwards", "return_state", "stateful"):
        if cfg.get(flag):
            raise NotImplementedError(f"ONNX export: {kind} with {flag}=True is not supported")
    acts = [cfg.get("recurrent_activation", "sigmoid"), cfg.get("activation", "tanh")]
    if kind == "SimpleRNN":
        acts = [cfg.get("activation", "tanh")]
    for a in acts:
        if a not in _RNN_ACTIVATIONS:
            raise NotImplementedError(f"ONNX export: {kind} activation {a!r} is not supported (use {sorted(_RNN_ACTIVATIONS)})")
    use_bias = cfg.get("use_bias", True)
    weights = _weights(layer, 3 if use_bias else 2)
    kernel, recurrent = weights[0], weights[1]
    gates = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}[kind]
    zeros = np.zeros(gates * units, np.float32)
    if kind == "LSTM":
        order = [0, 3, 1, 2]  # Keras i,f,c,o -> ONNX i,o,f,c
        bias = weights[2] if use_bias else zeros
        w_b, r_b = _reorder_gates(bias, units, order), zeros
        act_attr = [_RNN_ACTIVATIONS[acts[0]], _RNN_ACTIVATIONS[acts[1]], _RNN_ACTIVATIONS[acts[1]]]
    elif kind == "GRU":
        order = [0, 1, 2]  # Keras z,r,h == ONNX z,r,h
        bias = weights[2] if use_bias else np.zeros((2, gates * units), np.float32)
        w_b, r_b = bias[0], bias[1]
        act_attr = [_RNN_ACTIVATIONS[acts[0]], _RNN_ACTIVATIONS[acts[1]]]
    else:
        order = [0]
        w_b, r_b = (weights[2] if use_bias else zeros), zeros
        act_attr = [_RNN_ACTIVATIONS[acts[0]]]
    W = _reorder_gates(kernel, units, order).T[None]  # [1, G*H, D]
    R = _reorder_gates(recurrent, units, order).T[None]  # [1, G*H, H]
    B = np.concatenate([w_b, r_b])[None]  # [1, 2*G*H]
    hint = layer.name
    time_major = g.one("Transpose", [x], hint, perm=[1, 0, 2])  # [T,N,D]: ONNX layout 0
    attrs = {"hidden_size": units, "activations": act_attr}
    if kind == "GRU":
        attrs["linear_before_reset"] = 1  # Keras reset_after=True
    y, y_h = g.node(kind if kind != "SimpleRNN" else "RNN",
                    [time_major, g.const(W, "W"), g.const(R, "R"), g.const(B, "B")], hint,
                    n_out=3 if kind == "LSTM" else 2, **attrs)[:2]
    if cfg.get("return_sequences"):
        seq = g.one("Squeeze", [y, g.const(np.array([1], np.int64), "axes")], hint)  # [T,N,H]
        return g.one("Transpose", [seq], hint, perm=[1, 0, 2]), (shape[0], units)
    return g.one("Squeeze", [y_h, g.const(np.array([0], np.int64), "axes")], hint), (units,)


def _batchnorm(g: _GraphBuilder, x: str, layer, cfg: dict, nchw: bool) -> str:
    """Inference BatchNormalization as x * scale + shift per channel (the moving statistics folded
    in); channels are the last axis, or axis 1 while the graph is in NCHW."""
    scale, center = cfg.get("scale", True), cfg.get("center", True)
    weights = [np.asarray(a, np.float64) for a in _weights(layer, int(scale) + int(center) + 2)]
    gamma = weights[0] if scale else 1.0
    beta = weights[int(scale)] if center else 0.0
    mean, var = weights[-2], weights[-1]
    mul = gamma / np.sqrt(var + float(cfg["epsilon"]))
    add = beta - mean * mul
    shape = (-1, 1, 1) if nchw else (-1,)
    x = g.one("Mul", [x, g.const(mul.astype(np.float32).reshape(shape), "bn_scale")], layer.name)
    return g.one("Add", [x, g.const(add.astype(np.float32).reshape(shape), "bn_shift")], layer.name)


def _emit_layer(g: _GraphBuilder, layer, x: str, shape: tuple, nchw: bool) -> tuple[str, tuple, bool]:
    """Append the ONNX nodes of one built-in layer to tensor x (per-sample shape `shape`, NHWC order;
    `nchw`: x itself is transposed for ONNX spatial ops). Returns (output, its shape, nchw)."""
    import onnx

    def to_nhwc(t: str) -> str:
        return g.one("Transpose", [t], "to_nhwc", perm=[0, 2, 3, 1])

    kind = type(layer).__name__
    cfg = layer.get_config()
    hint = layer.name
    if kind in ("InputLayer", "Dropout"):
        return x, shape, nchw
    if kind in ("Conv2D", "MaxPooling2D", "AveragePooling2D"):
        if len(shape) != 3:
            raise ValueError(f"ONNX export: {kind} {layer.name!r} needs (H, W, C) inputs, got per-sample shape {shape}")
        if not nchw:
            x, nchw = g.one("Transpose", [x], "to_nchw", perm=[0, 3, 1, 2]), True
        if kind == "Conv2D":
            window = tuple(int(k) for k in cfg["kernel_size"])
            attrs = _spatial_attrs(cfg, window, (None,) + shape)
            weights = _weights(layer, 2 if cfg.get("use_bias", True) else 1)
            inputs = [x, g.const(weights[0].transpose(3, 2, 0, 1), "conv_w")]  # HWIO -> OIHW
            if len(weights) == 2:
                inputs.append(g.const(weights[1], "conv_b"))
            x = g.one("Conv", inputs, hint, **attrs)
            if cfg.get("activation") == "softmax":  # over channels, which are axis 1 in NCHW
                x = g.one("Softmax", [x], hint, axis=1)
            else:
                x = _activation(g, x, cfg.get("activation"), getattr(layer, "alpha", None), hint)
            channels = int(cfg["filters"])
        else:
            window = tuple(int(k) for k in cfg["pool_size"])
            attrs = _spatial_attrs(cfg, window, (None,) + shape)
            x = g.one("MaxPool" if kind == "MaxPooling2D" else "AveragePool", [x], hint, **attrs)
            channels = shape[2]
        strides, pad = attrs["strides"], cfg.get("padding", "valid")
        shape = (_out_len(shape[0], window[0], strides[0], pad), _out_len(shape[1], window[1], strides[1], pad), channels)
        return x, shape, nchw
    if kind == "BatchNormalization":  # per channel: works in either layout, no transpose
        x = _batchnorm(g, x, layer, cfg, nchw)
        return x, shape, nchw
    if nchw:  # every other layer works on channels-last data
        x, nchw = to_nhwc(x), False
    if kind == "Dense":
        weights = _weights(layer, 2 if cfg.get("use_bias", True) else 1)
        x = g.one("MatMul", [x, g.const(weights[0], "dense_w")], hint)
        if len(weights) == 2:
            x = g.one("Add", [x, g.const(weights[1], "dense_b")], hint)
        x = _activation(g, x, cfg.get("activation"), getattr(layer, "alpha", None), hint)
        shape = shape[:-1] + (int(cfg["units"]),)
    elif kind in ("Activation", "ReLU", "LeakyReLU", "ELU", "Softmax"):  # the class may fix the function
        x = _activation(g, x, layer.activation, layer.alpha, hint)
    elif kind == "Flatten":
        if len(shape) > 1:
            x = g.one("Flatten", [x], hint, axis=1)
            shape = (math.prod(shape),)
    elif kind == "Reshape":
        target = [int(d) for d in cfg["target_shape"]]
        known = math.prod(d for d in target if d != -1)
        if -1 in target:
            target = [math.prod(shape) // known if d == -1 else d for d in target]
        if math.prod(target) != math.prod(shape):
            raise ValueError(f"ONNX export: Reshape {layer.name!r} cannot map {shape} to {cfg['target_shape']}")
        x = g.one("Reshape", [x, g.const(np.array([-1] + target, np.int64), "shape")], hint)
        shape = tuple(target)
    elif kind == "Embedding":  # ids arrive as float (the graph input is float32): cast, then look up
        table = _weights(layer, 1)[0]
        ids = g.one("Cast", [x], hint, to=onnx.TensorProto.INT64)
        x = g.one("Gather", [g.const(table, "embeddings"), ids], hint, axis=0)
        shape = shape + (int(table.shape[1]),)
    elif kind in ("LSTM", "GRU", "SimpleRNN"):
        if len(shape) != 2:
            raise ValueError(f"ONNX export: {kind} {layer.name!r} needs (timesteps, features) inputs, got {shape}")
        x, shape = _recurrent(g, x, layer, cfg, kind, shape)
    else:
        raise NotImplementedError(
            f"ONNX export: layer {layer.name!r} of type {kind} is not supported; supported: InputLayer, "
            f"Dense, Activation, ReLU, LeakyReLU, ELU, Softmax, Conv2D, MaxPooling2D, AveragePooling2D, Flatten, "
            f"Reshape, Dropout, "
            f"BatchNormalization, Embedding, LSTM, GRU, SimpleRNN"
        )
    return x, shape, nchw

def export_onnx(model, path: str | os.PathLike, *, input_shape=None, opset: int = OPSET):
    """Write `model` (a Sequential, a built subclassed Model whose call() is a chain of layers, or a
    functional model) as an ONNX file at `path`; return the onnx ModelProto.

    The graph has one input "input" [N, *input_shape] and one output "output", with a dynamic
    batch axis. `input_shape` (per sample, no batch axis) is needed only for an unbuilt model.
    A functional model with several inputs or outputs (or a list / dict of one) names them after
    its Input layers and its output names (see _export_functional).
    """
    import onnx
    from onnx import TensorProto, helper

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like, got {type(path).__name__}")
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < 17:
        raise ValueError(f"opset must be an int >= 17, got {opset!r}")
    from .keras.engine.functional import Functional
    if isinstance(model, Functional):
        if input_shape is not None:
            raise ValueError("ONNX export: a functional model's input shapes are its keras.Input shapes; "
                             "do not pass input_shape")
        return _export_functional(model, path, opset)
    layers = _model_layers(model)
    in_shape = _input_shape(model, layers, input_shape)
    shape = in_shape  # the current tensor's per-sample shape (NHWC order when 3-D)
    g = _GraphBuilder()
    x, nchw = "input", False  # nchw: the current tensor is transposed for ONNX spatial ops

    def to_nhwc(t: str) -> str:
        return g.one("Transpose", [t], "to_nhwc", perm=[0, 2, 3, 1])

    for layer in layers:
        x, shape, nchw = _emit_layer(g, layer, x, shape, nchw)
    if nchw:
        x = to_nhwc(x)
    if x == "input":  # a model of identity layers only: ONNX still needs a node
        x = g.one("Identity", [x], "identity")
    g.nodes.append(helper.make_node("Identity", [x], ["output"], name="output"))
    graph = helper.make_graph(
        g.nodes, "aiaas_core_model",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *in_shape])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", *shape])],
        initializer=g.initializers,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="aiaas_core")
    proto.ir_version = 8  # readable by onnxruntime releases from 1.14 on
    onnx.checker.check_model(proto)
    Path(path).write_bytes(proto.SerializeToString())
    return proto



# ---- functional graphs ------------------------------------------------------------------------
# aiaas_core.ops function name -> ONNX op, for ops applied between layers of a functional model.
_ELEMENTWISE_BINARY = {"add": "Add", "subtract": "Sub", "multiply": "Mul", "divide": "Div",
                       "maximum": "Max", "minimum": "Min", "power": "Pow", "true_divide": "Div"}
_ELEMENTWISE_UNARY = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "exp": "Exp", "log": "Log",
                      "sqrt": "Sqrt", "abs": "Abs", "negative": "Neg", "identity": "Identity",
                      "stop_gradient": "Identity", "erf": "Erf", "floor": "Floor", "ceil": "Ceil",
                      "reciprocal": "Reciprocal", "sin": "Sin", "cos": "Cos", "softplus": "Softplus",
                      "softsign": "Softsign", "absolute": "Abs"}
_REDUCTIONS = {"mean": "ReduceMean", "sum": "ReduceSum", "max": "ReduceMax", "min": "ReduceMin",
               "amax": "ReduceMax", "amin": "ReduceMin"}
_FUNCTIONAL_OPS = sorted({*_ELEMENTWISE_BINARY, *_ELEMENTWISE_UNARY, *_REDUCTIONS, "concat", "reshape", "getitem",
                          "transpose", "expand_dims", "squeeze", "square", "softmax", "matmul", "cast"})


def _onnx_name(name: str, taken: set) -> str:
    """A graph input/output name from a Keras name, unique in the graph."""
    base = "".join(c if c.isalnum() or c in "_-." else "_" for c in name) or "tensor"
    out, n = base, 1
    while out in taken:
        out, n = f"{base}_{n}", n + 1
    taken.add(out)
    return out


def _export_functional(model, path, opset: int):
    """A functional model's graph: one ONNX input per keras.Input ("input" when there is only
    one), one output per model output ("output" when the model has one, not in a list or dict,
    else the output names), a dynamic batch axis and the Inputs' None dimensions kept dynamic."""
    import onnx
    from onnx import TensorProto, helper

    g = _GraphBuilder()
    names: set = set()
    tensors: dict[int, str] = {}
    graph_inputs = []
    single_in = len(model._flat_inputs) == 1 and not isinstance(model.input, (list, dict))
    for t in model._flat_inputs:
        name = _onnx_name("input" if single_in else t._input_layer.name, names)
        tensors[id(t)] = name
        elem = TensorProto.FLOAT if t.dtype.kind == "f" else TensorProto.INT64 if t.dtype == np.int64 else TensorProto.INT32
        if t.dtype.kind not in "fi" or (t.dtype.kind == "f" and t.dtype != np.float32):
            raise NotImplementedError(f"ONNX export: input {t.name!r} of dtype {t.dtype} is not supported (float32 or int)")
        dims = ["N"] + [d if d is not None else f"{name}_d{i + 1}" for i, d in enumerate(t.shape[1:])]
        graph_inputs.append(helper.make_tensor_value_info(name, elem, dims))
    _emit_graph(g, model, tensors)
    single_out = len(model._flat_outputs) == 1 and not isinstance(model.output, (list, dict))
    out_keys = list(model.output) if isinstance(model.output, dict) else list(model.output_names)
    graph_outputs = []
    for i, t in enumerate(model._flat_outputs):
        name = _onnx_name("output" if single_out else str(out_keys[i]), names)
        g.nodes.append(helper.make_node("Identity", [tensors[id(t)]], [name], name=g.name("output")))
        dims = ["N"] + [d if d is not None else f"{name}_d{j + 1}" for j, d in enumerate(t.shape[1:])]
        graph_outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT if t.dtype.kind == "f" else
                                                           TensorProto.INT64, dims))
    graph = helper.make_graph(g.nodes, "aiaas_core_model", graph_inputs, graph_outputs, initializer=g.initializers)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="aiaas_core")
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    Path(path).write_bytes(proto.SerializeToString())
    return proto


def _emit_graph(g: _GraphBuilder, model, tensors: dict) -> None:
    """Append the nodes of a functional `model` whose inputs are already in `tensors` ({id(KerasTensor):
    ONNX name}); record the ONNX name of every tensor it computes there."""
    from .keras.engine.functional import Functional
    from .keras.engine.sequential import Sequential
    from .ops.symbolic import KerasTensor, flatten

    for node in model._nodes:
        outs = [t for t in flatten(node.outputs) if isinstance(t, KerasTensor)]
        if node.layer is not None:
            layer = node.layer
            extra = {k: v for k, v in node.kwargs.items() if k != "training"}
            if len(node.args) != 1 or extra or not isinstance(node.args[0], KerasTensor):
                raise NotImplementedError(
                    f"ONNX export: layer {layer.name!r} is called with several inputs or extra arguments; only "
                    "single-input layer calls can be exported")
            x_t = node.args[0]
            x = tensors[id(x_t)]
            if isinstance(layer, Functional):
                inner_in = layer._flat_inputs
                if len(inner_in) != 1 or len(layer._flat_outputs) != 1:
                    raise NotImplementedError(f"ONNX export: nested model {layer.name!r} has several inputs or outputs")
                inner = {id(inner_in[0]): x}
                _emit_graph(g, layer, inner)
                tensors[id(outs[0])] = inner[id(layer._flat_outputs[0])]
                continue
            chain = layer.layers if type(layer) is Sequential else [layer]
            shape, nchw = tuple(x_t.shape[1:]), False
            for sub in chain:
                if not type(sub).runs_a_kernel():
                    raise NotImplementedError(
                        f"ONNX export: layer {sub.name!r} of type {type(sub).__name__} is not a built-in layer")
                x, shape, nchw = _emit_layer(g, sub, x, shape, nchw)
            if nchw:
                x = g.one("Transpose", [x], "to_nhwc", perm=[0, 2, 3, 1])
            tensors[id(outs[0])] = x
            continue
        tensors[id(outs[0])] = _emit_op(g, node, tensors, outs)


def _op_operand(g: _GraphBuilder, value, tensors: dict, what: str) -> str:
    from .ops.symbolic import KerasTensor
    if isinstance(value, KerasTensor):
        return tensors[id(value)]
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise NotImplementedError(f"ONNX export: {what}: constant {value!r:.40} is not numeric")
    return g.const(arr.astype(np.float32), "const")


def _emit_op(g: _GraphBuilder, node, tensors: dict, outs: list) -> str:
    """One op node of a functional graph (x + y, ops.concatenate...) as ONNX nodes."""
    import onnx
    from .keras.engine.functional_config import _op_tables, op_kind
    from .ops.symbolic import KerasTensor

    public = _op_tables()[1].get(node.fn) or getattr(node.fn, "__name__", "op")
    name = op_kind(public)  # TensorFlow's spellings export as the op they mean ("tf.reduce_mean": mean)
    args, kwargs = list(node.args), {k: v for k, v in node.kwargs.items() if k != "name"}  # tf's name=: a label
    hint = name.replace(".", "_")
    if len(outs) != 1:
        raise NotImplementedError(f"ONNX export: op {public!r} has several outputs; it cannot be exported")

    # Keras and TensorFlow name the same arguments differently (x / input_tensor / tensor / a...).
    aliases = {"x": ("x", "input_tensor", "tensor", "input", "a", "features", "logits", "values"),
               "a": ("a", "x"), "b": ("b", "y"), "values": ("values", "xs", "inputs"),
               "shape": ("shape",), "axis": ("axis",), "keepdims": ("keepdims",), "perm": ("perm", "axes"),
               "dtype": ("dtype",)}

    def arg(i, key, default=None):
        if len(args) > i:
            return args[i]
        for k in aliases.get(key, (key,)):
            if k in kwargs:
                return kwargs[k]
        return default

    if name in ("concatenate", "concat"):
        values = arg(0, "values")
        axis = int(arg(1, "axis", -1))
        return g.one("Concat", [_op_operand(g, v, tensors, name) for v in values], hint, axis=axis)
    if name in _ELEMENTWISE_BINARY:
        a, b = arg(0, "a"), arg(1, "b")
        for v in (a, b):
            if not isinstance(v, KerasTensor) and np.asarray(v).dtype.kind not in "biuf":
                raise NotImplementedError(f"ONNX export: op {name!r} on {v!r:.40}")
        if any(isinstance(v, KerasTensor) and v.dtype.kind != "f" for v in (a, b)):
            raise NotImplementedError(f"ONNX export: op {name!r} on integer tensors is not supported")
        return g.one(_ELEMENTWISE_BINARY[name], [_op_operand(g, a, tensors, name), _op_operand(g, b, tensors, name)], hint)
    if name == "square":
        x = _op_operand(g, arg(0, "x"), tensors, name)
        return g.one("Mul", [x, x], hint)
    if name in _ELEMENTWISE_UNARY and len(args) + len(kwargs) == 1:
        return g.one(_ELEMENTWISE_UNARY[name], [_op_operand(g, arg(0, "x"), tensors, name)], hint)
    if name == "softmax":
        axis = arg(1, "axis", -1)
        return g.one("Softmax", [_op_operand(g, arg(0, "x"), tensors, name)], hint, axis=-1 if axis is None else int(axis))
    if name in _REDUCTIONS:
        x_t = arg(0, "x")
        axis, keepdims = arg(1, "axis"), bool(arg(2, "keepdims", False))
        x = _op_operand(g, x_t, tensors, name)
        axes = list(range(x_t.ndim)) if axis is None else [int(a) for a in (axis if isinstance(axis, (list, tuple)) else [axis])]
        if name == "sum":  # ReduceSum takes its axes as an input from opset 13 on; the others from 18
            return g.one("ReduceSum", [x, g.const(np.array(axes, np.int64), "axes")], hint, keepdims=int(keepdims))
        return g.one(_REDUCTIONS[name], [x], hint, axes=axes, keepdims=int(keepdims))
    if name == "reshape":
        x_t, shape = arg(0, "x"), arg(1, "shape")
        target = [int(d) for d in shape]  # the full shape, batch axis included (keras.ops.reshape)
        return g.one("Reshape", [_op_operand(g, x_t, tensors, name), g.const(np.array(target, np.int64), "shape")], hint)
    if name == "transpose":
        perm = arg(1, "perm")
        attrs = {} if perm is None else {"perm": [int(p) for p in perm]}
        return g.one("Transpose", [_op_operand(g, arg(0, "x"), tensors, name)], hint, **attrs)
    if name in ("expand_dims", "squeeze"):
        axis = arg(1, "axis")
        if axis is None:
            raise NotImplementedError(f"ONNX export: {name} without an axis is not supported")
        axes = [int(a) for a in (axis if isinstance(axis, (list, tuple)) else [axis])]
        op = "Unsqueeze" if name == "expand_dims" else "Squeeze"
        return g.one(op, [_op_operand(g, arg(0, "x"), tensors, name), g.const(np.array(axes, np.int64), "axes")], hint)
    if name == "matmul" and not kwargs.get("transpose_a") and not kwargs.get("transpose_b") and len(args) == 2:
        return g.one("MatMul", [_op_operand(g, args[0], tensors, name), _op_operand(g, args[1], tensors, name)], hint)
    if name == "getitem" and len(args) == 2 and isinstance(args[0], KerasTensor):
        return _getitem(g, _op_operand(g, args[0], tensors, name), args[0].ndim, args[1], hint)
    if name == "cast":
        from .ops.dtypes import as_dtype
        dt = as_dtype(arg(1, "dtype"))
        to = {np.dtype(np.float32): onnx.TensorProto.FLOAT, np.dtype(np.int64): onnx.TensorProto.INT64,
              np.dtype(np.int32): onnx.TensorProto.INT32}.get(np.dtype(dt))
        if to is None:
            raise NotImplementedError(f"ONNX export: cast to {dt} is not supported")
        return g.one("Cast", [_op_operand(g, arg(0, "x"), tensors, name)], hint, to=to)
    raise NotImplementedError(
        f"ONNX export: op {public!r} in a functional model is not supported (with these arguments); supported ops: "
        f"{', '.join(_FUNCTIONAL_OPS)}"
    )


_BIG = np.iinfo(np.int64).max


def _getitem(g: _GraphBuilder, x: str, rank: int, key, hint: str) -> str:
    """x[key] for basic indexing (ints, slices, None / tf.newaxis, ...): one Slice over the sliced
    axes, a Squeeze of the int-indexed ones, an Unsqueeze for the new ones."""
    key = key if isinstance(key, tuple) else (key,)
    for k in key:
        if not (k is None or k is Ellipsis or isinstance(k, slice)
                or (isinstance(k, (int, np.integer)) and not isinstance(k, bool))):
            raise NotImplementedError(f"ONNX export: indexing with {type(k).__name__} (advanced indexing) is not supported")
    real = sum(1 for k in key if k is not None and k is not Ellipsis)
    if real > rank or sum(k is Ellipsis for k in key) > 1:
        raise NotImplementedError(f"ONNX export: index {key!r:.60} does not fit a rank-{rank} tensor")
    if Ellipsis in key:
        i = key.index(Ellipsis)
        key = key[:i] + (slice(None),) * (rank - real) + key[i + 1:]
    else:
        key = key + (slice(None),) * (rank - real)
    starts, ends, axes, steps, squeeze, unsqueeze = [], [], [], [], [], []
    axis = out = 0
    for k in key:
        if k is None:  # a new axis at this position of the result
            unsqueeze.append(out)
            out += 1
            continue
        if isinstance(k, slice):
            if k != slice(None):
                step = 1 if k.step is None else int(k.step)
                if step == 0:
                    raise ValueError("ONNX export: a slice step cannot be zero")
                starts.append((0 if step > 0 else _BIG) if k.start is None else int(k.start))
                ends.append((_BIG if step > 0 else -_BIG) if k.stop is None else int(k.stop))
                axes.append(axis)
                steps.append(step)
            out += 1
        else:  # an int: a slice of one, then that axis squeezed away
            i = int(k)
            starts.append(i)
            ends.append(_BIG if i == -1 else i + 1)
            axes.append(axis)
            steps.append(1)
            squeeze.append(axis)
        axis += 1
    if axes:
        x = g.one("Slice", [x, g.const(np.array(starts, np.int64), "starts"), g.const(np.array(ends, np.int64), "ends"),
                            g.const(np.array(axes, np.int64), "axes"), g.const(np.array(steps, np.int64), "steps")], hint)
    if squeeze:
        x = g.one("Squeeze", [x, g.const(np.array(squeeze, np.int64), "axes")], hint)
    if unsqueeze:
        x = g.one("Unsqueeze", [x, g.const(np.array(unsqueeze, np.int64), "axes")], hint)
    if not (axes or squeeze or unsqueeze):
        x = g.one("Identity", [x], hint)
    return x
