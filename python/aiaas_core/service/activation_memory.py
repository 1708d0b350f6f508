"""The memory the layer outputs of a batch need: one training batch (checked when a job is submitted)
and one explanation's path of inputs (checked before it runs in the API process).

The weight limit (catalog.check_catalog_fits / model_from_config) bounds the parameters, not the
activations: a ConvNet of 512-filter layers on 64x64 images with batch_size=100 holds gigabytes of layer
outputs per step, and a worker that runs out of memory is killed by the kernel, restarted, and killed
again; an explanation of such a model runs steps+1 inputs through it, forward and backward, inside
the API process itself. The estimate walks the layers' output shapes without building anything: every
layer output of the batch is kept for the backward pass, which needs as much again for its gradients.
"""

from __future__ import annotations

import math
from .errors import ApiError

MAX_BATCH_ACTIVATION_BYTES = 2 * 1024**3
BYTES_PER_VALUE = 4 * 2  # float32 outputs, and their gradients in the backward pass


def values_per_sample(layers: list, x_shape: tuple[int, ...]) -> int:
    """The input and every layer output of one sample, counted from the shapes alone."""
    shape: tuple = (None, *x_shape)
    total = math.prod(x_shape)
    for layer in layers:
        shape = tuple(layer.compute_output_shape(shape))
        total += math.prod(int(d) for d in shape[1:])
    return total


def check_batch_memory(layers: list, x_shape: tuple[int, ...], batch_size: int, rows: int) -> None:
    """422 naming a batch_size that fits, when one training batch through `layers` (the model's, built
    or not) would need more than the limit."""
    batch = max(1, min(int(batch_size), int(rows)))
    per_sample = values_per_sample(layers, tuple(x_shape))
    need = per_sample * batch * BYTES_PER_VALUE
    if need > MAX_BATCH_ACTIVATION_BYTES:
        fits = max(1, MAX_BATCH_ACTIVATION_BYTES // (per_sample * BYTES_PER_VALUE))
        raise ApiError(422, f"one training batch of {batch} samples would hold about {need / 2**30:.1f} GiB of layer "
                            f"outputs ({per_sample:,} values per sample), over the limit of "
                            f"{MAX_BATCH_ACTIVATION_BYTES / 2**30:.0f} GiB; use batch_size <= {fits} or a smaller model")


def check_explanation_memory(model, input_shape: tuple[int, ...], points: int) -> None:
    """413 naming the steps that fit, when `points` inputs through `model` (forward and backward)
    would need more than the limit."""
    per_sample = values_per_sample(list(model.layers), tuple(input_shape))
    need = per_sample * points * BYTES_PER_VALUE
    if need > MAX_BATCH_ACTIVATION_BYTES:
        fits = max(1, MAX_BATCH_ACTIVATION_BYTES // (per_sample * BYTES_PER_VALUE) - 1)
        raise ApiError(413, f"an explanation with {points - 1} steps would hold about {need / 2**30:.1f} GiB of layer "
                            f"outputs ({per_sample:,} values per input), over the limit of "
                            f"{MAX_BATCH_ACTIVATION_BYTES / 2**30:.0f} GiB; use steps <= {fits}")
