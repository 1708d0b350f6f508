"""A functional model's config (Keras 3's layout) and the model rebuilt from one.

    {"name", "trainable",
     "layers": [{"class_name", "config", "name", "inbound_nodes": [{"args": [...], "kwargs": {...}}]}],
     "input_layers": ..., "output_layers": ...}

Each entry is a layer, a nested model (its own Sequential / Functional config) or an op the graph
applies (`x + y`, `ops.concatenate`, `tf.reduce_mean`: class_name "Operation", config {"name", "op"}
where "op" is the public name used: "add", "concatenate" in `aiaas_core.ops`, "tf.reduce_mean",
"tf.math.log" for TensorFlow's spellings in `aiaas_core.tf_api`). A layer called n times has n inbound nodes. A tensor in
a node's arguments is {"class_name": "__keras_tensor__", "config": {"shape", "dtype",
"keras_history": [entry name, node index, tensor index]}}; other arguments are JSON, with tuples,
slices, `...` and small numpy arrays tagged as Keras 3 tags them. `input_layers` / `output_layers`
keep the model's structure: one [name, node, tensor] triple, a list of them, or a dict of them.
Differences from Keras: node indices count from 0 for nested models too; only built-in layers,
ops and registered / `custom_objects` classes load, and nothing is imported by module path.

Rebuilding validates every field and bounds the work a config can ask for before any array is
allocated where possible (the service accepts these configs from its users): at most MAX_LAYERS
entries and nodes, MAX_PARAMS weights, MAX_PROBE_ELEMENTS per traced tensor.
"""

from __future__ import annotations

import importlib
import json
import math
import sys

import numpy as np

from ... import ops as ops_mod
from ...ops.symbolic import PROBE_BATCH, PROBE_LENGTH
from ...ops import symbolic
from ...ops.symbolic import KerasTensor, flatten
from ..layers import LAYER_CLASSES
from ..layers.base import InputLayer, Layer
from . import registry
# The module, not its names: saving.py imports this module too, and either may be imported first.
from . import saving as _saving
from .functional import Functional, Input
from .sequential import Sequential

# Shapes are traced by running each call on probe arrays (unknown dimensions 1 and 2): a config
# that would make one of them bigger than this is refused, before the op runs when that is knowable.
MAX_PROBE_ELEMENTS = 1 << 26          # 256 MB of float32
MAX_TOTAL_PROBE_ELEMENTS = 1 << 28    # summed over every traced tensor of one config
MAX_CONSTANT_ELEMENTS = 1 << 20       # a numpy constant written into the JSON config
_MAX_VALUE_DEPTH = 32                 # nesting of one argument (lists in lists...)
_MAX_RANK = 16                        # axes of an Input, batch included
_ENTRY_KEYS = {"class_name", "config", "name", "inbound_nodes", "module", "registered_name", "build_config"}
_MODEL_KEYS = {"name", "trainable", "layers", "input_layers", "output_layers"}


# ---- ops by public name --------------------------------------------------------------------------
def _public_ops() -> tuple[dict, dict]:
    """({public name: dispatching op}, {the function a node records: its public name}) over
    `aiaas_core.ops` ("add", "concatenate") and TensorFlow's spellings in `aiaas_core.tf_api`
    ("tf.reduce_mean", "tf.math.log"). Each public op is its own wrapper, so a node records which
    spelling was used; one reachable under several TF paths gets the shortest (tf.reduce_mean, not
    tf.math.reduce_mean)."""
    by_name, by_fn = {}, {}

    def add(name, op):
        fn = getattr(op, "__wrapped__", None)
        if fn is None or not callable(op):
            return
        by_name[name] = op
        if fn not in by_fn:
            by_fn[fn] = name

    for name in sorted(getattr(ops_mod, "__all__", dir(ops_mod))):
        add(name, getattr(ops_mod, name, None))
    # tf_api imports keras (this package), so it is looked up when first needed, not imported here:
    # by then `import aiaas_core` has loaded it.
    tf_api = sys.modules.get("aiaas_core.tf_api") or importlib.import_module("aiaas_core.tf_api")
    for name in getattr(tf_api, "TOP_LEVEL", ()):
        add(f"tf.{name}", getattr(tf_api, name, None))
    for ns in getattr(tf_api, "NAMESPACES", ()):
        module = getattr(tf_api, ns, None)
        for name in sorted(vars(module) if module is not None else ()):
            if not name.startswith("_"):
                add(f"tf.{ns}.{name}", getattr(module, name))
    return by_name, by_fn


_tables: list = []


def _op_tables() -> tuple[dict, dict]:
    if not _tables:
        _tables.append(_public_ops())
    return _tables[0]


