"""The Rust kernels' array operations as plain float32 functions (no autodiff, no Tensor): what
the benchmarks and kernel tests call. The differentiable ops are `aiaas_core.ops`."""

from __future__ import annotations

import numpy as np

from . import _core
from ._arrays import as_float32


def _operand(x, name: str, transpose: bool) -> tuple[np.ndarray, bool]:
    """`x` as the C-contiguous float32 array the core reads, and the transpose flag to pass.

    A 2-D float32 array in Fortran order (e.g. `w.T` of a C-ordered `w`) is read as its C-ordered
    transpose with the flag flipped: no copy, and the packed kernel runs transposed operands at
    full speed anyway.
    """
    arr = np.asarray(x)
    if (
        arr.ndim == 2
        and arr.dtype == np.float32
        and arr.flags.f_contiguous
        and not arr.flags.c_contiguous
    ):
        return arr.T, not transpose
    return as_float32(arr, name, ndim=(1, 2, 3)), transpose


def matmul(a, b, *, transpose_a: bool = False, transpose_b: bool = False) -> np.ndarray:
    """`op(a) @ op(b)` in float32, like numpy's `@` for 1-D, 2-D and batched 3-D operands.

    a: [K] | [M,K] | [B,M,K]; b: [K] | [K,N] | [B,K,N] (a batch of 1 or a 2-D operand broadcasts).
    `transpose_a` / `transpose_b` transpose the last two axes without a copy.
    C-contiguous float32 input (or a 2-D Fortran-ordered one) is used in place; anything else
    numeric is converted (copied). Shape mismatch: ValueError naming both shapes; a rank other
    than 1-3 or a non-numeric dtype: TypeError.
    """
    if (
        type(a) is np.ndarray
        and type(b) is np.ndarray
        and a.ndim == 2
        and b.ndim == 2
        and a.dtype == np.float32
        and b.dtype == np.float32
        and a.flags.c_contiguous
        and b.flags.c_contiguous
    ):
        # Fast path (single-sample inference calls this with tiny products): no conversion needed.
        try:
            return _core.matmul(a, b, transpose_a, transpose_b)
        except ValueError:
            pass  # the general path below raises with the caller's shapes
    shape_a, shape_b = np.shape(a), np.shape(b)
    a, transpose_a = _operand(a, "a", transpose_a)
    b, transpose_b = _operand(b, "b", transpose_b)
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
    try:
        out = _core.matmul(a, b, transpose_a, transpose_b)
    except ValueError as e:
        # The core saw the promoted / re-laid-out arrays: name the shapes the caller passed.
        raise ValueError(f"matmul: cannot multiply a of shape {shape_a} by b of shape {shape_b}: {e}") from None
    if squeeze_last:
        out = out[..., 0]
    if squeeze_first:
        out = out[..., 0, :] if not squeeze_last else out[..., 0]
    return out
