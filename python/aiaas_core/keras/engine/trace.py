"""What a built model's `call` does, observed by running it once on zeros in inference mode.

`summary()` reads the output shape of every layer call; `layer_chain()` recovers the built-in layers
of a subclassed model whose `call` applies them one after another (the seeds' ConvNet, RNN and
Autoencoder), so such a model can be exported like the equivalent Sequential.
"""

from __future__ import annotations

import numpy as np

from ...ops.tensor import wrap
from .. import backend


def record_calls(model) -> tuple[list[tuple], np.ndarray, np.ndarray]:
    """Run the built `model` once in inference mode on a zero sample; returns ([(layer, input,
    output) of every layer call, composites included], the model input, the model output)."""
    model._require_built("tracing")
    probe = wrap(np.zeros((1,) + tuple(model._build_input_shape[1:]), np.float32))  # passed through as is
    saved = backend.state.call_log
    backend.state.call_log = log = []
    try:
        out = model(probe, training=False)
    finally:
        backend.state.call_log = saved
    return log, probe, out


def layer_chain(model) -> list:
    """The built-in layers `model.call` applies, in order, when each one takes the previous one's
    output (the first takes the model input, the last gives the model output). Anything else --
    numpy arithmetic between layers, a branch, a skip connection -- is a NotImplementedError naming
    where the chain breaks."""
    calls, model_input, model_output = record_calls(model)
    chain, current = [], model_input
    for layer, x, y in calls:
        if not type(layer).runs_a_kernel():
            continue  # a nested model or user layer: its built-in layers are recorded themselves
        if x is not current:
            what = "the model input" if not chain else f"the output of {chain[-1].name!r}"
            raise NotImplementedError(
                f"{type(model).__name__}.call() is not a straight chain of layers: layer {layer.name!r} "
                f"does not take {what} (numpy operations, branches and skip connections cannot be exported)"
            )
        chain.append(layer)
        current = y
    if not chain or current is not model_output:
        raise NotImplementedError(
            f"{type(model).__name__}.call() does not return the output of its last layer"
            + (f" ({chain[-1].name!r})" if chain else "") + ": only a straight chain of layers can be exported"
        )
    return chain