# How big an op's output can be, known before running it (the guard against hostile configs):
# elementwise ops with broadcasting give the broadcast shape; these never grow their input...
_NON_GROWING = {
    "negative", "exp", "expm1", "log", "log1p", "sqrt", "rsqrt", "square", "abs", "sign", "reciprocal", "sin",
    "cos", "tan", "floor", "ceil", "round", "erf", "sum", "mean", "max", "min", "prod", "logsumexp", "var",
    "std", "argmax", "argmin", "cumsum", "logical_not", "cast", "clip_by_value", "is_nan", "is_inf",
    "is_finite", "reduce_all", "reduce_any", "reshape", "transpose", "swapaxes", "moveaxis", "expand_dims",
    "squeeze", "unstack", "split", "stop_gradient", "identity", "zeros_like", "ones_like",
    "sort", "argsort", "top_k", "reverse", "relu", "relu6", "sigmoid", "tanh", "leaky_relu", "elu",
    "selu", "gelu", "softmax", "log_softmax", "softplus", "softsign", "silu", "swish", "hard_sigmoid",
    "l2_normalize", "moments", "size", "norm", "absolute", "amax", "amin", "clip", "flip",
}
_BROADCASTING = {
    "add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "squared_difference", "mod",
    "floor_divide", "equal", "not_equal", "greater", "greater_equal", "less", "less_equal", "logical_and",
    "logical_or", "logical_xor", "where", "true_divide",
}
# TensorFlow's spellings with the same semantics as an op above (same argument positions).
_TF_ALIASES = {"reduce_sum": "sum", "reduce_mean": "mean", "reduce_max": "max", "reduce_min": "min",
               "reduce_prod": "prod", "reduce_logsumexp": "logsumexp", "reduce_std": "std", "reduce_variance": "var",
               "pow": "power", "truediv": "divide", "floordiv": "floor_divide"}


def op_kind(public: str) -> str:
    """The aiaas_core.ops name whose semantics a public op name has ("tf.reduce_mean" -> "mean")."""
    if not public.startswith("tf."):
        return public
    base = public.rsplit(".", 1)[-1]
    return _TF_ALIASES.get(base, base)


# ...these give the sum of their inputs (a config may list one tensor many times)...
_SUMMING = {"concat", "concatenate", "stack", "add_n"}
# ...and anything else (tile, repeat, one_hot, gather, einsum) is bounded by the product of its
# tensor inputs' sizes and of its integer constants; matmul, pad and indexing are computed exactly.


