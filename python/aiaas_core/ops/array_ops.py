"""Shape and indexing ops (reshape, transpose, slicing, concat, gather...) with their gradients.
These move memory rather than compute, so numpy does them (views where numpy can)."""

from __future__ import annotations

import numpy as np

from . import autodiff
from . import math_ops
from .dtypes import as_dtype
from .tensor import Tensor, _METHOD_OPS, as_tensor_value, wrap


class IndexOutOfRangeError(ValueError, IndexError):
    """An index past the end of an axis. A ValueError as TF's InvalidArgumentError is, and an
    IndexError so that code catching numpy's error (and Python's sequence protocol) still works."""


def _int_list(values, what: str) -> list[int]:
    if isinstance(values, (list, tuple)) and not values:
        return []
    arr = as_tensor_value(values)
    if arr.dtype.kind not in "iu" and not (arr.dtype.kind == "f" and arr.size == 0):
        raise TypeError(f"{what} must hold integers, got {values!r} (dtype {arr.dtype})")
    return [int(v) for v in arr.ravel()]


def _scalar_int(value, what: str) -> int:
    """One size given as a 0-d integer tensor (tf.shape(x)[0]); anything else is an error."""
    arr = np.asarray(as_tensor_value(value))
    if arr.ndim or arr.dtype.kind not in "iu":
        raise TypeError(f"{what}: every size must be an int, got {value!r}")
    return int(arr)


def _count(value, what: str) -> int:
    """A non-negative whole number given as an int, a numpy integer or a 0-d integer tensor."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        arr = np.asarray(as_tensor_value(value)) if not isinstance(value, (str, bytes)) else np.asarray(value)
        if arr.ndim or arr.dtype.kind not in "iu":
            raise TypeError(f"{what} must be an int, got {value!r}")
        value = int(arr)
    if value < 0:
        raise ValueError(f"{what} must be >= 0, got {value}")
    return int(value)


def _axis(axis, ndim: int, op: str) -> int:
    """One axis of a rank-`ndim` tensor as a non-negative int, or a clear error."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        arr = as_tensor_value(axis)
        if arr.ndim or arr.dtype.kind not in "iu":
            raise TypeError(f"{op}: axis must be an int, got {axis!r}")
        axis = int(arr)
    if not -ndim <= int(axis) < ndim:
        raise ValueError(f"{op}: axis {int(axis)} is out of range for a tensor of rank {ndim}"
                         + (f" (valid axes: {-ndim} to {ndim - 1})" if ndim else " (a scalar has no axes)"))
    return int(axis) % ndim


def reshape(x, shape):  # x [...] -> shape (one -1 allowed)
    v = as_tensor_value(x)
    if isinstance(shape, (tuple, list)):
        target = tuple(-1 if d is None else int(d) if isinstance(d, (int, np.integer)) and not isinstance(d, bool)
                       else _scalar_int(d, "reshape: shape") for d in shape)
    else:
        target = tuple(_int_list(shape, "reshape: shape"))
    if target.count(-1) > 1 or any(d < -1 for d in target):
        raise ValueError(f"reshape: shape {target} may hold one -1 (inferred size) and otherwise sizes >= 0")
    try:
        value = v.reshape(target)
    except ValueError:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {v.shape} ({v.size} values) to {target}") from None
    src = v.shape
    return math_ops.output(value, (x,), lambda g: (reshape(g, src),), "reshape")


def transpose(x, perm=None):  # x [a, b, ...] -> axes permuted (reversed by default)
    v = as_tensor_value(x)
    axes = list(range(v.ndim))[::-1] if perm is None else _int_list(perm, "perm")
    if sorted(a % max(v.ndim, 1) for a in axes) != list(range(v.ndim)):
        raise ValueError(f"transpose: perm {axes} is not a permutation of the {v.ndim} axes of shape {v.shape}")
    inverse = list(np.argsort([a % v.ndim for a in axes]))
    return math_ops.output(np.transpose(v, axes), (x,), lambda g: (transpose(g, inverse),), "transpose")


def swapaxes(x, axis1, axis2):  # x [..a..b..] -> [..b..a..]
    nd = np.ndim(as_tensor_value(x))
    a, b = _axis(axis1, nd, "swapaxes"), _axis(axis2, nd, "swapaxes")
    perm = list(range(nd))
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(x, perm)


