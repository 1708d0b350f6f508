"""What fit / evaluate / predict accept as data, turned into batches.

- arrays (numpy, nested lists, tensors; or lists / tuples / dicts of them for several inputs or
  outputs): checked once, shuffled per epoch, sliced into batches of `batch_size`;
- a `tf.data.Dataset` (aiaas_core.data.Dataset), a Python generator or iterator, a
  `keras.utils.PyDataset` / `Sequence`: already batched, each element a batch `x`, `(x,)`, `(x, y)`
  or `(x, y, sample_weight)`. `steps_per_epoch` bounds an epoch (needed for endless ones).
"""

from __future__ import annotations

import math

import numpy as np

from ...ops.symbolic import flatten, map_structure
from ...ops.tensor import Tensor, as_tensor_value
from .. import backend
from .data_checks import as_array, check_int


def is_batched_source(x) -> bool:
    """Whether `x` yields batches itself (a dataset, generator, iterator or PyDataset)."""
    if x is None or isinstance(x, (np.ndarray, list, tuple, dict, Tensor)) or hasattr(x, "__array__"):
        return False
    return (hasattr(x, "_element_spec_for_fit") or hasattr(x, "__next__") or hasattr(x, "__iter__")
            or (hasattr(x, "__getitem__") and hasattr(x, "__len__")))


def _num_samples(structure) -> int:
    sizes = {len(a) for a in flatten(structure) if a is not None}
    if len(sizes) > 1:
        raise ValueError(f"all inputs and targets must have the same number of samples, got sizes {sorted(sizes)}")
    return sizes.pop() if sizes else 0


def _as_arrays(structure, what: str):
    def convert(a):
        if a is None:
            return None
        arr = as_array(a, what)
        if arr.ndim == 0:
            raise ValueError(f"{what} must have a batch axis first (shape (samples, ...)), got a scalar")
        if arr.dtype.kind == "f" and arr.dtype != np.float32:
            from ..._arrays import as_float32
            arr = as_float32(arr, what, finite=True)
        elif arr.dtype.kind == "f" and arr.size and not np.isfinite(arr).all():
            raise ValueError(f"{what} contains NaN or infinite values; expected finite numbers")
        return arr
    if isinstance(structure, (list, tuple)) and structure and not _is_number_list(structure):
        return [convert(a) for a in structure] if isinstance(structure, list) else tuple(convert(a) for a in structure)
    if isinstance(structure, dict):
        return {k: convert(v) for k, v in structure.items()}
    return convert(structure)


def _is_number_list(x) -> bool:
    first = x[0]
    while isinstance(first, (list, tuple)) and first:
        first = first[0]
    return isinstance(first, (int, float, bool, np.number))


def take(structure, index):
    """The rows `index` (a slice or an index array) of every array in `structure`."""
    return map_structure(lambda a: None if a is None else a[index], structure)