# ---- saving --------------------------------------------------------------------------------------
def functional_config(model) -> dict:
    """Keras 3's functional config of `model` (see the module docstring)."""
    if not isinstance(model, Functional):
        raise TypeError(f"functional_config takes a functional keras.Model, got {type(model).__name__}")
    entries: list[dict] = []
    refs: dict[int, list] = {}            # id(KerasTensor) -> [entry name, node index, tensor index]
    for t in model._flat_inputs:
        layer = t._input_layer
        if id(t) in refs:  # the same Input listed twice in inputs=: one entry
            continue
        refs[id(t)] = [layer.name, 0, 0]
        entries.append({"class_name": "InputLayer", "config": layer.get_config(), "name": layer.name,
                        "inbound_nodes": []})
    op_names = op_display_names(model)
    layer_entries: dict[int, dict] = {}

    for node in model._nodes:
        if node.layer is not None:
            layer = node.layer
            entry = layer_entries.get(id(layer))
            if entry is None:
                entry = _layer_entry(layer)
                layer_entries[id(layer)] = entry
                entries.append(entry)
            where = f"layer {layer.name!r} ({type(layer).__name__})"
        else:
            name, public = op_names[node.id]
            if node.fn not in _op_tables()[1]:  # by identity: a user's function may share a public op's name
                raise NotImplementedError(
                    f"the op {public!r} applied in model {model.name!r} is not a public aiaas_core.ops function, so "
                    "a config cannot name it; wrap it in a layer registered with "
                    "keras.saving.register_keras_serializable(), or use save_weights"
                )
            entry = {"class_name": "Operation", "config": {"name": name, "op": public}, "name": name,
                     "inbound_nodes": []}
            entries.append(entry)
            where = f"op {name!r} ({public})"
        index = len(entry["inbound_nodes"])
        entry["inbound_nodes"].append({
            "args": [_encode(a, refs, where) for a in node.args],
            "kwargs": {_check_key(k, where): _encode(v, refs, where) for k, v in node.kwargs.items()},
        })
        for i, t in enumerate(t for t in flatten(node.outputs) if isinstance(t, KerasTensor)):
            refs[id(t)] = [entry["name"], index, i]

    config = {
        "name": model.name,
        "trainable": model.trainable,
        "layers": entries,
        "input_layers": _structure_refs(model._input_struct, refs),
        "output_layers": _structure_refs(model._output_struct, refs),
    }
    for entry in entries:  # what json.dumps would refuse, named here rather than at the end of save()
        try:
            json.dumps(entry, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise NotImplementedError(
                f"the config of {entry['class_name']} {entry['name']!r} in model {model.name!r} is not JSON: {exc}"
            ) from None
    return config


def _layer_entry(layer) -> dict:
    kind = type(layer)
    if kind is Functional:
        return {"class_name": "Functional", "config": functional_config(layer), "name": layer.name, "inbound_nodes": []}
    if kind is Sequential:
        return {"class_name": "Sequential", "config": _saving.sequential_config(layer), "name": layer.name, "inbound_nodes": []}
    if kind is InputLayer:
        raise NotImplementedError(f"InputLayer {layer.name!r} is called like a layer; use keras.Input(...) tensors")
    entry = {"class_name": kind.__name__, "name": layer.name, "inbound_nodes": []}
    if LAYER_CLASSES.get(kind.__name__) is not kind:
        # A user's class: saved by its config; loading needs it registered or in custom_objects.
        entry["registered_name"] = registry.get_registered_name(kind)
    try:
        entry["config"] = layer.get_config()
    except NotImplementedError as exc:
        raise NotImplementedError(f"layer {layer.name!r} ({kind.__name__}) cannot be saved in a config: {exc}") from None
    if not isinstance(entry["config"], dict):
        raise NotImplementedError(
            f"layer {layer.name!r} ({kind.__name__}): get_config() must return a dict, got {type(entry['config']).__name__}"
        )
    return {k: entry[k] for k in ("class_name", "config", "name", "registered_name", "inbound_nodes") if k in entry}


def op_display_names(model) -> dict[int, tuple[str, str]]:
    """{node id: (entry name, public op name)} for the op nodes of `model`, in graph order: "add",
    "add_1"... never equal to a layer's name. Ops have no identity of their own, so the names are
    derived from the graph alone: the same model always gets the same names (configs compare equal).
    An op that is not a public aiaas_core.ops function keeps its Python name (it cannot be saved)."""
    taken = {layer.name for layer in model.layers}
    counts: dict[str, int] = {}
    out = {}
    for node in model._nodes:
        if node.layer is not None:
            continue
        public = _op_tables()[1].get(node.fn) or getattr(node.fn, "__name__", "op")
        base = public.rsplit(".", 1)[-1]  # "tf.math.log" -> "log": entry names stay plain
        n = counts.get(base, 0)
        while True:
            name = base if n == 0 else f"{base}_{n}"
            n += 1
            if name not in taken:
                break
        counts[base] = n
        taken.add(name)
        out[node.id] = (name, public)
    return out


def _check_key(key, where: str) -> str:
    if not isinstance(key, str):
        raise NotImplementedError(f"{where}: keyword {key!r} is not a str and cannot be saved in a config")
    return key


def _structure_refs(structure, refs: dict):
    if isinstance(structure, KerasTensor):
        return list(refs[id(structure)])
    if isinstance(structure, dict):
        return {k: _structure_refs(v, refs) for k, v in structure.items()}
    return [_structure_refs(v, refs) for v in structure]


def _encode(value, refs: dict, where: str, depth: int = 0):
    """One call argument as JSON data (Keras 3's tags for what JSON lacks)."""
    if depth > _MAX_VALUE_DEPTH:
        raise NotImplementedError(f"{where}: an argument is nested more than {_MAX_VALUE_DEPTH} levels deep")
    if isinstance(value, KerasTensor):
        if id(value) not in refs:  # cannot happen for a graph the model validated; say so if it does
            raise NotImplementedError(f"{where}: takes the tensor {value.name!r}, which is not computed in this model")
        return {"class_name": "__keras_tensor__",
                "config": {"shape": list(value.shape), "dtype": value.dtype.name, "keras_history": list(refs[id(value)])}}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(float(value)):
            raise NotImplementedError(f"{where}: the constant {value!r} is not finite and cannot be saved in JSON")
        return float(value)
    if isinstance(value, list):
        return [_encode(v, refs, where, depth + 1) for v in value]
    if isinstance(value, tuple):
        return {"class_name": "__tuple__", "config": {"value": [_encode(v, refs, where, depth + 1) for v in value]}}
    if isinstance(value, dict):
        body = {_check_key(k, where): _encode(v, refs, where, depth + 1) for k, v in value.items()}
        # A plain dict that looks like a tag would be read back as one: wrap it.
        return {"class_name": "__dict__", "config": {"value": body}} if "class_name" in body else body
    if isinstance(value, slice):
        return {"class_name": "__slice__", "config": {
            "start": _encode(value.start, refs, where, depth + 1), "stop": _encode(value.stop, refs, where, depth + 1),
            "step": _encode(value.step, refs, where, depth + 1)}}
    if value is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return np.dtype(value).name  # the ops take dtype names
    if hasattr(value, "_auto_watch"):  # a Variable: trainable state that no layer owns would not be saved
        raise NotImplementedError(
            f"{where}: takes the variable {getattr(value, 'name', '?')!r}, which belongs to no layer: its value would "
            "not be saved or trained with the model; create it in a layer (add_weight)"
        )
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise NotImplementedError(f"{where}: a constant array of dtype {value.dtype} cannot be saved in a config")
        if value.size > MAX_CONSTANT_ELEMENTS:
            raise NotImplementedError(
                f"{where}: a constant array of {value.size:,} values is too big for a JSON config (at most "
                f"{MAX_CONSTANT_ELEMENTS:,}); hold it as a layer weight"
            )
        arr = np.asarray(value)
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise NotImplementedError(f"{where}: a constant array holds NaN or infinite values")
        return {"class_name": "__numpy__", "config": {"value": arr.tolist(), "dtype": arr.dtype.name}}
    raise NotImplementedError(
        f"{where}: an argument of type {type(value).__name__} ({value!r:.60}) cannot be saved in a JSON config; "
        "arguments may be tensors, numbers, strings, None, lists, tuples, dicts, slices and numpy arrays"
    )


# ---- loading -------------------------------------------------------------------------------------
class _Budget:
    """What one config (nested models included) may still ask for."""

    def __init__(self):
        self.layers = [_saving.MAX_LAYERS]  # a list: shared with saving._sequential_from_config
        self.params = 0
        self.probe_elements = 0

    def take_layers(self, n: int, where: str) -> None:
        self.layers[0] -= n
        if self.layers[0] < 0:
            raise ValueError(f"{where}: the model config has more than {_saving.MAX_LAYERS} layers and nodes (nested "
                             f"models included); at most {_saving.MAX_LAYERS} are accepted")

    def add_params(self, n: int, where: str) -> None:
        self.params += int(n)
        if self.params > _saving.MAX_PARAMS:
            raise ValueError(f"{where}: the model would hold {self.params:,} weights; at most {_saving.MAX_PARAMS:,} are accepted")

    def add_probe(self, n: int, where: str) -> None:
        if n > MAX_PROBE_ELEMENTS:
            raise ValueError(f"{where}: a traced tensor would hold {n:,} values; at most {MAX_PROBE_ELEMENTS:,} "
                             "are accepted in a loaded config")
        self.probe_elements += n
        if self.probe_elements > MAX_TOTAL_PROBE_ELEMENTS:
            raise ValueError(f"{where}: the model's tensors would hold more than {MAX_TOTAL_PROBE_ELEMENTS:,} values "
                             "in all; a loaded config may not ask for more")


def _probe_size(shape) -> int:
    """Values in the larger probe of a tensor of `shape` (ops/symbolic.py: unknown batch 2, other
    unknown dimensions PROBE_LENGTH[1])."""
    dims = [PROBE_BATCH[1] if i == 0 else PROBE_LENGTH[1] for i, d in enumerate(shape) if d is None]
    return math.prod(dims) * math.prod(d for d in shape if d is not None)


def functional_from_config(config, custom_objects=None, *, _depth: int = 0, _budget: _Budget | None = None):
    """A functional model from `functional_config()` output, every field checked (ValueError naming
    the layer and the field). `custom_objects` ({"MyLayer": MyLayer}) and the classes registered with
    `keras.saving.register_keras_serializable()` are the user classes a config may name."""
    custom_objects = registry.check_custom_objects(custom_objects)
    budget = _budget or _Budget()
    if not isinstance(config, dict):
        raise ValueError(f"functional model config must be a JSON object, got {type(config).__name__}")
    unknown = set(config) - _MODEL_KEYS
    if unknown:
        raise ValueError(f"functional model config: unknown field(s) {sorted(unknown)}; expected {sorted(_MODEL_KEYS)}")
    missing = {"layers", "input_layers", "output_layers"} - set(config)
    if missing:
        raise ValueError(f"functional model config: missing field(s) {sorted(missing)}")
    name = config.get("name")
    if name is not None and not isinstance(name, str):
        raise ValueError(f"functional model config field 'name' must be a string, got {type(name).__name__}")
    trainable = config.get("trainable", True)
    if not isinstance(trainable, bool):
        raise ValueError(f"functional model config field 'trainable' must be true or false, got {trainable!r}")
    entries = config["layers"]
    if not isinstance(entries, list) or not entries:
        raise ValueError("functional model config field 'layers' must be a non-empty list")
    budget.take_layers(len(entries), "functional model config")

    # 1. Every entry checked and its object created (layers unbuilt, inputs as keras.Input tensors).
    objects: dict[str, object] = {}        # entry name -> Layer, or ("op", name), or the Input's KerasTensor
    kinds: dict[str, str] = {}             # entry name -> "input" | "op" | "layer"
    nodes: list[tuple[str, int, dict]] = []
    n_nodes: dict[str, int] = {}
    for i, entry in enumerate(entries):
        where = f"layer {i}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: each layer must be an object with 'class_name', 'config', 'name' and 'inbound_nodes'")
        extra = set(entry) - _ENTRY_KEYS
        if extra:
            raise ValueError(f"{where}: unknown field(s) {sorted(extra)}")
        cname = entry.get("class_name")
        lname = entry.get("name")
        if not isinstance(cname, str):
            raise ValueError(f"{where}: field 'class_name' must be a string, got {cname!r}")
        if not isinstance(lname, str) or not lname:
            raise ValueError(f"{where} ({cname}): field 'name' must be a non-empty string, got {lname!r}")
        where = f"layer {i} ({cname} {lname!r})"
        if lname in objects:
            raise ValueError(f"{where}: field 'name': another layer of this model has the name {lname!r}; names must be unique")
        cfg = entry.get("config", {})
        if not isinstance(cfg, dict):
            raise ValueError(f"{where}: field 'config' must be an object")
        inbound = entry.get("inbound_nodes", [])
        if not isinstance(inbound, list):
            raise ValueError(f"{where}: field 'inbound_nodes' must be a list")
        if cname == "InputLayer":
            if inbound:
                raise ValueError(f"{where}: field 'inbound_nodes' must be empty for an InputLayer")
            objects[lname] = _input_from_config(cfg, lname, where, budget)
            kinds[lname] = "input"
            n_nodes[lname] = 1
            continue
        if not inbound:
            raise ValueError(f"{where}: field 'inbound_nodes' is empty: the layer is not connected to the model's inputs")
        budget.take_layers(len(inbound) - 1, where)
        if cname == "Operation":
            objects[lname] = _op_from_config(cfg, lname, where)
            kinds[lname] = "op"
            if len(inbound) != 1:
                raise ValueError(f"{where}: field 'inbound_nodes': an op entry holds exactly one call, got {len(inbound)}")
        else:
            objects[lname] = _layer_from_config(entry, cname, cfg, lname, where, custom_objects, _depth, budget)
            kinds[lname] = "layer"
        n_nodes[lname] = len(inbound)
        for k, node in enumerate(inbound):
            nwhere = f"{where} inbound node {k}"
            if not isinstance(node, dict) or set(node) - {"args", "kwargs"}:
                raise ValueError(f"{nwhere}: must be an object with 'args' (a list) and 'kwargs' (an object); "
                                 "the Keras 2 list form is not supported")
            if not isinstance(node.get("args", []), list) or not isinstance(node.get("kwargs", {}), dict):
                raise ValueError(f"{nwhere}: 'args' must be a list and 'kwargs' an object")
            nodes.append((lname, k, node))

    # 2. Every reference checked, then the calls made in an order where each one's inputs exist.
    deps = {}
    for lname, k, node in nodes:
        nwhere = f"layer {lname!r} inbound node {k}"
        found = []
        _collect_refs([node.get("args", []), node.get("kwargs", {})], found, nwhere, 0)
        for ref_name, ref_node, _ in found:
            if ref_name not in objects:
                raise ValueError(f"{nwhere}: keras_history names layer {ref_name!r}, which is not in this config")
            if ref_node >= n_nodes[ref_name]:
                raise ValueError(f"{nwhere}: keras_history asks for node {ref_node} of layer {ref_name!r}, which has "
                                 f"{n_nodes[ref_name]}")
            if (ref_name, ref_node) == (lname, k):
                raise ValueError(f"{nwhere}: takes its own output (the layer graph has a cycle)")
        if not found:
            raise ValueError(f"{nwhere}: takes no tensor: every call must take an input computed from the model's inputs")
        deps[(lname, k)] = {(r, n) for r, n, _ in found}

    outputs: dict[tuple[str, int], list] = {(n, 0): [t] for n, t in objects.items() if kinds[n] == "input"}
    pending = list(nodes)
    while pending:
        left = []
        for lname, k, node in pending:
            if all(d in outputs for d in deps[(lname, k)]):
                outputs[(lname, k)] = _call_node(objects[lname], kinds[lname], lname, k, node, outputs, budget)
            else:
                left.append((lname, k, node))
        if len(left) == len(pending):
            lname, k, _ = left[0]
            waiting = sorted(f"{r!r} node {n}" for r, n in deps[(lname, k)] if (r, n) not in outputs)
            raise ValueError(f"layer {lname!r} inbound node {k} can never be computed: it waits for {', '.join(waiting)} "
                             "(the layer graph has a cycle)")
        pending = left

    inputs = _structure_from_refs(config["input_layers"], outputs, "input_layers", 0)
    outs = _structure_from_refs(config["output_layers"], outputs, "output_layers", 0)
    for t in flatten(inputs):
        if t.node is not None:
            raise ValueError(f"functional model config field 'input_layers': {t.name!r} is not an InputLayer's tensor")
    try:
        model = Functional(inputs, outs, name=name, trainable=trainable)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"functional model config: {exc}") from None
    used = {id(layer) for layer in model._graph_layers} | {id(layer) for layer in model._input_layers}
    for lname, obj in objects.items():
        if kinds[lname] == "layer" and id(obj) not in used:
            raise ValueError(f"layer {lname!r}: not on any path from the model's inputs to its outputs")
        if kinds[lname] == "input" and id(obj._input_layer) not in used:
            raise ValueError(f"InputLayer {lname!r}: not listed in 'input_layers'")
    return model