def moveaxis(x, source, destination):  # one or several axes moved, as numpy
    v = as_tensor_value(x)
    src = [source] if isinstance(source, (int, np.integer)) else list(source)
    dst = [destination] if isinstance(destination, (int, np.integer)) else list(destination)
    if len(src) != len(dst):
        raise ValueError(f"moveaxis: source {source} and destination {destination} must name as many axes")
    src = [_axis(a, v.ndim, "moveaxis") for a in src]
    dst = [_axis(a, v.ndim, "moveaxis") for a in dst]
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ValueError(f"moveaxis: repeated axis in source {source} or destination {destination}")
    perm = [a for a in range(v.ndim) if a not in src]  # the axes that stay, then each moved one put in place
    for d, a in sorted(zip(dst, src)):
        perm.insert(d, a)
    return transpose(x, perm)


def expand_dims(x, axis):  # x [...] -> a new axis of size 1 at `axis` (-1: last)
    v = as_tensor_value(x)
    axes = [axis] if isinstance(axis, (int, np.integer)) else _int_list(axis, "expand_dims: axis")
    out_nd = v.ndim + len(axes)
    for a in axes:
        if isinstance(a, bool) or not -out_nd <= int(a) < out_nd:
            raise ValueError(f"expand_dims: axis {a} is out of range for a tensor of rank {v.ndim} "
                             f"(valid: {-out_nd} to {out_nd - 1})")
    src = v.shape
    return math_ops.output(np.expand_dims(v, tuple(int(a) for a in axes)), (x,), lambda g: (reshape(g, src),), "expand_dims")


def squeeze(x, axis=None):  # x [...] -> the size-1 axes (or those named) dropped
    v = as_tensor_value(x)
    if axis is not None:
        axes = math_ops._axes(axis, v.ndim, "squeeze")
        for a in axes:
            if v.shape[a] != 1:
                raise ValueError(f"squeeze: axis {a} of shape {v.shape} has size {v.shape[a]}, not 1")
        value = np.squeeze(v, axis=axes)
    else:
        value = np.squeeze(v)
    src = v.shape
    return math_ops.output(value, (x,), lambda g: (reshape(g, src),), "squeeze")


def broadcast_to(x, shape):  # x [...] -> shape (numpy broadcasting)
    v = as_tensor_value(x)
    target = tuple(_int_list(shape, "broadcast_to: shape")) if not isinstance(shape, (tuple, list)) else \
        tuple(int(d) if isinstance(d, (int, np.integer)) and not isinstance(d, bool)
              else _scalar_int(d, "broadcast_to: shape") for d in shape)
    try:
        value = np.broadcast_to(v, target)
    except ValueError:
        raise ValueError(f"broadcast_to: cannot broadcast a tensor of shape {v.shape} to {target}") from None
    # the engine sums the gradient back over broadcast axes (autodiff._unbroadcast)
    return math_ops.output(value, (x,), lambda g: (g,), "broadcast_to")


def concat(values, axis=-1):  # [x1 [.., a, ..], x2 [.., b, ..]] -> [.., a+b, ..]
    if not isinstance(values, (list, tuple)) or not values:
        raise ValueError(f"concat takes a non-empty list of tensors, got {type(values).__name__}"
                         + (" (empty)" if isinstance(values, (list, tuple)) else ""))
    arrays = [as_tensor_value(v) for v in values]
    dtype = np.result_type(*arrays)
    if dtype == np.float64 and not any(a.dtype == np.float64 for a in arrays):
        dtype = np.float32
    nd = arrays[0].ndim
    if nd == 0 or any(a.ndim != nd for a in arrays):
        raise ValueError(f"concat: every tensor must have the same rank >= 1, got shapes {[a.shape for a in arrays]}")
    ax = _axis(axis, nd, "concat")
    for a in arrays:
        if a.shape[:ax] + a.shape[ax + 1:] != arrays[0].shape[:ax] + arrays[0].shape[ax + 1:]:
            raise ValueError(f"concat: shapes {[a.shape for a in arrays]} must match on every axis but axis {axis}")
    value = np.concatenate([a.astype(dtype, copy=False) for a in arrays], axis=ax)
    sizes = np.cumsum([a.shape[ax] for a in arrays])[:-1]

    def backward(g):
        return tuple(split(g, [int(s) for s in np.diff(np.concatenate([[0], sizes, [value.shape[ax]]]))], axis=ax))
    return math_ops.output(value, tuple(values), backward, "concat")


