"""Shape and indexing ops (reshape, transpose, slicing, concat, gather...) with their gradients.
These move memory rather than compute, so numpy does them (views where numpy can)."""

from __future__ import annotations

import numpy as np

from . import autodiff
from .math_ops import _axes, add, multiply, output
from .tensor import Tensor, as_tensor_value, wrap


def _int_list(values, what: str) -> list[int]:
    arr = as_tensor_value(values)
    if arr.dtype.kind not in "iub":
        raise TypeError(f"{what} must hold integers, got dtype {arr.dtype}")
    return [int(v) for v in arr.ravel()]


def reshape(x, shape):  # x [...] -> shape (one -1 allowed)
    v = as_tensor_value(x)
    target = tuple(-1 if d is None else d for d in (_int_list(shape, "shape") if not isinstance(shape, (tuple, list))
                                                    else [(-1 if d is None else int(d)) for d in shape]))
    try:
        value = v.reshape(target)
    except ValueError:
        raise ValueError(f"cannot reshape a tensor of shape {v.shape} ({v.size} values) to {target}") from None
    src = v.shape
    return output(value, (x,), lambda g: (reshape(g, src),), "reshape")


def transpose(x, perm=None):  # x [a, b, ...] -> axes permuted (reversed by default)
    v = as_tensor_value(x)
    axes = list(range(v.ndim))[::-1] if perm is None else _int_list(perm, "perm")
    if sorted(a % max(v.ndim, 1) for a in axes) != list(range(v.ndim)):
        raise ValueError(f"transpose: perm {axes} is not a permutation of the {v.ndim} axes of shape {v.shape}")
    inverse = list(np.argsort([a % v.ndim for a in axes]))
    return output(np.transpose(v, axes), (x,), lambda g: (transpose(g, inverse),), "transpose")


def swapaxes(x, axis1, axis2):
    perm = list(range(np.ndim(x)))
    perm[axis1], perm[axis2] = perm[axis2], perm[axis1]
    return transpose(x, perm)


def moveaxis(x, source, destination):
    v = as_tensor_value(x)
    perm = list(np.moveaxis(np.arange(v.ndim), source, destination))
    return transpose(x, perm)


def expand_dims(x, axis):
    v = as_tensor_value(x)
    src = v.shape
    return output(np.expand_dims(v, axis), (x,), lambda g: (reshape(g, src),), "expand_dims")


def squeeze(x, axis=None):
    v = as_tensor_value(x)
    if axis is not None:
        axes = _axes(axis, v.ndim)
        for a in axes:
            if v.shape[a] != 1:
                raise ValueError(f"squeeze: axis {a} of shape {v.shape} has size {v.shape[a]}, not 1")
        value = np.squeeze(v, axis=axes)
    else:
        value = np.squeeze(v)
    src = v.shape
    return output(value, (x,), lambda g: (reshape(g, src),), "squeeze")


def broadcast_to(x, shape):
    v = as_tensor_value(x)
    target = tuple(int(d) for d in shape)
    try:
        value = np.broadcast_to(v, target)
    except ValueError:
        raise ValueError(f"cannot broadcast a tensor of shape {v.shape} to {target}") from None
    # the engine sums the gradient back over broadcast axes (autodiff._unbroadcast)
    return output(value, (x,), lambda g: (g,), "broadcast_to")


def concat(values, axis=-1):  # [x1 [.., a, ..], x2 [.., b, ..]] -> [.., a+b, ..]
    if not isinstance(values, (list, tuple)) or not values:
        raise ValueError("concat takes a non-empty list of tensors")
    arrays = [as_tensor_value(v) for v in values]
    dtype = np.result_type(*arrays)
    if dtype == np.float64 and not any(a.dtype == np.float64 for a in arrays):
        dtype = np.float32
    try:
        value = np.concatenate([a.astype(dtype, copy=False) for a in arrays], axis=axis)
    except ValueError as exc:
        raise ValueError(f"concat: shapes {[a.shape for a in arrays]} do not match along axes other than {axis} ({exc})") from None
    ax = axis % value.ndim
    sizes = np.cumsum([a.shape[ax] for a in arrays])[:-1]

    def backward(g):
        return tuple(split(g, [int(s) for s in np.diff(np.concatenate([[0], sizes, [value.shape[ax]]]))], axis=ax))
    return output(value, tuple(values), backward, "concat")