def _input_from_config(cfg: dict, lname: str, where: str, budget: _Budget) -> KerasTensor:
    allowed = {"name", "batch_shape", "batch_input_shape", "shape", "dtype", "sparse", "ragged", "optional"}
    extra = set(cfg) - allowed
    if extra:
        raise ValueError(f"{where}: unknown config field(s) {sorted(extra)}")
    if cfg.get("name", lname) != lname:
        raise ValueError(f"{where}: config 'name' {cfg.get('name')!r} differs from the entry's name")
    if cfg.get("sparse") or cfg.get("ragged"):
        raise ValueError(f"{where}: sparse and ragged inputs are not supported")
    shape = cfg.get("batch_shape", cfg.get("batch_input_shape"))
    if shape is None and cfg.get("shape") is not None:
        shape = [None] + list(cfg["shape"]) if isinstance(cfg["shape"], list) else cfg["shape"]
    if not isinstance(shape, list) or not 2 <= len(shape) <= _MAX_RANK:
        raise ValueError(f"{where}: field 'batch_shape' must be a list like [null, 28, 28, 1] (at most {_MAX_RANK} "
                         f"axes), got {shape!r:.80}")
    for d in shape:
        if d is not None and (isinstance(d, bool) or not isinstance(d, int) or d <= 0):
            raise ValueError(f"{where}: field 'batch_shape' must hold positive ints or null, got {shape!r}")
    dtype = cfg.get("dtype", "float32")
    if isinstance(dtype, dict):  # Keras 3 writes a DTypePolicy object
        dtype = (dtype.get("config") or {}).get("name", "float32")
    if not isinstance(dtype, str):
        raise ValueError(f"{where}: field 'dtype' must be a dtype name, got {dtype!r}")
    budget.add_probe(_probe_size(shape), where)
    try:
        return Input(batch_shape=tuple(shape), name=lname, dtype=dtype)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{where}: {exc}") from None


