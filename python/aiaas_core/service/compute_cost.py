"""What one prediction costs, estimated from the model before it runs: floating-point operations per
input row, walked over the layers' shapes and weights (nothing is run or allocated).

Input values do not measure compute: 4,096 rows of 16 features are 65,536 values, a few microseconds
through a logistic regression and seconds through a custom 3 x Dense(2048). A request is refused (413)
when rows x FLOPs per row exceeds `AIAAS_MAX_PREDICT_FLOPS`, and the answer says how many rows fit.

The estimate: a layer with a kernel does 2 x (kernel [+ recurrent kernel] weights) FLOPs at each position
it is applied to (once per row for Dense, per output pixel for Conv2D, per timestep for recurrent layers
and for Dense on sequences); any other layer a few per output value (activations, pooling, norms).
"""

from __future__ import annotations

import math
from typing import Any

from .errors import ApiError

PER_OUTPUT_VALUE = 4  # FLOPs charged per output value of a layer without a kernel


def _size(variable: Any) -> int:
    value = getattr(variable, "value", variable)
    return int(math.prod(getattr(value, "shape", ()) or (0,)))


def _layer_flops(layer: Any, in_shape: tuple, out_shape: tuple) -> float:
    out_values = math.prod(int(d) for d in out_shape[1:])
    kernel = getattr(layer, "kernel", None)
    if kernel is None:
        return PER_OUTPUT_VALUE * out_values
    weights = _size(kernel) + _size(getattr(layer, "recurrent_kernel", None) or ())
    recurrent = getattr(layer, "recurrent_kernel", None) is not None
    if recurrent:
        positions = int(in_shape[1])  # timesteps: the cell runs once per step whatever it returns
    else:
        positions = math.prod(int(d) for d in out_shape[1:-1])  # 1 for Dense on rows, H'xW' for Conv2D
    return 2.0 * weights * positions + out_values


def flops_per_row(model: Any, input_shape: tuple[int, ...]) -> float:
    """Estimated FLOPs of one input row [*input_shape] through `model`. A graph whose layers cannot be
    walked in order falls back to 2 per weight (a lower bound for convolutions)."""
    try:
        shape: tuple = (None, *input_shape)
        total = 0.0
        for layer in model.layers:
            out = tuple(layer.compute_output_shape(shape))
            total += _layer_flops(layer, shape, out)
            shape = out
        return max(total, 1.0)
    except Exception:  # a functional graph with branches: no single chain of shapes
        return max(2.0 * sum(w.size for w in model.get_weights()), 1.0)


def check_compute(flops_row: float, rows: int, limit: int) -> None:
    """413 naming the estimate, the limit and the rows that fit, when `rows` rows cost more than `limit`."""
    need = flops_row * rows
    if need > limit:
        fits = max(0, int(limit // flops_row))
        raise ApiError(413, f"{rows} instances need about {need:,.0f} FLOPs through this model ({flops_row:,.0f} per "
                            f"instance), over the limit of {limit:,} FLOPs per request (AIAAS_MAX_PREDICT_FLOPS); "
                            f"send at most {fits} instances per request")


BACKWARD_FACTOR = 3  # a forward and a backward pass (about twice the forward) per path point


def check_explanation_compute(flops_row: float, steps: int, limit: int) -> None:
    """413 naming the steps that fit, when an explanation's steps + 1 path points, forward and backward,
    cost more than the per-request FLOP limit."""
    per_point = BACKWARD_FACTOR * flops_row
    need = per_point * (steps + 1)
    if need > limit:
        fits = max(0, int(limit // per_point) - 1)
        raise ApiError(413, f"an explanation with {steps} steps needs about {need:,.0f} FLOPs through this model, over "
                            f"the limit of {limit:,} FLOPs per request (AIAAS_MAX_PREDICT_FLOPS); use steps <= {fits}")
