"""`model.summary()`: a Keras-like table of layers, output shapes and parameter counts."""

from __future__ import annotations

import itertools
import textwrap

from ...ops.symbolic import KerasTensor, flatten
from .functional import Functional
from .functional_config import op_display_names
from .trace import record_calls


def _output_shapes(model) -> dict[int, tuple]:
    """Output shape per layer id: from the build chain (Sequential) or a recorded probe call."""
    shapes: dict[int, tuple] = {}
    if hasattr(model, "kernel_chain") and model._build_input_shape is not None:
        shape = model._build_input_shape
        for layer in model.layers:
            shape = tuple(layer.compute_output_shape(shape))
            shapes[id(layer)] = shape
        return shapes
    for layer, _, y in record_calls(model)[0]:
        shapes.setdefault(id(layer), (None,) + tuple(y.shape[1:]))
    return shapes


def summary(model, line_length: int | None = None, print_fn=None) -> None:
    model._require_built("summary")
    print_fn = print_fn or print
    if line_length is not None and (isinstance(line_length, bool) or not isinstance(line_length, int)
                                    or not 30 <= line_length <= 1000):
        raise ValueError(f"summary: line_length must be an int in [30, 1000], got {line_length!r}")
    if not callable(print_fn):
        raise TypeError(f"summary: print_fn must be callable (like print), got {print_fn!r}")
    functional = isinstance(model, Functional)
    width = line_length or (98 if functional else 78)
    if functional:  # a graph: a fourth column says where each layer's inputs come from
        cols = (int(width * 0.32), int(width * 0.24), int(width * 0.12))
        cols += (width - sum(cols),)
    else:
        cols = (int(width * 0.45), int(width * 0.33), width - int(width * 0.45) - int(width * 0.33))

    def rows(*cells) -> list[str]:
        # A cell wider than its column wraps onto the next lines (as Keras's table does), so the
        # columns never run together.
        parts = [textwrap.wrap(str(c), w - 1, break_on_hyphens=False) or [""] for c, w in zip(cells, cols)]
        return ["".join(p.ljust(w) for p, w in zip(line, cols)).rstrip()
                for line in itertools.zip_longest(*parts, fillvalue="")]

    if functional:
        lines = [f'Model: "{model.name}"', "_" * width,
                 *rows("Layer (type)", "Output Shape", "Param #", "Connected to"), "=" * width]
        for cells in _functional_rows(model):
            lines += rows(*cells)
    else:
        shapes = _output_shapes(model)
        lines = [f'Model: "{model.name}"', "_" * width, *rows("Layer (type)", "Output Shape", "Param #"), "=" * width]
        for layer in model.layers:
            shape = shapes.get(id(layer))
            params = layer.count_params() if layer.built else 0
            lines += rows(f"{layer.name} ({type(layer).__name__})", shape if shape is not None else "?", f"{params:,}")
    lines.append("=" * width)
    total = model.count_params()
    trainable = int(sum(w.value.size for w in model.trainable_weights))
    lines += [f"Total params: {total:,}", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}", "_" * width]
    for line in lines:
        print_fn(line)


def _shape_text(outputs) -> str:
    shapes = [tuple(t.shape) for t in flatten(outputs) if isinstance(t, KerasTensor)]
    return str(shapes[0]) if len(shapes) == 1 else ", ".join(str(sh) for sh in shapes)


def _functional_rows(model) -> list[tuple]:
    """(name (type), output shape, params, connected to) per input, layer and op of the graph, in
    the order they run. A shared layer is one row: its output shape per call when they differ, and
    every call's inputs ("dense[1][0]": output 0 of that layer's call 1, as Keras prints them)."""
    produced: dict[int, str] = {}
    for t in model._flat_inputs:
        produced[id(t)] = f"{t._input_layer.name}[0][0]"
    op_names = op_display_names(model)
    calls: dict[int, int] = {}
    rows: list[list] = []
    by_layer: dict[int, list] = {}
    for t in dict.fromkeys(model._flat_inputs):  # an Input listed twice in inputs= is one row
        layer = t._input_layer
        rows.append([f"{layer.name} (InputLayer)", str(tuple(t.shape)), "0", ""])
    for node in model._nodes:
        sources = [produced.get(id(t), "?") for t in node.inputs()]
        if node.layer is not None:
            layer = node.layer
            index = calls.get(id(layer), 0)
            calls[id(layer)] = index + 1
            label = layer.name
            row = by_layer.get(id(layer))
            if row is None:
                params = layer.count_params() if layer.built else 0
                row = [f"{layer.name} ({type(layer).__name__})", _shape_text(node.outputs), f"{params:,}", sources]
                by_layer[id(layer)] = row
                rows.append(row)
            else:  # a shared layer: one row listing every call
                shape = _shape_text(node.outputs)
                if shape not in row[1].split(" | "):
                    row[1] = f"{row[1]} | {shape}"
                row[3] = row[3] + sources
        else:
            index = 0
            label, public = op_names[node.id]
            rows.append([f"{label} ({public})", _shape_text(node.outputs), "0", sources])
        outs = [t for t in flatten(node.outputs) if isinstance(t, KerasTensor)]
        for k, t in enumerate(outs):
            produced[id(t)] = f"{label}[{index}][{k}]"
    out = []
    for name, shape, params, sources in rows:
        if isinstance(sources, str):
            out.append((name, shape, params, sources))
            continue
        # One source per line of the last column: the first with the row, the rest below it.
        out.append((name, shape, params, sources[0] if sources else ""))
        out.extend(("", "", "", src) for src in sources[1:])
    return out