def _op_from_config(cfg: dict, lname: str, where: str):
    extra = set(cfg) - {"name", "op"}
    if extra:
        raise ValueError(f"{where}: unknown config field(s) {sorted(extra)}; an Operation has 'name' and 'op'")
    if cfg.get("name", lname) != lname:
        raise ValueError(f"{where}: config 'name' {cfg.get('name')!r} differs from the entry's name")
    op = cfg.get("op")
    if not isinstance(op, str) or op not in _op_tables()[0]:
        raise ValueError(f"{where}: field 'op' must name a public aiaas_core.ops function (or a tf_api one, 'tf.reduce_mean'), got {op!r:.60}")
    return ("op", op)


def _layer_from_config(entry, cname, cfg, lname, where, custom_objects, depth, budget):
    if cname in ("Functional", "Model", "Sequential"):
        if depth >= _saving.MAX_NESTING:
            raise ValueError(f"{where}: models nested deeper than {_saving.MAX_NESTING} levels are refused")
        if cfg.get("name", lname) != lname:
            raise ValueError(f"{where}: config 'name' {cfg.get('name')!r} differs from the entry's name")
        try:
            if cname == "Sequential":
                layer = _saving._sequential_from_config({"class_name": "Sequential", "config": dict(cfg, name=lname)},
                                                depth + 1, budget.layers)
                # The Sequential loader accepts 'trainable' but leaves it to its caller: a frozen
                # feature extractor must stay frozen.
                if "trainable" in cfg:
                    if not isinstance(cfg["trainable"], bool):
                        raise ValueError(f"field 'trainable' must be true or false, got {cfg['trainable']!r}")
                    layer.trainable = cfg["trainable"]
            else:
                layer = functional_from_config(dict(cfg, name=lname), custom_objects, _depth=depth + 1, _budget=budget)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        budget.add_params(layer.count_params(), where)
        return layer
    cls = LAYER_CLASSES.get(cname) if cname != "InputLayer" else None
    user = registry.resolve(cname, entry.get("registered_name"), custom_objects)
    if user is not None and (cls is None or cname in custom_objects):
        cls = user
    if cls is None:
        raise ValueError(
            f"{where}: unknown class_name {cname!r}. Built-in layers: {', '.join(sorted(set(LAYER_CLASSES) - {'InputLayer'}))}; "
            "a class of your own loads when passed as custom_objects={'" + cname + "': " + cname + "} or registered "
            "with @keras.saving.register_keras_serializable()"
        )
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise ValueError(f"{where}: {cls!r} is not a keras Layer class")
    if cfg.get("name", lname) != lname:
        raise ValueError(f"{where}: config 'name' {cfg.get('name')!r} differs from the entry's name")
    try:
        if issubclass(cls, Functional) and cls is not Functional:
            raise ValueError("subclasses of the functional model class are not supported in configs")
        layer = cls.from_config(dict(cfg))
        if "name" not in cfg and isinstance(layer, Layer):
            layer.name = lname  # a get_config() returning only its own arguments: the entry names the layer
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{where}: {exc}") from None
    if not isinstance(layer, Layer):
        raise ValueError(f"{where}: {cls.__name__}.from_config returned {type(layer).__name__}, not a layer")
    return layer


