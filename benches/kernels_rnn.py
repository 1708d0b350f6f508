"""LSTM and GRU kernels, ours vs torch.nn.LSTM / torch.nn.GRU (batch_first), same shapes and threads.

    python benches/bench_kernels.py rnn

Shapes: (batch 32, 10 steps, 1 input, 32 units), a univariate series model like the sunspots seed,
and (batch 64, 28 steps, 28 inputs, 128 units), MNIST rows read as a sequence.
"fwd+bwd" is one training step's work for a first layer with return_sequences=False: forward over
all steps, then BPTT from a gradient on the last hidden state only, weights' gradients, no dx
(need_dx=False here, requires_grad=False on torch's input). Weights differ between the two sides
(torch uses its own init); the work does not depend on the values.
"""

from __future__ import annotations

import numpy as np

from _harness import Case

import aiaas_core
from aiaas_core import _core

SHAPES = [(32, 10, 1, 32), (64, 28, 28, 128)]  # (batch, steps, inputs, units)

# name: (gates, bias shape for H units, forward, backward, torch module name)
CELLS = {
    "LSTM": (4, lambda h: (4 * h,), _core.lstm_forward, _core.lstm_backward, "LSTM"),
    "GRU": (3, lambda h: (2, 3 * h), _core.gru_forward, _core.gru_backward, "GRU"),
}


def _flops(cell: str, n: int, t: int, d: int, h: int) -> float:
    """Forward multiply-adds x2 of the input and recurrent products (elementwise gate math not counted)."""
    gates = CELLS[cell][0]
    return 2.0 * n * t * (d + h) * gates * h


def rnn_cases(torch, cell: str, n: int, t: int, d: int, h: int) -> list[Case]:
    gates, bias_shape, fwd, bwd, torch_name = CELLS[cell]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, t, d), dtype=np.float32)
    w = (rng.standard_normal((d, gates * h), dtype=np.float32) / np.sqrt(d)).astype(np.float32)
    u = (rng.standard_normal((h, gates * h), dtype=np.float32) / np.sqrt(h)).astype(np.float32)
    b = np.zeros(bias_shape(h), np.float32)
    dhs = np.zeros((n, t, h), np.float32)
    dhs[:, -1] = rng.standard_normal((n, h), dtype=np.float32)  # return_sequences=False

    def ours_fwd():
        return fwd(x, w, u, b)

    def ours_step():
        hs, cache = fwd(x, w, u, b)
        return bwd(x, w, u, hs, cache, dhs, need_dx=False)

    t_fwd = t_step = None
    if torch is not None:
        layer = getattr(torch.nn, torch_name)(d, h, batch_first=True)
        tx = torch.from_numpy(x)
        tdh = torch.from_numpy(dhs[:, -1].copy())

        def t_fwd():
            with torch.no_grad():
                return layer(tx)

        def t_step():
            layer.zero_grad(set_to_none=True)
            out, _ = layer(tx)
            out[:, -1].backward(tdh)

    flops = _flops(cell, n, t, d, h)
    tag = f"{cell} b{n} t{t} d{d} h{h}"
    return [
        Case(f"{tag} fwd", ours_fwd, torch=t_fwd, flops=flops),
        # backward: dW, dU products (2x forward's), no dx product
        Case(f"{tag} fwd+bwd", ours_step, torch=t_step, flops=3 * flops),
    ]


def cases(torch, threads: int) -> list[Case]:
    aiaas_core.set_num_threads(threads)
    out: list[Case] = []
    for cell in CELLS:
        for n, t, d, h in SHAPES:
            out += rnn_cases(torch, cell, n, t, d, h)
    return out
