"""`model.summary()`: a Keras-like table of layers, output shapes and parameter counts."""

from __future__ import annotations

import itertools
import textwrap

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
    width = line_length or 78
    cols = (int(width * 0.45), int(width * 0.33), width - int(width * 0.45) - int(width * 0.33))
    shapes = _output_shapes(model)

    def rows(*cells) -> list[str]:
        # A cell wider than its column wraps onto the next lines (as Keras's table does), so the
        # columns never run together.
        parts = [textwrap.wrap(str(c), w - 1, break_on_hyphens=False) or [""] for c, w in zip(cells, cols)]
        return ["".join(p.ljust(w) for p, w in zip(line, cols)).rstrip()
                for line in itertools.zip_longest(*parts, fillvalue="")]

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