def _collect_refs(value, found: list, where: str, depth: int) -> None:
    """Every keras_history reference in a node's raw (JSON) arguments, checked for form."""
    if depth > _MAX_VALUE_DEPTH:
        raise ValueError(f"{where}: arguments nested more than {_MAX_VALUE_DEPTH} levels deep")
    if isinstance(value, list):
        for v in value:
            _collect_refs(v, found, where, depth + 1)
    elif isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            found.append(_history(value, where))
            return
        for v in value.values():
            _collect_refs(v, found, where, depth + 1)


def _history(tag: dict, where: str) -> tuple[str, int, int]:
    cfg = tag.get("config")
    hist = cfg.get("keras_history") if isinstance(cfg, dict) else None
    if (not isinstance(hist, list) or len(hist) != 3 or not isinstance(hist[0], str)
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in hist[1:])):
        raise ValueError(f"{where}: a __keras_tensor__ needs config.keras_history = [layer name, node index, "
                         f"tensor index], got {hist!r}")
    return hist[0], hist[1], hist[2]


def _tensor_at(outputs: dict, ref: tuple, where: str) -> KerasTensor:
    name, node, index = ref
    produced = outputs.get((name, node))
    if produced is None:
        raise ValueError(f"{where}: names node {node} of layer {name!r}, which this config does not compute")
    if index >= len(produced):
        raise ValueError(f"{where}: asks for output {index} of layer {name!r} node {node}, which has {len(produced)}")
    return produced[index]