def stack(values, axis=0):  # k tensors [...] -> [.., k, ..] with the new axis at `axis`
    if not isinstance(values, (list, tuple)) or not values:
        raise ValueError("stack takes a non-empty list of tensors")
    shapes = {tuple(np.shape(as_tensor_value(v))) for v in values}
    if len(shapes) > 1:
        raise ValueError(f"stack: every tensor must have the same shape, got {sorted(shapes)}")
    nd = len(next(iter(shapes))) + 1
    if isinstance(axis, bool) or not -nd <= int(axis) < nd:
        raise ValueError(f"stack: axis {axis} is out of range for stacking tensors of rank {nd - 1} "
                         f"(valid: {-nd} to {nd - 1})")
    return concat([expand_dims(v, axis) for v in values], axis=axis)


def unstack(x, num=None, axis=0):  # x [.., n, ..] -> n tensors without that axis
    v = as_tensor_value(x)
    if v.ndim == 0:
        raise ValueError("unstack: a scalar (rank 0) tensor has no axis to unstack")
    ax = _axis(axis, v.ndim, "unstack")
    if num is not None and int(num) != v.shape[ax]:
        raise ValueError(f"unstack: num={num} but axis {axis} of shape {v.shape} has size {v.shape[ax]}")
    if v.shape[ax] == 0:
        return []
    return [squeeze(piece, ax) for piece in split(x, v.shape[ax], axis=ax)]


