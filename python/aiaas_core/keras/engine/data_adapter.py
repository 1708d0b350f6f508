"""What fit / evaluate / predict accept as data, turned into batches.

- arrays (numpy, nested lists, tensors; or lists / tuples / dicts of them for several inputs or
  outputs): checked once, shuffled per epoch, sliced into batches of `batch_size`;
- a `tf.data.Dataset` (aiaas_core.data.Dataset), a Python generator or iterator, a
  `keras.utils.PyDataset` / `Sequence`: already batched, each element a batch `x`, `(x,)`, `(x, y)`
  or `(x, y, sample_weight)` (a dict is `x`: named inputs). `steps_per_epoch` bounds an epoch
  (needed for endless ones); see SourceBatches for how epochs share a source.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ...ops.symbolic import flatten, map_structure
from ...ops.tensor import Tensor, as_tensor_value
from .. import backend
from ..py_dataset import PyDataset
from .data_checks import as_array, check_int


def is_batched_source(x) -> bool:
    """Whether `x` yields batches itself (a dataset, generator, iterator or PyDataset)."""
    if isinstance(x, PyDataset):
        return True
    if x is None or isinstance(x, (np.ndarray, list, tuple, dict, Tensor, str, bytes)) or hasattr(x, "__array__"):
        return False
    return (_is_dataset(x) or hasattr(x, "__next__") or hasattr(x, "__iter__")
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
    """Batches from a dataset, generator, iterator or PyDataset (each element one batch).

    Three kinds of source, read as Keras 3 reads them:
    - a PyDataset / Sequence (indexed batches): `num_batches` (or len) batches per pass, in order,
      or in a new order every pass when fit shuffles; `on_epoch_begin` / `on_epoch_end` run
      around every epoch;
    - a re-iterable source (a tf.data Dataset): every `iter()` starts a new pass;
    - an iterator or generator: one pass, ever.
    Without `steps`, an epoch is one whole pass. With `steps` (steps_per_epoch), the pass carries
    over from one epoch to the next; a re-iterable source that ends exactly at an epoch boundary
    starts a new pass. When data runs out before `steps` batches (or a generator is already
    consumed), the epoch ends early and `ran_out` is set: fit warns and stops, as Keras does."""

    def __init__(self, source, steps=None, what="x", shuffle=False):
        self.source = source
        self.what = what
        self.limit = steps
        if isinstance(source, PyDataset) or (hasattr(source, "__getitem__") and hasattr(source, "__len__")
                                             and not hasattr(source, "__next__") and not _is_dataset(source)):
            self.kind = "sequence"
        elif hasattr(source, "__next__"):
            self.kind = "iterator"  # a generator: consumed, never restarted
        else:
            self.kind = "iterable"
        self.shuffle = shuffle and self.kind == "sequence"  # a dataset shuffles itself (Keras ignores shuffle)
        self.ran_out = False
        self._iterator = None
        self._passes = 0

    def _num_batches(self):
        """Batches in one pass: an int, or None when unknown or endless."""
        if self.kind == "sequence":
            n = self.source.num_batches if hasattr(self.source, "num_batches") else len(self.source)
            return None if n is None else check_int(n, f"{self.what}: the PyDataset's number of batches", 0)
        if callable(getattr(self.source, "cardinality", None)):
            n = _cardinality(self.source)
            return n if n >= 0 else None
        return None

    @property
    def steps(self):
        if self.limit is not None:
            return self.limit
        return self._num_batches()

    def _new_pass(self):
        self._passes += 1
        if self.kind == "iterator":
            return self.source
        if self.kind == "iterable":
            return iter(self.source)
        return self._sequence_pass(self._passes - 1)

    def _sequence_pass(self, number: int):
        n = self._num_batches()
        if n is None:
            order = itertools.count()
        elif self.shuffle and n > 1:
            order = _epoch_order(number, n).tolist()
        else:
            order = range(n)
        for i in order:
            yield self.source[i]

    def epoch(self, epoch: int):
        self.ran_out = False
        if self.kind == "sequence" and hasattr(self.source, "on_epoch_begin"):
            self.source.on_epoch_begin()
        try:
            if self.limit is None:
                count = 0
                for item in self._new_pass():
                    yield _as_batch(item, self.what, count)
                    count += 1
                # a generator already consumed by an earlier epoch has nothing left
                self.ran_out = count == 0 and self.kind == "iterator" and self._passes > 1
                return
            if self._iterator is None:
                self._iterator = self._new_pass()
            count = 0
            while count < self.limit:
                try:
                    item = next(self._iterator)
                except StopIteration:
                    if count == 0 and self.kind != "iterator":
                        self._iterator = self._new_pass()  # ended at an epoch boundary: a new pass
                        try:
                            item = next(self._iterator)
                        except StopIteration:
                            self._iterator = None
                            self.ran_out = True
                            return
                    else:
                        self._iterator = None if self.kind != "iterator" else self._iterator
                        self.ran_out = True
                        return
                yield _as_batch(item, self.what, count)
                count += 1
        finally:
            if self.kind == "sequence" and hasattr(self.source, "on_epoch_end"):
                self.source.on_epoch_end()

    def no_batches_message(self) -> str:
        """Why the first pass yielded nothing, for the error that says so."""
        if self.kind == "sequence":
            return f"{self.what} is a PyDataset of length 0 (its __len__ / num_batches is 0)"
        if self.kind == "iterator":
            return (f"{self.what} is a generator or iterator that ended before yielding a batch (a generator "
                    "can be read once: was it consumed by an earlier fit / evaluate / predict?)")
        n = self._num_batches()
        if n == 0:
            return f"{self.what} is an empty dataset (cardinality 0)"
        return f"{self.what} is a dataset that yielded no batches (it is empty)"


_INFINITE = -1  # tf.data.INFINITE_CARDINALITY


def _cardinality(dataset) -> int:
    try:
        return int(as_tensor_value(dataset.cardinality()))
    except (TypeError, ValueError):
        return -2


RAN_OUT_MESSAGE = (
    "Your input ran out of data; interrupting training. Make sure that your dataset or generator can generate "
    "at least `steps_per_epoch * epochs` batches. You may need to use the `.repeat()` function when building "
    "your dataset."
)


def _is_dataset(x) -> bool:
    """A tf.data-style dataset: re-iterable, knows its cardinality (checked by duck type: the
    data package imports keras for the global seed, so keras cannot import it back)."""
    return hasattr(type(x), "element_spec") and callable(getattr(x, "cardinality", None))  # the class: a
    # property read on the instance could run a map function


def _as_batch(item, what: str, index: int = 0):
    """A source's element as a step's data, checked: a tuple (x,), (x, y) or (x, y, w) of numeric
    arrays (a dict element is x: named inputs). Refuses, naming the batch, what a model cannot
    take: None, strings, ragged nesting."""
    where = f"{what}: batch {index}"
    if isinstance(item, tuple):
        if not 1 <= len(item) <= 3:
            raise ValueError(f"{where}: each batch must be x, (x, y) or (x, y, sample_weight); got a tuple of {len(item)}")
        parts = item
    elif isinstance(item, list) and len(item) in (2, 3) and all(hasattr(v, "shape") or isinstance(v, (list, dict)) for v in item):
        parts = tuple(item)
    else:
        parts = (item,)
    names = ("x", "y", "sample_weight")
    out = []
    for name, part in zip(names, parts):
        if part is None and name != "x":
            out.append(None)
            continue
        out.append(_batch_part(part, f"{where}: {name}"))
    return tuple(out)


def _batch_part(part, what: str):
    """One of x / y / sample_weight of a batch: arrays (lists, tuples, dicts of them kept as
    structure), floats as float32 like the array path, finite."""
    if part is None:
        raise TypeError(f"{what} is None (a batch must be x, (x, y) or (x, y, sample_weight) of arrays)")
    if isinstance(part, dict):
        return {k: _batch_part(v, f"{what}[{k!r}]") for k, v in part.items()}
    if isinstance(part, (list, tuple)) and part and not _is_number_list(part):
        converted = [_batch_part(v, f"{what}[{i}]") for i, v in enumerate(part)]
        return converted if isinstance(part, list) else tuple(converted)
    if isinstance(part, np.ndarray):
        arr = part
    else:
        try:
            arr = np.asarray(part)
        except ValueError as exc:
            raise ValueError(f"{what} is ragged (rows of different lengths cannot form one batch array): {exc}") from None
    if arr.dtype.kind in "US":
        raise TypeError(f"{what} holds strings (dtype {arr.dtype}); models take numbers: map the strings to "
                        "numbers (ids or features) before batching")
    if arr.dtype == object:
        flat = arr.reshape(-1)
        problem = ("None values" if any(v is None for v in flat) else
                   "ragged rows (sequences of different lengths)" if any(isinstance(v, (list, tuple, np.ndarray)) for v in flat)
                   else "values of non-numeric types")
        raise TypeError(f"{what} holds {problem}; a batch must be a numeric array")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"{what} is a scalar; a batch needs a batch axis first (shape (batch, ...))")
    if arr.dtype.kind == "f":
        if arr.dtype != np.float32:
            arr = arr.astype(np.float32)
        if arr.size and not np.isfinite(arr).all():
            raise ValueError(f"{what} contains NaN or infinite values; expected finite numbers")
    return part if arr is part else arr


def make_batches(x, y=None, sample_weight=None, *, batch_size=None, shuffle=False, steps=None, what="x"):
    """ArrayBatches or SourceBatches for `x` (and `y`, `sample_weight` with arrays). With a
    source, batch_size is ignored (its elements are batches already), as in Keras."""
    if is_batched_source(x):
        if y is not None:
            raise ValueError(f"{what} is a dataset or generator, which yields (x, y) batches itself: do not pass y")
        if sample_weight is not None:
            raise ValueError("sample_weight cannot be given with a dataset or generator (yield (x, y, w) batches)")
        batches = SourceBatches(x, None if steps is None else check_int(steps, "steps", 1), what, shuffle=shuffle)
        if steps is None and _is_dataset(x) and _cardinality(x) == _INFINITE:
            # Keras 2 refuses it too: each epoch would never end.
            raise ValueError(f"{what} is an infinitely repeating dataset: give the number of batches per epoch "
                             "(steps_per_epoch for fit, validation_steps for validation_data, steps for evaluate and "
                             "predict), or make it finite (repeat(count), take(n))")
        return batches
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