def _decode(value, outputs: dict, where: str, depth: int = 0):
    """A node argument from its JSON form (see _encode), tensors resolved to the rebuilt ones."""
    if depth > _MAX_VALUE_DEPTH:
        raise ValueError(f"{where}: arguments nested more than {_MAX_VALUE_DEPTH} levels deep")
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: the constant {value!r} is not finite")
        return value
    if isinstance(value, list):
        return [_decode(v, outputs, where, depth + 1) for v in value]
    if not isinstance(value, dict):
        raise ValueError(f"{where}: unexpected argument {value!r:.60}")
    tag = value.get("class_name")
    if tag is None:
        return {k: _decode(v, outputs, where, depth + 1) for k, v in value.items()}
    body = value.get("config")
    if set(value) != {"class_name", "config"} or not isinstance(body, dict):
        raise ValueError(f"{where}: a tagged argument ({tag!r}) must be exactly {{'class_name', 'config': {{...}}}}")
    if tag == "__keras_tensor__":
        t = _tensor_at(outputs, _history(value, where), where)
        shape, dtype = body.get("shape"), body.get("dtype")
        if shape is not None and shape != list(t.shape):
            raise ValueError(f"{where}: a __keras_tensor__ says shape {shape}, but {t.name!r} has shape {list(t.shape)}")
        if dtype is not None and dtype != t.dtype.name:
            raise ValueError(f"{where}: a __keras_tensor__ says dtype {dtype!r}, but {t.name!r} is {t.dtype.name}")
        return t
    if tag == "__tuple__":
        items = body.get("value")
        if not isinstance(items, list):
            raise ValueError(f"{where}: a __tuple__ needs config.value = [...]")
        return tuple(_decode(v, outputs, where, depth + 1) for v in items)
    if tag == "__dict__":
        items = body.get("value")
        if not isinstance(items, dict):
            raise ValueError(f"{where}: a __dict__ needs config.value = {{...}}")
        return {k: _decode(v, outputs, where, depth + 1) for k, v in items.items()}
    if tag == "__slice__":
        parts = [_decode(body.get(k), outputs, where, depth + 1) for k in ("start", "stop", "step")]
        if any(p is not None and (isinstance(p, bool) or not isinstance(p, int)) for p in parts):
            raise ValueError(f"{where}: a __slice__ holds ints or null, got {parts}")
        return slice(*parts)
    if tag == "__ellipsis__":
        return Ellipsis
    if tag == "__numpy__":
        dtype = body.get("dtype")
        try:
            dt = np.dtype(dtype) if isinstance(dtype, str) else None
        except TypeError:
            dt = None
        if dt is None or dt.kind not in "biuf":
            raise ValueError(f"{where}: a __numpy__ constant needs a numeric config.dtype, got {dtype!r}")
        data = body.get("value")
        count = _count_numbers(data, where, depth)
        if count > MAX_CONSTANT_ELEMENTS:
            raise ValueError(f"{where}: a __numpy__ constant of {count:,} values; at most {MAX_CONSTANT_ELEMENTS:,}")
        try:
            arr = np.array(data, dtype=dt)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ValueError(f"{where}: bad __numpy__ constant: {exc}") from None
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ValueError(f"{where}: a __numpy__ constant holds NaN or infinite values")
        return arr
    raise ValueError(f"{where}: unknown tagged argument class_name {tag!r}")


def _count_numbers(data, where: str, depth: int) -> int:
    if depth > _MAX_VALUE_DEPTH:
        raise ValueError(f"{where}: a __numpy__ constant is nested too deeply")
    if isinstance(data, list):
        return sum(_count_numbers(v, where, depth + 1) for v in data)
    if isinstance(data, bool) or isinstance(data, (int, float)):
        return 1
    raise ValueError(f"{where}: a __numpy__ constant holds {data!r:.40}, not a number")


def _structure_from_refs(spec, outputs: dict, field: str, depth: int):
    """input_layers / output_layers: a [name, node, tensor] triple, a list of them or a dict."""
    if depth > _MAX_VALUE_DEPTH:
        raise ValueError(f"functional model config field {field!r} is nested too deeply")
    where = f"functional model config field {field!r}"
    if isinstance(spec, list) and len(spec) == 3 and isinstance(spec[0], str):
        ref = _history({"config": {"keras_history": spec}}, where)
        return _tensor_at(outputs, ref, where)
    if isinstance(spec, list) and spec:
        return [_structure_from_refs(s, outputs, field, depth + 1) for s in spec]
    if isinstance(spec, dict) and spec:
        return {k: _structure_from_refs(v, outputs, field, depth + 1) for k, v in spec.items()}
    raise ValueError(f"{where} must be a [layer name, node index, tensor index] triple, or a non-empty list or dict "
                     f"of them, got {spec!r:.80}")