def split(x, num_or_size_splits, axis=0):  # x [.., n, ..] -> pieces along `axis`
    """TF's split: an int (equal parts) or a list of sizes (one may be -1)."""
    v = as_tensor_value(x)
    if v.ndim == 0:
        raise ValueError("split: a scalar (rank 0) tensor cannot be split")
    ax = _axis(axis, v.ndim, "split")
    n = v.shape[ax]
    if not isinstance(num_or_size_splits, (int, np.integer, list, tuple)) and np.ndim(num_or_size_splits) == 0:
        num_or_size_splits = _int_list(num_or_size_splits, "split: num_or_size_splits")[0]
    if isinstance(num_or_size_splits, (int, np.integer)):
        k = int(num_or_size_splits)
        if k <= 0 or n % k:
            raise ValueError(f"split: axis {ax} of size {n} cannot be split into {k} equal parts")
        sizes = [n // k] * k
    else:
        sizes = _int_list(num_or_size_splits, "split: size_splits")
        if sizes.count(-1) == 1:
            sizes[sizes.index(-1)] = n - (sum(sizes) + 1)
        if not sizes or sum(sizes) != n or any(s < 0 for s in sizes):
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
    value = _index(v, index)
    shape, dtype = v.shape, v.dtype

    def backward(g):
        return (_scatter_add(g, index, shape, dtype),)
    return math_ops.output(np.asarray(value), (x,), backward, "slice")


def _scatter_add(g, index, shape, dtype):  # g [x[index].shape] -> [shape], zero outside index
    gv = as_tensor_value(g)
    recorded = autodiff.recording() and autodiff.is_tracked(g)
    base = np.zeros(shape, dtype=gv.dtype if recorded or gv.dtype.kind == "f" else np.float32)
    if _without_repeats(index):
        base[index] += gv  # a view: no element is picked twice, so a plain add (np.add.at is ~30x slower)
    else:
        np.add.at(base, index, gv)  # integer arrays may pick an element twice: unbuffered, so repeats add up
    if recorded:  # keep it differentiable: the adjoint of a scatter is the same slice
        return math_ops.output(base, (g,), lambda gg: (_slice(gg, index),), "scatter_add")
    return wrap(base)


def _without_repeats(index) -> bool:
    """Whether indexing with `index` can pick no element twice: ints, slices, None, Ellipsis and at
    most one boolean mask (a mask picks each element at most once; so do basic indices)."""
    items = index if isinstance(index, tuple) else (index,)
    masks = 0
    for k in items:
        if k is None or k is Ellipsis or isinstance(k, (slice, int, np.integer)):
            continue
        if isinstance(k, np.ndarray) and k.dtype == np.bool_:
            masks += 1
            continue
        return False
    return masks <= 1


def _index(v: np.ndarray, key):
    """v[key], with numpy's IndexError turned into an error that says what was wrong."""
    try:
        return v[key]
    except IndexError as exc:
        text = str(exc)
        if "only integers" in text:
            raise TypeError(f"tensor index {key!r} is not valid: use ints, slices, None (tf.newaxis), ..., or integer "
                            f"or boolean tensors") from None
        if "boolean index" in text:
            raise ValueError(f"boolean mask index does not fit the tensor of shape {v.shape}: {text}") from None
        if "too many indices" in text:
            raise IndexOutOfRangeError(f"too many indices for a tensor of shape {v.shape} (rank {v.ndim}): "
                                       f"index {key!r}") from None
        raise IndexOutOfRangeError(f"{text} (indexing a tensor of shape {v.shape} with {key!r})") from None


def getitem(x, key):  # x [...] -> x[key]; gradient scattered back
    """Tensor indexing: ints, slices, None/tf.newaxis, Ellipsis, boolean and integer arrays."""
    def plain(k):
        if isinstance(k, (Tensor, list)) or hasattr(k, "_auto_watch"):
            return as_tensor_value(k)
        return k
    key = tuple(plain(k) for k in key) if isinstance(key, tuple) else plain(key)
    v = x.view(np.ndarray) if isinstance(x, Tensor) else as_tensor_value(x)
    if not autodiff.any_tracked((x,)):
        return wrap(np.asarray(_index(v, key)))
    return _slice(x, key)


def gather(params, indices, axis=0, batch_dims=0):  # params [..a..], indices [i...] -> [.., i..., ..]
    """params[..., indices, ...] along `axis` (tf.gather)."""
    if batch_dims:
        raise ValueError("gather: batch_dims is not supported; use take_along_axis")
    v = as_tensor_value(params)
    idx = as_tensor_value(indices)
    if idx.dtype.kind not in "iu" and not (idx.size == 0 and isinstance(indices, (list, tuple))):
        raise TypeError(f"gather indices must be integers, got dtype {idx.dtype}")
    idx = idx.astype(np.int64, copy=False)
    ax = _axis(axis, v.ndim, "gather")
    if idx.size and (idx.min() < -v.shape[ax] or idx.max() >= v.shape[ax]):
        raise ValueError(f"gather: indices must be in [0, {v.shape[ax]}) for axis {ax} of shape {v.shape}, "
                         f"got range [{idx.min()}, {idx.max()}]")
    index = (slice(None),) * ax + (idx,)
    return _slice(params, index)


take = gather


def take_along_axis(x, indices, axis=None):  # x [...], indices [...] (same rank) -> indices' shape
    v = as_tensor_value(x)
    idx = as_tensor_value(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"take_along_axis: indices must be integers, got dtype {idx.dtype}")
    idx = idx.astype(np.int64)
    if axis is None:
        return take_along_axis(reshape(x, (-1,)), idx.reshape(-1), 0)
    ax = _axis(axis, v.ndim, "take_along_axis")
    if idx.ndim != v.ndim:
        raise ValueError(f"take_along_axis: indices of shape {idx.shape} must have the rank of x (shape {v.shape})")
    n = v.shape[ax]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise ValueError(f"take_along_axis: indices must be in [0, {n}) for axis {ax} of shape {v.shape}, got range "
                         f"[{idx.min()}, {idx.max()}]")
    other = tuple(d for i, d in enumerate(v.shape) if i != ax)
    other_idx = tuple(d for i, d in enumerate(idx.shape) if i != ax)
    try:
        np.broadcast_shapes(other, other_idx)
    except ValueError:
        raise ValueError(f"take_along_axis: indices of shape {idx.shape} do not broadcast against x of shape {v.shape} "
                         f"outside axis {ax}") from None
    grids = list(np.indices(idx.shape, sparse=True))
    grids[ax] = idx
    return _slice(x, tuple(np.broadcast_arrays(*grids)))


def gather_nd(params, indices):  # params [d0..dn], indices [..., k] -> [..., d_k..dn]
    v = as_tensor_value(params)
    idx = as_tensor_value(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"gather_nd: indices must be integers, got dtype {idx.dtype}")
    idx = idx.astype(np.int64)
    if idx.ndim == 0 or idx.shape[-1] > v.ndim:
        raise ValueError(f"gather_nd: the last axis of indices (shape {idx.shape}) indexes the leading axes of params "
                         f"(shape {v.shape}): it must have 1 to {v.ndim} entries, got "
                         f"{idx.shape[-1] if idx.ndim else 'a scalar'}")
    for i in range(idx.shape[-1]):
        col, n = idx[..., i], v.shape[i]
        if col.size and (col.min() < 0 or col.max() >= n):
            raise ValueError(f"gather_nd: index {i} of the last axis is out of range: values [{col.min()}, {col.max()}] "
                             f"for axis {i} of size {n}")
    index = tuple(idx[..., i] for i in range(idx.shape[-1]))
    return _slice(params, index)


def tile(x, multiples):  # x [d0, d1..] -> [d0 * m0, d1 * m1..]; gradient: the tiles summed
    v = as_tensor_value(x)
    reps = _int_list(multiples, "tile: multiples")
    if len(reps) != v.ndim:
        raise ValueError(f"tile: multiples {reps} must have one entry per axis of shape {v.shape}")
    if any(r < 0 for r in reps):
        raise ValueError(f"tile: multiples must be >= 0, got {reps}")
    value = np.tile(v, reps)

    def backward(g):
        split_shape = []
        for r, d in zip(reps, v.shape):
            split_shape += [r, d]
        return (math_ops.sum(reshape(g, split_shape), axis=tuple(range(0, 2 * v.ndim, 2))),)
    return math_ops.output(value, (x,), backward, "tile")


def repeat(x, repeats, axis=None):  # each entry along `axis` repeated (axis None: flattened)
    v = as_tensor_value(x)
    if axis is None:
        return repeat(reshape(x, (-1,)), repeats, 0)
    ax = _axis(axis, v.ndim, "repeat")
    reps = _int_list(repeats, "repeat: repeats")
    if any(r < 0 for r in reps) or len(reps) not in (1, v.shape[ax]):
        raise ValueError(f"repeat: repeats must be one count >= 0 or one per entry of axis {ax} "
                         f"(size {v.shape[ax]}), got {reps}")
    idx = np.repeat(np.arange(v.shape[ax]), reps if len(reps) > 1 else reps[0])
    return gather(x, idx, axis=ax)


def pad(x, paddings, mode="CONSTANT", constant_values=0):  # x [d...] -> [d + lo + hi ...]; gradient: the inner slice
    v = as_tensor_value(x)
    pads = np.asarray(as_tensor_value(paddings), dtype=np.int64).reshape(-1, 2)
    if pads.shape[0] != v.ndim or (pads < 0).any():
        raise ValueError(f"pad: paddings must be [{v.ndim}, 2] non-negative ints, got {pads.tolist()}")
    mode_np = {"CONSTANT": "constant", "REFLECT": "reflect", "SYMMETRIC": "symmetric"}.get(str(mode).upper())
    if mode_np is None:
        raise ValueError(f"pad: mode must be CONSTANT, REFLECT or SYMMETRIC, got {mode!r}")
    if mode_np != "constant":
        for (lo, hi), d in zip(pads, v.shape):
            limit = d - 1 if mode_np == "reflect" else d
            if max(lo, hi) > limit:
                raise ValueError(f"pad: {str(mode).upper()} padding of an axis of size {d} can add at most {limit} "
                                 f"on each side, got paddings {pads.tolist()} for shape {v.shape}")
    kwargs = {"constant_values": constant_values} if mode_np == "constant" else {}
    value = np.pad(v, [tuple(p) for p in pads], mode=mode_np, **kwargs)
    if mode_np != "constant":
        # gather formulation of reflect/symmetric padding keeps the gradient exact
        idx = np.pad(np.arange(v.size).reshape(v.shape), [tuple(p) for p in pads], mode=mode_np)
        return reshape(gather(reshape(x, (-1,)), idx.reshape(-1)), value.shape)
    index = tuple(slice(int(lo), int(lo) + d) for (lo, _), d in zip(pads, v.shape))
    return math_ops.output(value, (x,), lambda g: (_slice(g, index),), "pad")


def reverse(x, axis):  # x [...] -> same, flipped along the axes named
    v = as_tensor_value(x)
    axes = math_ops._axes(axis, v.ndim, "reverse")
    index = tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(v.ndim))
    return _slice(x, index)


