"""Small and memory-bound kernels: Dense at the seed MLP's shape, fused softmax cross-entropy, Adam
over 5M parameters, and activations over 4M floats; ours vs numpy vs PyTorch CPU, same threads.

    python benches/bench_kernels.py elem

Each case does the same work on every side:
- dense: y = relu(x W + b), then dx, dW, db (a hidden layer: dx is needed). Batch 32, 100 -> 64.
- softmax-CE: mean sparse categorical cross-entropy from logits and its gradient, batch 256.
- Adam: one update of 5M float32 parameters (a 4M and a 1M tensor) with their m and v.
  Bytes per parameter: read p, g, m, v and write p, m, v = 28.
- activations: y = f(x) for x of 4096 x 1024 floats (softmax over the 1024); 8 bytes per element.
  Backward (sigmoid, softmax): dx from y and dy, torch's own backward ops; 12 bytes per element.
`report` prints GB/s for the memory-bound cases after the timing table.
"""

from __future__ import annotations

import itertools

import numpy as np

from _harness import Case, print_bandwidth

import aiaas_core
from aiaas_core import _core

ACT_SHAPE = (4096, 1024)
ADAM_SIZES = (4_000_000, 1_000_000)

# case name -> bytes moved per call (for GB/s)
BYTES: dict[str, float] = {}


def dense_cases(torch) -> list[Case]:
    n, d, u = 32, 100, 64
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d), dtype=np.float32)
    w = (rng.standard_normal((d, u), dtype=np.float32) * 0.1).astype(np.float32)
    b = np.zeros(u, np.float32)
    dy = rng.standard_normal((n, u), dtype=np.float32)

    def ours():
        y = _core.dense_forward(x, w, b, "relu")
        return _core.dense_backward(x, w, y, dy, "relu")

    def numpy_step():
        y = np.maximum(x @ w + b, 0.0)
        dz = dy * (y > 0)
        return dz @ w.T, x.T @ dz, dz.sum(axis=0)

    t_step = None
    if torch is not None:
        layer = torch.nn.Linear(d, u)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))  # Linear's [U, D]
            layer.bias.copy_(torch.from_numpy(b))
        tx = torch.from_numpy(x).requires_grad_(True)
        tdy = torch.from_numpy(dy)

        def t_step():
            tx.grad = None
            layer.zero_grad(set_to_none=True)
            torch.relu(layer(tx)).backward(tdy)

    return [Case(f"dense relu b{n} {d}->{u} fwd+bwd", ours, torch=t_step, numpy=numpy_step,
                 flops=3 * 2.0 * n * d * u)]


def softmax_ce_cases(torch, classes: int, batch: int = 256) -> list[Case]:
    rng = np.random.default_rng(1)
    z = rng.standard_normal((batch, classes), dtype=np.float32)
    ids = rng.integers(0, classes, batch)
    rows = np.arange(batch)

    def ours():
        return _core.loss_forward_backward("sparse_categorical_crossentropy", z, ids, True)

    def numpy_step():
        m = z.max(axis=1, keepdims=True)
        e = np.exp(z - m)
        s = e.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(s[:, 0]) + m[:, 0] - z[rows, ids]))
        g = e / s
        g[rows, ids] -= 1.0
        g /= batch
        return loss, g

    t_step = None
    if torch is not None:
        F = torch.nn.functional
        tz = torch.from_numpy(z.copy()).requires_grad_(True)
        tids = torch.from_numpy(ids)

        def t_step():
            tz.grad = None
            F.cross_entropy(tz, tids).backward()

    name = f"softmax-CE b{batch} C={classes} fwd+bwd"
    BYTES[name] = 2 * 4.0 * z.size  # read logits, write gradient
    return [Case(name, ours, torch=t_step, numpy=numpy_step)]