def stack(values, axis=0):
    if not isinstance(values, (list, tuple)) or not values:
        raise ValueError("stack takes a non-empty list of tensors")
    shapes = {np.shape(v) for v in values}
    if len(shapes) > 1:
        raise ValueError(f"stack: every tensor must have the same shape, got {sorted(shapes)}")
    return concat([expand_dims(v, axis) for v in values], axis=axis)


def unstack(x, num=None, axis=0):
    v = as_tensor_value(x)
    return [squeeze(piece, axis) for piece in split(x, v.shape[axis], axis=axis)]


def split(x, num_or_size_splits, axis=0):
    """TF's split: an int (equal parts) or a list of sizes (one may be -1)."""
    v = as_tensor_value(x)
    ax = int(axis) % v.ndim
    n = v.shape[ax]
    if isinstance(num_or_size_splits, (int, np.integer)):
        k = int(num_or_size_splits)
        if k <= 0 or n % k:
            raise ValueError(f"split: axis {ax} of size {n} cannot be split into {k} equal parts")
        sizes = [n // k] * k
    else:
        sizes = _int_list(num_or_size_splits, "size_splits")
        if sizes.count(-1) == 1:
            sizes[sizes.index(-1)] = n - (sum(sizes) + 1)
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise ValueError(f"split: sizes {sizes} do not add up to axis {ax} of size {n}")
    bounds = np.cumsum([0] + sizes)
    outs = []
    for i in range(len(sizes)):
        index = [slice(None)] * v.ndim
        index[ax] = slice(int(bounds[i]), int(bounds[i + 1]))
        outs.append(_slice(x, tuple(index)))
    return outs


def _slice(x, index):
    """x[index] for a basic or advanced numpy index; gradient scattered back (adds repeated picks)."""
    v = as_tensor_value(x)
    value = v[index]
    shape, dtype = v.shape, v.dtype

    def backward(g):
        return (_scatter_add(g, index, shape, dtype),)
    return output(np.asarray(value), (x,), backward, "slice")


def _scatter_add(g, index, shape, dtype):
    gv = as_tensor_value(g)
    if autodiff.recording() and autodiff.is_tracked(g):
        # keep it differentiable: the adjoint of a scatter is the same slice
        base = np.zeros(shape, dtype=gv.dtype)
        np.add.at(base, index, gv)
        return output(base, (g,), lambda gg: (_slice(gg, index),), "scatter_add")
    base = np.zeros(shape, dtype=gv.dtype if gv.dtype.kind == "f" else np.float32)
    np.add.at(base, index, gv)
    return wrap(base)


def getitem(x, key):
    """Tensor indexing: ints, slices, None/tf.newaxis, Ellipsis, boolean and integer arrays."""
    if isinstance(key, tuple):
        key = tuple(as_tensor_value(k) if isinstance(k, (Tensor, list)) else k for k in key)
    elif isinstance(key, (Tensor, list)):
        key = as_tensor_value(key)
    v = x.view(np.ndarray) if isinstance(x, Tensor) else as_tensor_value(x)
    if not autodiff.any_tracked((x,)):
        return wrap(np.asarray(v[key]))
    return _slice(x, key)


def gather(params, indices, axis=0, batch_dims=0):
    """params[..., indices, ...] along `axis` (tf.gather)."""
    if batch_dims:
        raise ValueError("gather: batch_dims is not supported; use take_along_axis")
    v = as_tensor_value(params)
    idx = as_tensor_value(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"gather indices must be integers, got dtype {idx.dtype}")
    ax = int(axis) % v.ndim
    if idx.size and (idx.min() < -v.shape[ax] or idx.max() >= v.shape[ax]):
        raise ValueError(f"gather: indices must be in [0, {v.shape[ax]}) for axis {ax} of shape {v.shape}, "
                         f"got range [{idx.min()}, {idx.max()}]")
    index = (slice(None),) * ax + (idx,)
    return _slice(params, index)


take = gather


def take_along_axis(x, indices, axis=None):
    v = as_tensor_value(x)
    idx = as_tensor_value(indices).astype(np.int64)
    if axis is None:
        return take_along_axis(reshape(x, (-1,)), idx.reshape(-1), 0)
    ax = int(axis) % v.ndim
    grids = list(np.indices(idx.shape, sparse=True))
    grids[ax] = idx
    return _slice(x, tuple(np.broadcast_arrays(*grids)))


def gather_nd(params, indices):
    idx = as_tensor_value(indices).astype(np.int64)
    index = tuple(idx[..., i] for i in range(idx.shape[-1]))
    return _slice(params, index)


def tile(x, multiples):
    v = as_tensor_value(x)
    reps = _int_list(multiples, "multiples")
    if len(reps) != v.ndim:
        raise ValueError(f"tile: multiples {reps} must have one entry per axis of shape {v.shape}")
    value = np.tile(v, reps)

    def backward(g):
        split_shape = []
        for r, d in zip(reps, v.shape):
            split_shape += [r, d]
        from .math_ops import sum as reduce_sum
        return (reduce_sum(reshape(g, split_shape), axis=tuple(range(0, 2 * v.ndim, 2))),)
    return output(value, (x,), backward, "tile")


def repeat(x, repeats, axis=None):
    v = as_tensor_value(x)
    if axis is None:
        return repeat(reshape(x, (-1,)), repeats, 0)
    ax = int(axis) % v.ndim
    idx = np.repeat(np.arange(v.shape[ax]), repeats)
    return gather(x, idx, axis=ax)


def pad(x, paddings, mode="CONSTANT", constant_values=0):
    v = as_tensor_value(x)
    pads = np.asarray(as_tensor_value(paddings), dtype=np.int64).reshape(-1, 2)
    if pads.shape[0] != v.ndim or (pads < 0).any():
        raise ValueError(f"pad: paddings must be [{v.ndim}, 2] non-negative ints, got {pads.tolist()}")
    mode_np = {"CONSTANT": "constant", "REFLECT": "reflect", "SYMMETRIC": "symmetric"}.get(str(mode).upper())
    if mode_np is None:
        raise ValueError(f"pad: mode must be CONSTANT, REFLECT or SYMMETRIC, got {mode!r}")
    kwargs = {"constant_values": constant_values} if mode_np == "constant" else {}
    value = np.pad(v, [tuple(p) for p in pads], mode=mode_np, **kwargs)
    if mode_np != "constant":
        # gather formulation of reflect/symmetric padding keeps the gradient exact
        idx = np.pad(np.arange(v.size).reshape(v.shape), [tuple(p) for p in pads], mode=mode_np)
        return reshape(gather(reshape(x, (-1,)), idx.reshape(-1)), value.shape)
    index = tuple(slice(int(lo), int(lo) + d) for (lo, _), d in zip(pads, v.shape))
    return output(value, (x,), lambda g: (_slice(g, index),), "pad")


def reverse(x, axis):
    v = as_tensor_value(x)
    axes = _axes(axis, v.ndim)
    index = tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(v.ndim))
    return _slice(x, index)