def one_hot(indices, depth, on_value=1.0, off_value=0.0, axis=-1, dtype=np.float32):  # [...] -> [..., depth]
    idx = as_tensor_value(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot indices must be integers, got dtype {idx.dtype}")
    depth = _count(depth, "one_hot: depth")
    eye = np.arange(depth)
    value = np.where(idx[..., None] == eye, on_value, off_value).astype(dtype)  # out-of-range rows: all off
    if axis != -1:
        value = np.moveaxis(value, -1, axis)
    return wrap(value)


def shape(x):  # x [...] -> int32 [rank]
    """The shape as an int32 tensor (tf.shape); keras.ops.shape returns a tuple (see keras_ops)."""
    return wrap(np.asarray(np.shape(as_tensor_value(x)), dtype=np.int32))


def size(x):  # x [...] -> int32 scalar
    return wrap(np.asarray(np.size(as_tensor_value(x)), dtype=np.int32))


def rank(x):  # x [...] -> int32 scalar
    return wrap(np.asarray(np.ndim(as_tensor_value(x)), dtype=np.int32))


def stop_gradient(x):  # x [...] -> same value, no gradient
    return wrap(np.asarray(as_tensor_value(x)))


def identity(x):  # x [...] -> same; gradient passes through
    return math_ops.output(as_tensor_value(x), (x,), lambda g: (g,), "identity")


def zeros(shape, dtype=np.float32):  # -> shape
    return wrap(np.zeros(_dims(shape), dtype=_dt(dtype)))


def ones(shape, dtype=np.float32):  # -> shape
    return wrap(np.ones(_dims(shape), dtype=_dt(dtype)))


def fill(dims, value, dtype=None):  # -> dims, every entry value
    v = as_tensor_value(value)
    return wrap(np.full(_dims(dims), v, dtype=_dt(dtype) if dtype is not None else v.dtype))


def zeros_like(x, dtype=None):  # x [...] -> zeros of that shape
    v = as_tensor_value(x)
    return wrap(np.zeros(v.shape, dtype=_dt(dtype) if dtype is not None else v.dtype))


def ones_like(x, dtype=None):  # x [...] -> ones of that shape
    v = as_tensor_value(x)
    return wrap(np.ones(v.shape, dtype=_dt(dtype) if dtype is not None else v.dtype))


def eye(num_rows, num_columns=None, dtype=np.float32):  # -> [rows, columns]
    rows = _count(num_rows, "eye: num_rows")
    cols = None if num_columns is None else _count(num_columns, "eye: num_columns")
    return wrap(np.eye(rows, cols, dtype=_dt(dtype)))


def range_(start, limit=None, delta=1, dtype=None):  # -> [ceil((limit - start) / delta)]
    """tf.range: ints give int32, floats float32."""
    if limit is None:
        start, limit = 0, start
    arrays = [as_tensor_value(v) for v in (start, limit, delta)]
    if any(a.ndim for a in arrays):
        raise ValueError(f"range: start, limit and delta must be scalars, got shapes {[a.shape for a in arrays]}")
    values = [a.item() for a in arrays]
    if any(isinstance(v, float) and not np.isfinite(v) for v in values):
        raise ValueError(f"range: start, limit and delta must be finite, got {values}")
    if dtype is None:
        dtype = np.float32 if any(isinstance(v, float) for v in values) else np.int32
    if values[2] == 0:
        raise ValueError("range: delta must not be 0")
    return wrap(np.arange(*values, dtype=_dt(dtype)))


def linspace(start, stop, num, axis=0):  # -> [num]
    n = _count(num, "linspace: num")
    lo, hi = as_tensor_value(start), as_tensor_value(stop)
    if np.isnan(lo).any() or np.isnan(hi).any():
        raise ValueError(f"linspace: start and stop must not be NaN, got {start} and {stop}")
    try:
        value = np.linspace(lo, hi, n, axis=axis)
    except ValueError as exc:
        raise ValueError(f"linspace: start {lo.shape} and stop {hi.shape} do not broadcast ({exc})") from None
    # float64 endpoints stay float64; everything else gives float32, as TF
    return wrap(value.astype(np.float64 if np.float64 in (lo.dtype, hi.dtype) else np.float32))


def _dims(shape) -> tuple:
    if isinstance(shape, (tuple, list)):
        dims = []
        for d in shape:
            if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
                arr = np.asarray(as_tensor_value(d))
                if arr.ndim or arr.dtype.kind not in "iu":
                    raise TypeError(f"shape {shape!r}: every size must be an int, got {d!r}")
                d = arr
            dims.append(int(d))
    else:
        dims = _int_list(shape, "shape")
    if any(d < 0 for d in dims):
        raise ValueError(f"shape must hold non-negative sizes, got {dims}")
    return tuple(dims)


def _dt(dtype):
    return as_dtype(dtype)


def _direction(direction, op):
    d = str(direction).upper()
    if d not in ("ASCENDING", "DESCENDING"):
        raise ValueError(f"{op}: direction must be 'ASCENDING' or 'DESCENDING', got {direction!r}")
    return d


def sort(x, axis=-1, direction="ASCENDING"):  # x [...] -> same, sorted along axis; gradient follows the order
    v = as_tensor_value(x)
    axis = _axis(axis, v.ndim, "sort")
    _direction(direction, "sort")
    order = np.argsort(v, axis=axis, kind="stable")
    if str(direction).upper() == "DESCENDING":
        order = np.flip(order, axis=axis)
    return take_along_axis(x, order, axis=axis)


def argsort(x, axis=-1, direction="ASCENDING"):  # x [...] -> int32 indices, same shape
    v = as_tensor_value(x)
    axis = _axis(axis, v.ndim, "argsort")
    order = np.argsort(v, axis=axis, kind="stable")
    if _direction(direction, "argsort") == "DESCENDING":
        order = np.flip(order, axis=axis)
    return wrap(order.astype(np.int32))


def top_k(x, k=1, sorted=True):  # noqa: A002 - TF's argument name
    """(values, indices) of the k largest entries along the last axis."""
    v = as_tensor_value(x)
    if v.ndim == 0:
        raise ValueError("top_k: the input must have rank >= 1 (top_k looks along the last axis), got a scalar")
    k = _count(k, "top_k: k")
    if not 0 <= k <= v.shape[-1]:
        raise ValueError(f"top_k: k={k} must be in [0, {v.shape[-1]}] (the size of the last axis of shape {v.shape})")
    # largest first, earlier index first among equals (as TF): a stable sort of the negated values
    order = np.argsort(-v if v.dtype.kind == "f" else -v.astype(np.int64), axis=-1, kind="stable")[..., :k]
    return take_along_axis(x, order, axis=-1), wrap(order.astype(np.int32))


def einsum(equation: str, *operands):  # operands by the equation -> its output; gradients are einsums
    """numpy's einsum on values; the gradient of each operand is another einsum (two-operand and
    one-operand forms, no repeated index within one operand)."""
    if not isinstance(equation, str):
        raise TypeError(f"einsum: the first argument is the equation string, got {type(equation).__name__}")
    values = [as_tensor_value(o) for o in operands]
    if "->" not in equation:
        raise ValueError("einsum: give the output explicitly, e.g. 'ij,jk->ik'")
    ins, out = equation.replace(" ", "").split("->")
    specs = ins.split(",")
    if len(specs) != len(operands):
        raise ValueError(f"einsum: {equation!r} names {len(specs)} operands, got {len(operands)}")
    if any("." in s for s in specs + [out]):
        raise ValueError("einsum: ellipsis (...) is not supported; name every axis")
    sizes: dict = {}
    for spec, v in zip(specs, values):
        if len(set(spec)) != len(spec):
            raise ValueError(f"einsum: {spec!r} repeats an index within one operand (diagonals/traces are not "
                             f"supported; use tf.linalg.diag_part / trace)")
        if len(spec) != v.ndim:
            raise ValueError(f"einsum: operand {spec!r} names {len(spec)} axes but has shape {v.shape}")
        for c, d in zip(spec, v.shape):
            if sizes.setdefault(c, d) != d:  # no broadcasting in einsum: the gradients assume equal sizes
                raise ValueError(f"einsum: index {c!r} has size {sizes[c]} in one operand and {d} in another "
                                 f"(shapes {[x.shape for x in values]})")
    if len(set(out)) != len(out) or any(c not in sizes for c in out):
        raise ValueError(f"einsum: the output {out!r} must name distinct indices that appear in the inputs")
    value = np.einsum(equation, *values)

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
    return math_ops.output(np.asarray(value), tuple(operands), backward, "einsum")


def _multiply_all(values):
    out = values[0]
    for v in values[1:]:
        out = math_ops.multiply(out, v)
    return out


def add_n(inputs):  # a list of same-shape tensors -> their sum
    if not isinstance(inputs, (list, tuple)) or not inputs:
        raise ValueError("add_n takes a non-empty list of tensors")
    shapes = {tuple(np.shape(as_tensor_value(v))) for v in inputs}
    if len(shapes) > 1:
        raise ValueError(f"add_n: every tensor must have the same shape, got {sorted(shapes)}")
    out = inputs[0]
    for v in inputs[1:]:
        out = math_ops.add(out, v)
    return out


def ravel(x):  # x [...] -> [size]
    return reshape(x, (-1,))


def _tri_mask(x, k, lower, op):
    v = as_tensor_value(x)
    if v.ndim < 2:
        raise ValueError(f"{op}: needs a tensor of rank >= 2, got shape {v.shape}")
    k = int(_scalar_int(k, f"{op}: k")) if not isinstance(k, (int, np.integer)) else int(k)
    rows, cols = v.shape[-2:]
    keep = np.tri(rows, cols, k, dtype=bool) if lower else ~np.tri(rows, cols, k - 1, dtype=bool)
    return keep


def tril(x, k=0):  # [..., M, N] -> same, zero above diagonal k
    return math_ops.where(_tri_mask(x, k, True, "tril"), x, 0)


def triu(x, k=0):  # [..., M, N] -> same, zero below diagonal k
    return math_ops.where(_tri_mask(x, k, False, "triu"), x, 0)


def diagonal(x, offset=0, axis1=0, axis2=1):  # the diagonal of axes (axis1, axis2), moved last, as numpy
    v = as_tensor_value(x)
    if v.ndim < 2:
        raise ValueError(f"diagonal: needs a tensor of rank >= 2, got shape {v.shape}")
    a1, a2 = _axis(axis1, v.ndim, "diagonal"), _axis(axis2, v.ndim, "diagonal")
    if a1 == a2:
        raise ValueError(f"diagonal: axis1 and axis2 must differ, got {axis1} and {axis2}")
    offset = int(offset)
    moved = moveaxis(x, [a1, a2], [-2, -1])
    rows, cols = v.shape[a1], v.shape[a2]
    n = max(0, min(rows, cols - offset) if offset >= 0 else min(rows + offset, cols))
    i = np.arange(n) + (0 if offset >= 0 else -offset)
    j = np.arange(n) + (offset if offset >= 0 else 0)
    return _slice(moved, (Ellipsis, i, j))


def outer(a, b):  # [M], [N] (flattened) -> [M, N]
    return math_ops.multiply(expand_dims(ravel(a), 1), expand_dims(ravel(b), 0))


def tensordot(a, b, axes=2):  # numpy's tensordot, as an einsum
    va, vb = as_tensor_value(a), as_tensor_value(b)
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if n < 0 or n > min(va.ndim, vb.ndim):
            raise ValueError(f"tensordot: axes={n} is more than the ranks {va.ndim} and {vb.ndim} allow")
        ax_a, ax_b = list(range(va.ndim - n, va.ndim)), list(range(n))
    else:
        try:
            ax_a, ax_b = axes
        except (TypeError, ValueError):
            raise ValueError(f"tensordot: axes must be an int or a pair of axis lists, got {axes!r}") from None
        ax_a = [ax_a] if isinstance(ax_a, (int, np.integer)) else list(ax_a)
        ax_b = [ax_b] if isinstance(ax_b, (int, np.integer)) else list(ax_b)
        if len(ax_a) != len(ax_b):
            raise ValueError(f"tensordot: {len(ax_a)} axes of a but {len(ax_b)} of b")
        ax_a = [_axis(x, va.ndim, "tensordot") for x in ax_a]
        ax_b = [_axis(x, vb.ndim, "tensordot") for x in ax_b]
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    spec_a = [next(letters) for _ in range(va.ndim)]
    spec_b = [next(letters) for _ in range(vb.ndim)]
    for i, j in zip(ax_a, ax_b):
        if va.shape[i] != vb.shape[j]:
            raise ValueError(f"tensordot: axis {i} of a (size {va.shape[i]}) and axis {j} of b (size {vb.shape[j]}) "
                             f"must match")
        spec_b[j] = spec_a[i]
    out = [c for i, c in enumerate(spec_a) if i not in ax_a] + [c for j, c in enumerate(spec_b) if j not in ax_b]
    return einsum(f"{''.join(spec_a)},{''.join(spec_b)}->{''.join(out)}", a, b)


# Tensor's indexing, t.reshape and t.T are these ops.
_METHOD_OPS.update({"getitem": getitem, "reshape": reshape, "transpose": transpose})