class ArrayBatches:
    """Batches of in-memory arrays; the epoch's shuffle depends only on (seed, epoch) when seeded."""

    def __init__(self, x, y=None, sample_weight=None, batch_size=32, shuffle=False):
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.n = _num_samples((x, y, sample_weight))
        self.batch_size = batch_size
        self.shuffle = shuffle

    @property
    def steps(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def epoch(self, epoch: int):
        x, y, w = self.x, self.y, self.sample_weight
        if self.shuffle and self.n > 1:
            order = _epoch_order(epoch, self.n)
            x, y, w = take(x, order), take(y, order), take(w, order)  # one gather per epoch
        for s in range(0, self.n, self.batch_size):
            sl = slice(s, min(s + self.batch_size, self.n))
            xb = take(x, sl)
            if y is None and w is None:
                yield (xb,)
            elif w is None:
                yield (xb, take(y, sl))
            else:
                yield (xb, take(y, sl), take(w, sl))


def _epoch_order(epoch: int, n: int) -> np.ndarray:
    """The shuffle of one epoch: a function of (global seed, epoch) when seeded, so resumed fits match."""
    if backend.seeded():
        return np.random.default_rng(backend.derived_seed(0x5AFF1E, epoch)).permutation(n)
    return backend.rng().permutation(n)


class SourceBatches:
    """Batches from a dataset, generator, iterator or PyDataset (each element one batch)."""

    def __init__(self, source, steps=None, what="x"):
        self.source = source
        self.what = what
        self.limit = steps
        self._iterator = None
        self.is_sequence = hasattr(source, "__getitem__") and hasattr(source, "__len__") and not hasattr(source, "__next__") \
            and not hasattr(source, "_element_spec_for_fit")
        self.one_shot = hasattr(source, "__next__")  # a generator: consumed, never restarted

    @property
    def steps(self):
        if self.limit is not None:
            return self.limit
        if self.is_sequence:
            return len(self.source)
        cardinality = getattr(self.source, "cardinality", None)
        if callable(cardinality):
            n = int(as_tensor_value(cardinality()))
            return n if n >= 0 else None
        return None

    def epoch(self, epoch: int):
        if self.is_sequence:
            n = len(self.source) if self.limit is None else min(self.limit, len(self.source))
            for i in range(n):
                yield _as_batch(self.source[i], self.what)
            if hasattr(self.source, "on_epoch_end"):
                self.source.on_epoch_end()
            return
        if self.one_shot:
            it = self.source
        elif self.limit is not None:
            # with steps_per_epoch, a dataset continues where the last epoch stopped (as in Keras)
            if self._iterator is None:
                self._iterator = iter(self.source)
            it = self._iterator
        else:
            it = iter(self.source)
        count = 0
        while self.limit is None or count < self.limit:
            try:
                item = next(it)
            except StopIteration:
                if self.limit is not None and not self.one_shot and count == 0:
                    self._iterator = iter(self.source)  # exhausted at an epoch boundary: start over
                    it = self._iterator
                    try:
                        item = next(it)
                    except StopIteration:
                        return
                else:
                    if self.limit is not None and not self.one_shot:
                        self._iterator = None
                    return
            count += 1
            yield _as_batch(item, self.what)


def _as_batch(item, what: str):
    """A dataset element as a step's data: a tuple (x,), (x, y) or (x, y, w)."""
    if isinstance(item, tuple):
        if not 1 <= len(item) <= 3:
            raise ValueError(f"{what}: each batch must be x, (x, y) or (x, y, sample_weight); got a tuple of {len(item)}")
        return item
    if isinstance(item, list) and len(item) in (2, 3) and all(hasattr(v, "shape") or isinstance(v, (list, dict)) for v in item):
        return tuple(item)
    return (item,)


def make_batches(x, y=None, sample_weight=None, *, batch_size=None, shuffle=False, steps=None, what="x"):
    """ArrayBatches or SourceBatches for `x` (and `y`, `sample_weight` with arrays)."""
    if is_batched_source(x):
        if y is not None:
            raise ValueError(f"{what} is a dataset or generator, which yields (x, y) batches itself: do not pass y")
        if sample_weight is not None:
            raise ValueError("sample_weight cannot be given with a dataset or generator (yield (x, y, w) batches)")
        return SourceBatches(x, None if steps is None else check_int(steps, "steps", 1), what)
    if x is None:
        raise ValueError(f"{what} is required (an array whose first axis counts samples)")
    xs = _as_arrays(x, what)
    ys = _as_arrays(y, "y") if y is not None else None
    ws = _as_arrays(sample_weight, "sample_weight") if sample_weight is not None else None
    batches = ArrayBatches(xs, ys, ws, batch_size=check_int(32 if batch_size is None else batch_size, "batch_size", 1),
                           shuffle=shuffle)
    if batches.n == 0:
        raise ValueError(f"{what} is empty (0 samples)")
    if steps is not None:
        raise ValueError("steps is not supported with array data: every sample is used (steps / steps_per_epoch "
                         "apply to datasets and generators; with arrays, choose batch_size)")
    return batches
