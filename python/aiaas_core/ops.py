"""Array operations backed by the Rust core (multithreaded, GIL released)."""

from __future__ import annotations

import numpy as np

from . import _core
from ._arrays import as_float32


def matmul(a, b, *, transpose_a: bool = False, transpose_b: bool = False) -> np.ndarray:
    """`op(a) @ op(b)` in float32, like numpy's `@` for 1-D, 2-D and batched 3-D operands.

    a: [K] | [M,K] | [B,M,K]; b: [K] | [K,N] | [B,K,N] (a batch of 1 or a 2-D operand broadcasts).
    `transpose_a` / `transpose_b` transpose the last two axes without a copy.
    C-contiguous float32 input is used in place; anything else numeric is converted (copied).
    """
    a = as_float32(a, "a", ndim=(1, 2, 3))
    b = as_float32(b, "b", ndim=(1, 2, 3))
    # 1-D operands: promote as numpy does, then drop the added axis from the result.
    squeeze_first = a.ndim == 1
    squeeze_last = b.ndim == 1
    if squeeze_first:
        if transpose_a:
            raise ValueError("transpose_a needs a 2-D or 3-D a, got a 1-D array")
        a = a[None, :]
    if squeeze_last:
        if transpose_b:
            raise ValueError("transpose_b needs a 2-D or 3-D b, got a 1-D array")
        b = b[:, None]
    out = _core.matmul(a, b, transpose_a, transpose_b)
    if squeeze_last:
        out = out[..., 0]
    if squeeze_first:
        out = out[..., 0, :] if not squeeze_last else out[..., 0]
    return out
