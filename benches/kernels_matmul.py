"""Matrix multiply: aiaas_core.ops.matmul vs numpy (OpenBLAS) vs torch.mm, float32, same threads.

Square N x N products for N = 128 ... 2048 (flops = 2 N^3), then the shapes training runs:
dense layers' forward and both backward products (transposed operands) and a batched product.
"""

from __future__ import annotations

import numpy as np

from aiaas_core import kernels as ops
from _harness import Case

SQUARE = [128, 256, 512, 1024, 2048]

# (name, m, k, n, transpose_a, transpose_b): op(a)[m,k] @ op(b)[k,n].
TRAINING = [
    ("dense fwd 32x100 @ 100x64", 32, 100, 64, False, False),
    ("conv im2col 128x288 @ 288x64", 128, 288, 64, False, False),
    ("dW = x^T dy 288x128^T @ 128x64", 288, 128, 64, True, False),
    ("dx = dy W^T 128x64 @ 288x64^T", 128, 64, 288, False, True),
    ("rnn 64x28 @ 28x512", 64, 28, 512, False, False),
    ("mnist dense 256x784 @ 784x128", 256, 784, 128, False, False),
    # Single-sample Dense layer (the skinny path): forward, dx = dy W^T, and a matrix-vector.
    ("1 sample fwd 1x36864 @ 36864x128", 1, 36864, 128, False, False),
    ("1 sample fwd 1x128 @ 128x10", 1, 128, 10, False, False),
    ("1 sample dx 1x128 @ 36864x128^T", 1, 128, 36864, False, True),
    ("matvec 4096x4096 @ 4096x1", 4096, 4096, 1, False, False),
]


def _rand(rng, shape):
    return rng.standard_normal(shape, dtype=np.float32)


def _case(name, a, b, ta, tb, torch, flops):
    """One Case where every library computes op(a) @ op(b) on the same stored arrays."""
    a_np = a.T if ta else a
    b_np = b.T if tb else b
    torch_fn = None
    if torch is not None:
        at, bt = torch.from_numpy(a), torch.from_numpy(b)
        at, bt = (at.T if ta else at), (bt.T if tb else bt)
        torch_fn = (lambda: torch.mm(at, bt)) if a.ndim == 2 else (lambda: torch.matmul(at, bt))
    return Case(
        name=name,
        ours=lambda: ops.matmul(a, b, transpose_a=ta, transpose_b=tb),
        numpy=lambda: a_np @ b_np,
        torch=torch_fn,
        flops=flops,
    )


def cases(torch, threads):
    rng = np.random.default_rng(0)
    out = []
    for n in SQUARE:
        a, b = _rand(rng, (n, n)), _rand(rng, (n, n))
        out.append(_case(f"square N={n}", a, b, False, False, torch, 2.0 * n**3))
    for n in (512, 1024):
        a, b = _rand(rng, (n, n)), _rand(rng, (n, n))
        out.append(_case(f"square N={n} a^T @ b^T", a, b, True, True, torch, 2.0 * n**3))
    for name, m, k, n, ta, tb in TRAINING:
        a = _rand(rng, (k, m) if ta else (m, k))
        b = _rand(rng, (n, k) if tb else (k, n))
        out.append(_case(name, a, b, ta, tb, torch, 2.0 * m * k * n))
    a, b = _rand(rng, (64, 32, 48)), _rand(rng, (64, 48, 40))
    out.append(_case("batched 64 x (32x48 @ 48x40)", a, b, False, False, torch, 2.0 * 64 * 32 * 48 * 40))
    return out