def adam_cases(torch) -> list[Case]:
    rng = np.random.default_rng(2)
    params = [rng.standard_normal(s, dtype=np.float32) for s in ADAM_SIZES]
    grads = [rng.standard_normal(s, dtype=np.float32) for s in ADAM_SIZES]
    ms = [np.zeros(s, np.float32) for s in ADAM_SIZES]
    vs = [np.zeros(s, np.float32) for s in ADAM_SIZES]
    step = itertools.count(1)
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-7

    def ours():
        _core.adam_update(params, grads, ms, vs, lr, next(step))

    # numpy: the same Keras formula with in-place ufuncs (one temporary per tensor)
    np_params = [p.copy() for p in params]
    np_ms = [np.zeros_like(p) for p in params]
    np_vs = [np.zeros_like(p) for p in params]
    np_step = itertools.count(1)

    def numpy_step():
        t = next(np_step)
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        for p, g, m, v in zip(np_params, grads, np_ms, np_vs):
            m += (g - m) * (1 - b1)
            v += (g * g - v) * (1 - b2)
            tmp = np.sqrt(v)
            tmp += eps
            np.divide(m, tmp, out=tmp)
            tmp *= alpha
            p -= tmp

    t_step = None
    if torch is not None:
        tps = [torch.from_numpy(p.copy()).requires_grad_(True) for p in params]
        for tp, g in zip(tps, grads):
            tp.grad = torch.from_numpy(g)
        opt = torch.optim.Adam(tps, lr=lr, eps=eps, foreach=True)

        def t_step():
            opt.step()

    total = sum(ADAM_SIZES)
    name = f"Adam {total / 1e6:.0f}M params"
    BYTES[name] = 28.0 * total
    return [Case(name, ours, torch=t_step, numpy=numpy_step)]


def activation_cases(torch) -> list[Case]:
    rng = np.random.default_rng(3)
    x = rng.standard_normal(ACT_SHAPE, dtype=np.float32)

    def np_softmax():
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        e /= e.sum(axis=-1, keepdims=True)
        return e

    numpy_fns = {
        "relu": lambda: np.maximum(x, 0.0),
        "sigmoid": lambda: 1.0 / (1.0 + np.exp(-x)),
        "softmax": np_softmax,
    }
    tx = torch.from_numpy(x) if torch is not None else None
    torch_fns = {
        "relu": lambda: torch.relu(tx),
        "sigmoid": lambda: torch.sigmoid(tx),
        "softmax": lambda: torch.softmax(tx, dim=-1),
    }
    out = []
    for name in ("relu", "sigmoid", "softmax"):
        case = f"{name} fwd {x.size / 1e6:.1f}M floats"
        BYTES[case] = 8.0 * x.size
        out.append(Case(case, (lambda n=name: _core.activation_forward(x, n)),
                        torch=torch_fns[name] if torch is not None else None, numpy=numpy_fns[name]))
    dy = rng.standard_normal(ACT_SHAPE, dtype=np.float32)
    ys = {name: _core.activation_forward(x, name) for name in ("sigmoid", "softmax")}

    def np_backward(name):
        y = ys[name]
        if name == "sigmoid":
            return dy * y * (1.0 - y)
        return y * (dy - (dy * y).sum(axis=-1, keepdims=True))

    torch_bwd = {}
    if torch is not None:
        tdy = torch.from_numpy(dy)
        tys = {k: torch.from_numpy(v) for k, v in ys.items()}
        torch_bwd = {
            "sigmoid": lambda: torch.ops.aten.sigmoid_backward(tdy, tys["sigmoid"]),
            "softmax": lambda: torch.ops.aten._softmax_backward_data(tdy, tys["softmax"], -1, torch.float32),
        }
    for name in ("sigmoid", "softmax"):
        case = f"{name} bwd {x.size / 1e6:.1f}M floats"
        BYTES[case] = 12.0 * x.size
        out.append(Case(case, (lambda n=name: _core.activation_backward(x, ys[n], dy, n)),
                        torch=torch_bwd.get(name), numpy=(lambda n=name: np_backward(n))))
    return out


def cases(torch, threads: int) -> list[Case]:
    aiaas_core.set_num_threads(threads)
    BYTES.clear()
    return (dense_cases(torch) + softmax_ce_cases(torch, 10) + softmax_ce_cases(torch, 1000)
            + adam_cases(torch) + activation_cases(torch))


def report(rows: list[dict]) -> None:
    """GB/s (bytes moved / median time) for the memory-bound cases."""
    print_bandwidth(rows, BYTES)