def _call_node(obj, kind: str, lname: str, k: int, node: dict, outputs: dict, budget: _Budget) -> list:
    """Make one recorded call on the rebuilt tensors; its outputs, flattened."""
    where = f"layer {lname!r} inbound node {k}"
    args = [_decode(a, outputs, where) for a in node.get("args", [])]
    kwargs = {key: _decode(v, outputs, where) for key, v in node.get("kwargs", {}).items()}
    tensors = [t for t in flatten((args, kwargs)) if isinstance(t, KerasTensor)]
    try:
        if kind == "op":
            op_name = obj[1]
            _check_op_size(op_name, args, kwargs, tensors, where, budget)
            result = symbolic.call_op(_op_tables()[0][op_name].__wrapped__, tuple(args), kwargs)
        else:
            if not args:
                raise ValueError("a layer call needs its inputs as the first argument")
            _check_layer_size(obj, args[0], where, budget)
            result = obj(*args, **kwargs)
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise ValueError(f"{where}: {exc}") from None
    flat = [t for t in flatten(result) if isinstance(t, KerasTensor)]
    if not flat:
        raise ValueError(f"{where}: the call returned no tensor")
    for t in flat:
        budget.add_probe(_probe_size(t.shape) if t.shape else 1, where)
    return flat


def _check_layer_size(layer, inputs, where: str, budget: _Budget) -> None:
    """A built-in layer's weights and output size from its input shape, before it allocates any."""
    if layer.built or not isinstance(inputs, KerasTensor) or not type(layer).runs_a_kernel():
        return
    shape = (None,) + tuple(PROBE_LENGTH[1] if d is None else d for d in inputs.shape[1:])
    try:
        layer._check_input_rank((1,) + shape[1:])
        budget.add_params(layer.params_for(shape), where)
        if type(layer).compute_output_shape is not Layer.compute_output_shape:  # the default would run it
            out = layer.compute_output_shape(shape)
            budget.add_probe(_probe_size(out), where)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{type(layer).__name__}: {exc}") from None


def _check_op_size(public: str, args, kwargs, tensors: list, where: str, budget: _Budget) -> None:
    op = op_kind(public)
    sizes = [_probe_size(t.shape) for t in tensors]
    if op in _NON_GROWING:
        return
    if op in _SUMMING:
        bound = sum(sizes)
    elif op == "getitem" and len(args) == 2 and isinstance(args[0], KerasTensor):
        # ints, slices, None and ... never grow a tensor; each list / array in the key may repeat
        # entries: at most its length times
        key = args[1] if isinstance(args[1], tuple) else (args[1],)
        bound = sizes[0]
        for k in key:
            if isinstance(k, (list, np.ndarray)):
                bound *= max(1, len(flatten(k)) if isinstance(k, list) else k.size)
    elif op == "pad" and args and isinstance(args[0], KerasTensor):
        pads = args[1] if len(args) > 1 else kwargs.get("paddings")
        flat = [p for p in flatten(pads if isinstance(pads, (list, tuple)) else [])
                if isinstance(p, (int, np.integer)) and not isinstance(p, bool)]
        dims = [2 if d is None else d for d in args[0].shape]
        if len(flat) != 2 * len(dims):
            raise ValueError(f"pad: paddings must be [{len(dims)}, 2] ints, got {pads!r:.60}")
        bound = math.prod(d + abs(int(a)) + abs(int(b)) for d, a, b in zip(dims, flat[0::2], flat[1::2]))
    elif op in _BROADCASTING:
        shapes = [tuple(2 if d is None else d for d in t.shape) for t in tensors]
        shapes += [np.shape(a) for a in flatten((args, kwargs)) if isinstance(a, np.ndarray)]
        try:
            bound = math.prod(np.broadcast_shapes(*shapes))
        except ValueError as exc:
            raise ValueError(f"{op}: {exc}") from None
    elif op in ("matmul", "dot") and len(tensors) + sum(isinstance(a, np.ndarray) for a in args[:2]) >= 2:
        a, b = (tuple(2 if d is None else d for d in x.shape) if isinstance(x, KerasTensor) else np.shape(x)
                for x in args[:2])
        bound = math.prod(a[:-1] or (1,)) * (b[-1] if len(b) >= 2 else 1) * max(
            math.prod(a[:-2] or (1,)), math.prod(b[:-2] or (1,)), 1)
    else:
        bound = math.prod(sizes)
        for c in flatten((args, kwargs)):
            if isinstance(c, (bool, np.bool_)) or c is None:
                continue
            if isinstance(c, (int, np.integer)):
                bound *= max(1, abs(int(c)))
            elif isinstance(c, np.ndarray):
                bound *= max(1, c.size) * (max(1, int(np.abs(c).max())) if c.size and c.dtype.kind in "iu" else 1)
    budget.add_probe(int(bound), f"{where} ({public})")