def one_hot(indices, depth, on_value=1.0, off_value=0.0, axis=-1, dtype=np.float32):
    idx = as_tensor_value(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot indices must be integers, got dtype {idx.dtype}")
    depth = int(depth)
    eye = np.arange(depth)
    value = np.where(idx[..., None] == eye, on_value, off_value).astype(dtype)  # out-of-range rows: all off
    if axis != -1:
        value = np.moveaxis(value, -1, axis)
    return wrap(value)


def shape(x):
    """The shape as an int32 tensor (tf.shape); keras.ops.shape returns a tuple (see keras_ops)."""
    return wrap(np.asarray(np.shape(as_tensor_value(x)), dtype=np.int32))


def size(x):
    return wrap(np.asarray(np.size(as_tensor_value(x)), dtype=np.int32))


def rank(x):
    return wrap(np.asarray(np.ndim(as_tensor_value(x)), dtype=np.int32))


def stop_gradient(x):
    return wrap(np.asarray(as_tensor_value(x)))


def identity(x):
    return output(as_tensor_value(x), (x,), lambda g: (g,), "identity")


def zeros(shape, dtype=np.float32):
    return wrap(np.zeros(_dims(shape), dtype=_dt(dtype)))


def ones(shape, dtype=np.float32):
    return wrap(np.ones(_dims(shape), dtype=_dt(dtype)))


def fill(dims, value, dtype=None):
    v = as_tensor_value(value)
    return wrap(np.full(_dims(dims), v, dtype=_dt(dtype) if dtype is not None else v.dtype))


def zeros_like(x, dtype=None):
    v = as_tensor_value(x)
    return wrap(np.zeros(v.shape, dtype=_dt(dtype) if dtype is not None else v.dtype))


def ones_like(x, dtype=None):
    v = as_tensor_value(x)
    return wrap(np.ones(v.shape, dtype=_dt(dtype) if dtype is not None else v.dtype))


def eye(num_rows, num_columns=None, dtype=np.float32):
    return wrap(np.eye(int(num_rows), None if num_columns is None else int(num_columns), dtype=_dt(dtype)))


def range_(start, limit=None, delta=1, dtype=None):
    """tf.range: ints give int32, floats float32."""
    if limit is None:
        start, limit = 0, start
    values = [as_tensor_value(v).item() for v in (start, limit, delta)]
    if dtype is None:
        dtype = np.float32 if any(isinstance(v, float) for v in values) else np.int32
    if values[2] == 0:
        raise ValueError("range: delta must not be 0")
    return wrap(np.arange(*values, dtype=_dt(dtype)))


def linspace(start, stop, num, axis=0):
    return wrap(np.linspace(as_tensor_value(start), as_tensor_value(stop), int(num), axis=axis).astype(np.float32))


def _dims(shape) -> tuple:
    dims = _int_list(shape, "shape") if not isinstance(shape, (tuple, list)) else [int(as_tensor_value(d)) for d in shape]
    if any(d < 0 for d in dims):
        raise ValueError(f"shape must hold non-negative sizes, got {dims}")
    return tuple(dims)


def _dt(dtype):
    from .dtypes import as_dtype
    return as_dtype(dtype)


def sort(x, axis=-1, direction="ASCENDING"):
    v = as_tensor_value(x)
    order = np.argsort(v, axis=axis, kind="stable")
    if str(direction).upper() == "DESCENDING":
        order = np.flip(order, axis=axis)
    return take_along_axis(x, order, axis=axis)


def argsort(x, axis=-1, direction="ASCENDING"):
    order = np.argsort(as_tensor_value(x), axis=axis, kind="stable")
    if str(direction).upper() == "DESCENDING":
        order = np.flip(order, axis=axis)
    return wrap(order.astype(np.int32))


def top_k(x, k=1, sorted=True):  # noqa: A002 - TF's argument name
    """(values, indices) of the k largest entries along the last axis."""
    v = as_tensor_value(x)
    order = np.flip(np.argsort(v, axis=-1, kind="stable"), axis=-1)[..., :int(k)]
    return take_along_axis(x, order, axis=-1), wrap(order.astype(np.int32))


def einsum(equation: str, *operands):
    """numpy's einsum on values; the gradient of each operand is another einsum (two-operand and
    one-operand forms, no repeated index within one operand)."""
    values = [as_tensor_value(o) for o in operands]
    value = np.einsum(equation, *values)
    if "->" not in equation:
        raise ValueError("einsum: give the output explicitly, e.g. 'ij,jk->ik'")
    ins, out = equation.replace(" ", "").split("->")
    specs = ins.split(",")
    if len(specs) != len(operands):
        raise ValueError(f"einsum: {equation!r} names {len(specs)} operands, got {len(operands)}")
    if any("." in s for s in specs + [out]):
        raise ValueError("einsum: ellipsis (...) is not supported; name every axis")

    def backward(g):
        grads = []
        for i, spec in enumerate(specs):
            others = [s for j, s in enumerate(specs) if j != i]
            other_ops = [operands[j] for j in range(len(operands)) if j != i]
            # axes of operand i missing from the output and the others are summed: broadcast back
            present = set(out).union(*others) if others else set(out)
            missing = [c for c in spec if c not in present]
            eq = ",".join([out] + others) + "->" + "".join(c for c in spec if c not in missing)
            gi = einsum(eq, g, *other_ops)
            if missing:
                vi = values[i]
                shape_i = [vi.shape[spec.index(c)] if c in missing else 1 for c in spec]
                kept = [vi.shape[k] for k, c in enumerate(spec) if c not in missing]
                full = [1 if c in missing else kept.pop(0) for c in spec]
                gi = broadcast_to(reshape(gi, full), vi.shape)
                del shape_i
            grads.append(gi)
        return tuple(grads)
    return output(np.asarray(value), tuple(operands), backward, "einsum")


def _multiply_all(values):
    out = values[0]
    for v in values[1:]:
        out = multiply(out, v)
    return out


def add_n(inputs):
    out = inputs[0]
    for v in inputs[1:]:
        out = add(out, v)
    return out
