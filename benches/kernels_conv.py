"""Conv2D and pooling kernels at the seed ConvNet's shapes, ours vs PyTorch CPU (oneDNN defaults).

    python benches/bench_kernels.py conv

Seed ConvNet: Conv2D(32, 3x3) on 28x28x1 -> Conv2D(64, 3x3) -> Flatten -> Dense -> Dense.
"fwd+bwd" is one training step's work for the layer: forward, then dW, db (and dx except for the
first layer, whose input needs no gradient: need_dx=False here, requires_grad=False in torch).
The plain cases have no activation. The "relu" cases are the seed ConvNet's layers as the Conv2D
layer runs them: "fused" passes the activation to conv2d_forward/backward (backward takes y),
"split" is the old composition (conv, activation_forward, activation_backward on fresh arrays);
torch runs F.relu(F.conv2d(...)). "b1 relu fwd" is single-image inference (model.predict).
"""

from __future__ import annotations

import numpy as np

from _harness import Case

import aiaas_core
from aiaas_core import _core

LAYERS = [
    # name, input HxWxC, kernel [KH,KW,C,F], needs dx
    ("conv1 28x28x1->3x3x32", (28, 28, 1), (3, 3, 1, 32), False),
    ("conv2 26x26x32->3x3x64", (26, 26, 32), (3, 3, 32, 64), True),
]


def conv_cases(torch, batch: int, name: str, hwc, kshape, need_dx: bool) -> list[Case]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, *hwc), dtype=np.float32)
    w = (rng.standard_normal(kshape, dtype=np.float32) * 0.1).astype(np.float32)
    b = np.zeros(kshape[3], np.float32)
    y = _core.conv2d_forward(x, w, b)
    dy = rng.standard_normal(y.shape, dtype=np.float32)
    fwd_flops = 2.0 * y.size * kshape[0] * kshape[1] * kshape[2]

    def ours_fwd():
        return _core.conv2d_forward(x, w, b)

    def ours_step():
        _core.conv2d_forward(x, w, b)
        return _core.conv2d_backward(x, w, dy, need_dx=need_dx)

    t_fwd = t_step = None
    if torch is not None:
        F = torch.nn.functional
        tx = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).requires_grad_(need_dx)
        tw = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1))).requires_grad_(True)
        tb = torch.from_numpy(b.copy()).requires_grad_(True)
        tdy = torch.from_numpy(np.ascontiguousarray(dy.transpose(0, 3, 1, 2)))

        def t_fwd():
            with torch.no_grad():
                return F.conv2d(tx, tw, tb)

        def t_step():
            tx.grad = tw.grad = tb.grad = None
            F.conv2d(tx, tw, tb).backward(tdy)

    tag = f"{name} b{batch}"
    return [
        Case(f"{tag} fwd", ours_fwd, torch=t_fwd, flops=fwd_flops),
        Case(f"{tag} fwd+bwd", ours_step, torch=t_step, flops=fwd_flops * (3 if need_dx else 2)),
    ]


def relu_cases(torch, batch: int, name: str, hwc, kshape, need_dx: bool) -> list[Case]:
    """The layer with its relu: fused into the conv kernels vs the split composition, and torch."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((batch, *hwc), dtype=np.float32)
    w = (rng.standard_normal(kshape, dtype=np.float32) * 0.1).astype(np.float32)
    b = (rng.standard_normal(kshape[3], dtype=np.float32) * 0.1).astype(np.float32)
    y = _core.conv2d_forward(x, w, b, activation="relu")
    dy = rng.standard_normal(y.shape, dtype=np.float32)
    fwd_flops = 2.0 * y.size * kshape[0] * kshape[1] * kshape[2]
    step_flops = fwd_flops * (3 if need_dx else 2)

    def fused_step():
        yy = _core.conv2d_forward(x, w, b, (1, 1), "valid", "relu")
        return _core.conv2d_backward(x, w, dy, (1, 1), "valid", need_dx, y=yy, activation="relu")

    def split_step():
        z = _core.conv2d_forward(x, w, b)
        yy = _core.activation_forward(z, "relu")
        dz = _core.activation_backward(z, yy, dy, "relu")
        return _core.conv2d_backward(x, w, dz, (1, 1), "valid", need_dx)

    t_fwd = t_step = None
    if torch is not None:
        F = torch.nn.functional
        tx = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).requires_grad_(need_dx)
        tw = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1))).requires_grad_(True)
        tb = torch.from_numpy(b.copy()).requires_grad_(True)
        tdy = torch.from_numpy(np.ascontiguousarray(dy.transpose(0, 3, 1, 2)))

        def t_fwd():
            with torch.no_grad():
                return F.relu(F.conv2d(tx, tw, tb))

        def t_step():
            tx.grad = tw.grad = tb.grad = None
            F.relu(F.conv2d(tx, tw, tb)).backward(tdy)

    tag = f"{name} b{batch} relu"
    if batch == 1:
        return [Case(f"{tag} fwd", lambda: _core.conv2d_forward(x, w, b, (1, 1), "valid", "relu"), torch=t_fwd,
                     flops=fwd_flops)]
    return [
        Case(f"{tag} fwd+bwd fused", fused_step, torch=t_step, flops=step_flops),
        Case(f"{tag} fwd+bwd split", split_step, torch=t_step, flops=step_flops),
    ]


def pool_cases(torch, batch: int) -> list[Case]:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, 26, 26, 32), dtype=np.float32)
    y, arg = _core.maxpool2d_forward(x, (2, 2), (2, 2))
    dy = rng.standard_normal(y.shape, dtype=np.float32)

    def ours_step():
        _, a = _core.maxpool2d_forward(x, (2, 2), (2, 2))
        return _core.maxpool2d_backward(dy, a, x.shape)

    t_step = None
    if torch is not None:
        F = torch.nn.functional
        tx = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).requires_grad_(True)
        tdy = torch.from_numpy(np.ascontiguousarray(dy.transpose(0, 3, 1, 2)))

        def t_step():
            tx.grad = None
            F.max_pool2d(tx, 2, 2).backward(tdy)

    return [
        Case(f"maxpool 2x2 26x26x32 b{batch} fwd",
             lambda: _core.maxpool2d_forward(x, (2, 2), (2, 2)),
             torch=(lambda: F.max_pool2d(tx.detach(), 2, 2)) if torch is not None else None),
        Case(f"maxpool 2x2 26x26x32 b{batch} fwd+bwd", ours_step, torch=t_step),
    ]


def cases(torch, threads: int) -> list[Case]:
    aiaas_core.set_num_threads(threads)
    out: list[Case] = []
    for batch in (32, 128):
        for name, hwc, kshape, need_dx in LAYERS:
            out += conv_cases(torch, batch, name, hwc, kshape, need_dx)
    for batch in (32, 1):
        for name, hwc, kshape, need_dx in LAYERS:
            out += relu_cases(torch, batch, name, hwc, kshape, need_dx)
    for batch in (32, 128):
        out += pool_cases(torch, batch)
    return out
