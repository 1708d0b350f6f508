"""`tf.data.Dataset` over numpy: TensorFlow's input-pipeline semantics, run eagerly in Python.

An element is a tensor, or a tuple / dict (nested) of tensors, exactly as in TensorFlow: tuples,
named tuples and dicts are structure, while a Python list is data (it becomes one array, as
`tf.data` converts lists to tensors). Iterating a dataset yields aiaas_core Tensors (numpy arrays
that also have `.numpy()`); `as_numpy_iterator()` yields plain numpy values.

Each `iter(dataset)` starts from the beginning (a shuffle draws a new order each time unless
`reshuffle_each_iteration=False`). Transformations are lazy: nothing is read or computed until
the dataset is iterated.

Speed: a dataset built from arrays (`from_tensor_slices`, `range`) and only reordered or cut
(`shuffle`, `take`, `skip`, `repeat`, `cache`, `prefetch`) is a stream of row numbers into those
arrays, so `.batch()` gathers each batch with one numpy indexing (a zero-copy slice when the rows
are consecutive) instead of stacking elements one by one. `map` and `filter` need the elements
themselves and take the element-by-element path.

Differences from TensorFlow, all deliberate:
- `prefetch` and `num_parallel_calls` change nothing: elements are produced when the consumer
  asks, in its thread. The Rust kernels already keep every core busy during a training step, so
  producer threads would only compete with them, and sequential production keeps results
  deterministic and errors raised where they happen.
- `map`'s `element_spec` is read from the first element the function returns (TensorFlow traces
  the function with placeholder shapes, so dimensions it cannot know are None there).
- `cache(filename)` keeps the elements in memory too (nothing is written to disk).
"""

from __future__ import annotations

import itertools
import math
import types
from typing import Callable, Iterator

import numpy as np

from .. import seeding
from ..ops.array_ops import IndexOutOfRangeError
from ..ops.tensor import Tensor, TensorShape, wrap

INFINITE = -1            # tf.data.INFINITE_CARDINALITY
UNKNOWN = -2             # tf.data.UNKNOWN_CARDINALITY
AUTOTUNE = -1            # tf.data.AUTOTUNE: accepted wherever TensorFlow accepts it

# TensorFlow's graph-level default seed: an op seed without a global seed is still deterministic.
_DEFAULT_GLOBAL_SEED = 87654321
_SHUFFLE_SALT = 0xDA7A5EED
_CHUNK = 4096            # rows per index chunk when a shuffle streams through its buffer


# ---------------------------------------------------------------------------------------------
# specs
# ---------------------------------------------------------------------------------------------
def _as_dtype(dtype) -> np.dtype:
    if isinstance(dtype, str) and dtype in ("string", "str"):
        return np.dtype(np.str_)
    if dtype is str or dtype is bytes:
        return np.dtype(dtype)
    if isinstance(dtype, str) and dtype == "bool":
        return np.dtype(np.bool_)
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"unknown dtype {dtype!r}; use a name such as 'float32', 'int64' or 'bool'") from None
    if dt.kind not in "biufcUS":
        raise TypeError(f"dtype {dtype!r} cannot be a tensor type (numbers, bool and strings can)")
    return dt


def _as_shape(shape):
    """A TensorShape from a tuple / list (None for unknown dimensions), or None for unknown rank."""
    if shape is None:
        return None
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    dims = []
    for d in shape:
        if d is None or (isinstance(d, (int, np.integer)) and d == -1):
            dims.append(None)
        elif isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0:
            dims.append(int(d))
        else:
            raise ValueError(f"a shape holds ints >= 0 or None, got {shape!r}")
    return TensorShape(dims)


def _dtype_name(dt: np.dtype) -> str:
    return "string" if dt.kind in "US" else dt.name


class TensorSpec:
    """`tf.TensorSpec(shape, dtype, name)`: the shape (None for unknown dimensions) and dtype of
    one tensor in a dataset's elements."""

    def __init__(self, shape, dtype="float32", name=None):
        self.shape = _as_shape(shape)
        self.dtype = _as_dtype(dtype)
        self.name = name

    @classmethod
    def from_tensor(cls, tensor, name=None) -> "TensorSpec":
        arr = np.asarray(tensor)
        return cls(arr.shape, arr.dtype, name)

    def is_compatible_with(self, other) -> bool:
        """Whether `other` (a spec or an array) fits this spec: same dtype, and the same size in
        every dimension this spec knows."""
        if _is_spec_like(other):
            other = _as_spec(other)
            shape, dtype = other.shape, other.dtype
        else:
            arr = np.asarray(other)
            shape, dtype = arr.shape, arr.dtype
        return _dtype_compatible(self.dtype, dtype) and _shape_compatible(self.shape, shape)

    def __eq__(self, other) -> bool:
        if not _is_spec_like(other):
            return NotImplemented
        other = _as_spec(other)
        return self.shape == other.shape and _dtype_compatible(self.dtype, other.dtype) and self.name == other.name

    def __hash__(self):
        return hash((self.shape, _dtype_name(self.dtype), self.name))

    def __repr__(self) -> str:
        shape = "<unknown>" if self.shape is None else tuple(self.shape)
        return f"TensorSpec(shape={shape}, dtype={_dtype_name(self.dtype)}, name={self.name!r})"


def _is_spec_like(s) -> bool:
    """A TensorSpec, or another class's spec with its shape / dtype / name (tf.TensorSpec for
    tf.function's input_signature is another class)."""
    return isinstance(s, TensorSpec) or (type(s).__name__ == "TensorSpec" and hasattr(s, "shape")
                                         and hasattr(s, "dtype"))


def _as_spec(s) -> "TensorSpec":
    if isinstance(s, TensorSpec):
        return s
    return TensorSpec(None if s.shape is None else tuple(s.shape), s.dtype, getattr(s, "name", None))


def _dtype_compatible(a: np.dtype, b: np.dtype) -> bool:
    return a == b or (a.kind in "US" and b.kind in "US")  # string lengths are not part of the type


def _shape_compatible(spec_shape, shape) -> bool:
    if spec_shape is None or shape is None:
        return True
    if len(spec_shape) != len(shape):
        return False
    return all(a is None or b is None or a == b for a, b in zip(spec_shape, shape))


def _spec_of(arr: np.ndarray) -> TensorSpec:
    return TensorSpec(arr.shape, arr.dtype)


# ---------------------------------------------------------------------------------------------
# element structures: tuples (and named tuples) and dicts are structure, everything else is data
# ---------------------------------------------------------------------------------------------
def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _map(fn: Callable, structure):
    kind = type(structure)  # exact types first: this runs for every element of a pipeline
    if kind is np.ndarray:
        return fn(structure)
    if kind is tuple:
        return tuple([_map(fn, s) for s in structure])
    if isinstance(structure, tuple):
        items = [_map(fn, s) for s in structure]
        return type(structure)(*items) if _is_namedtuple(structure) else tuple(items)
    if isinstance(structure, dict):
        return {k: _map(fn, v) for k, v in structure.items()}
    return fn(structure)


def _flatten(structure) -> list:
    if isinstance(structure, tuple):
        return [leaf for s in structure for leaf in _flatten(s)]
    if isinstance(structure, dict):
        return [leaf for v in structure.values() for leaf in _flatten(v)]
    return [structure]


def _map_many(fn: Callable, first, *others, what: str = "element", up_to: bool = False):
    """fn(leaf_of_first, leaf_of_each_other) over structures that must match. With up_to, a leaf
    of `first` takes whatever the others hold there (a tuple value for one tensor, a shape)."""
    if isinstance(first, tuple):
        for o in others:
            if not isinstance(o, tuple) or len(o) != len(first):
                raise ValueError(f"{what}: the structures differ ({_describe(first)} vs {_describe(o)})")
        items = [_map_many(fn, *parts, what=what, up_to=up_to) for parts in zip(first, *others)]
        return type(first)(*items) if _is_namedtuple(first) else tuple(items)
    if isinstance(first, dict):
        for o in others:
            if not isinstance(o, dict) or set(o) != set(first):
                raise ValueError(f"{what}: the structures differ ({_describe(first)} vs {_describe(o)})")
        return {k: _map_many(fn, first[k], *(o[k] for o in others), what=what, up_to=up_to) for k in first}
    for o in others:
        if not up_to and isinstance(o, (tuple, dict)):
            raise ValueError(f"{what}: the structures differ ({_describe(first)} vs {_describe(o)})")
    return fn(first, *others)


def _describe(structure) -> str:
    if isinstance(structure, tuple):
        return "(" + ", ".join(_describe(s) for s in structure) + ("," if len(structure) == 1 else "") + ")"
    if isinstance(structure, dict):
        return "{" + ", ".join(f"{k!r}: {_describe(v)}" for k, v in structure.items()) + "}"
    if isinstance(structure, TensorSpec):
        return "tensor" if structure.shape is None else f"tensor{tuple(structure.shape)}"
    if isinstance(structure, np.ndarray):
        return f"tensor{structure.shape}"
    return type(structure).__name__


def _to_array(value, what: str) -> np.ndarray:
    """One leaf as a numpy array, with TensorFlow's conversions: Python floats become float32 and
    Python ints int32 (int64 when they do not fit); numpy arrays keep their dtype. Refuses what
    cannot be a tensor (None, ragged nesting, mixed or object values) with the reason."""
    if isinstance(value, Tensor):
        return value.view(np.ndarray)
    if isinstance(value, np.ndarray):
        arr = value
    else:
        if value is None:
            raise TypeError(f"{what} is None, which is not a tensor (elements hold numbers, bools or strings; "
                            "use a tuple or dict to group several values)")
        inner = getattr(value, "value", None)
        if isinstance(inner, np.ndarray) and hasattr(value, "assign"):  # a Variable: its current value
            return np.array(inner)
        if hasattr(value, "numpy") and not isinstance(value, np.generic):
            arr = np.asarray(value.numpy())
        else:
            try:
                arr = np.asarray(value)
            except ValueError as exc:  # numpy refuses inhomogeneous nesting
                raise ValueError(f"{what} is ragged (nested lists of different lengths cannot form one tensor; "
                                 f"pad them to one length, or use a tuple for values of different shapes): {exc}") from None
            if not isinstance(value, np.generic):
                if arr.dtype == np.float64:
                    arr = arr.astype(np.float32)
                elif arr.dtype == np.int64:
                    arr = arr.astype(np.int32) if _fits_int32(arr) else arr
    if arr.dtype == object and arr.size and all(isinstance(v, str) for v in arr.reshape(-1)):
        arr = arr.astype(np.str_)  # a pandas text column: strings, as tf.string
    if arr.dtype.kind not in "biufcUS":
        problem = _object_problem(arr) if arr.dtype == object else f"values of dtype {arr.dtype}"
        raise TypeError(f"{what} holds {problem}, which cannot be a tensor (numbers, bools or strings of one type)")
    return arr


def _fits_int32(arr: np.ndarray) -> bool:
    return arr.size == 0 or (int(arr.min()) >= -2**31 and int(arr.max()) < 2**31)


def _object_problem(arr: np.ndarray) -> str:
    flat = arr.reshape(-1)
    if any(v is None for v in flat):
        return "None values"
    if any(isinstance(v, (list, tuple, np.ndarray)) for v in flat):
        return "ragged nested sequences (rows of different lengths)"
    kinds = sorted({type(v).__name__ for v in flat})
    return f"values of mixed or non-numeric types ({', '.join(kinds)})"


def _normalize(value, what: str):
    """A user structure as an element: tuples / dicts kept, every leaf a numpy array."""
    if isinstance(value, tuple):
        items = [_normalize(v, f"{what}[{i}]") for i, v in enumerate(value)]
        return type(value)(*items) if _is_namedtuple(value) else tuple(items)
    if isinstance(value, dict):
        return {k: _normalize(v, f"{what}[{k!r}]") for k, v in value.items()}
    return _to_array(value, what)


def _to_user(element, numpy: bool = False):
    """An element as the user sees it: Tensors (or, with numpy=True, numpy values; 0-d arrays
    become numpy scalars, as TensorFlow's `.numpy()` gives them). Numpy values are copies: a
    batch may be a view of the arrays the dataset was built from, and code that scales a batch in
    place (`batch /= 255`) must not change the source for the next epoch. Tensors are immutable."""
    if numpy:
        return _map(lambda a: a[()] if a.ndim == 0 else np.array(a), element)
    return _map(wrap, element)


def _call(fn: Callable, element):
    """Call a map / filter function as tf.data does: a tuple element is unpacked into arguments,
    anything else (a tensor, a dict, a named tuple) is one argument."""
    args = _to_user(element)
    if type(element) is tuple:
        return fn(*args)
    return fn(args)


def _row(rows, i: int):
    return _map(lambda a: a[i, ...], rows)  # `a[i, ...]` is a 0-d array view, not a numpy scalar


def _gather(rows, idx: np.ndarray):
    """The rows `idx` of every array: a slice view when they are consecutive, else one gather."""
    n = len(idx)
    if n and idx[-1] - idx[0] == n - 1 and (n < 3 or bool(np.all(np.diff(idx) == 1))):
        sl = slice(int(idx[0]), int(idx[0]) + n)
        return _map(lambda a: a[sl], rows)
    return _map(lambda a: a[idx], rows)


def _stack(elements: list, what: str):
    """Elements stacked on a new first axis, with TensorFlow's error for different shapes."""
    first = elements[0]
    leaves = [_flatten(e) for e in elements]
    flat_first = leaves[0]
    for j, flat in enumerate(leaves[1:], 1):
        if len(flat) != len(flat_first):
            raise ValueError(f"{what}: element {j} has a different structure than element 0 "
                             f"({_describe(elements[j])} vs {_describe(first)})")
    out = []
    for c, leaf in enumerate(flat_first):
        column = [flat[c] for flat in leaves]
        for j, a in enumerate(column):
            if a.shape != leaf.shape:
                raise ValueError(
                    f"{what}: cannot batch tensors with different shapes in component {c}: element 0 has shape "
                    f"{leaf.shape} and element {j} has shape {a.shape} (use padded_batch, or make the shapes equal "
                    "in a map)"
                )
        out.append(np.stack(column))
    it = iter(out)
    return _map(lambda _: next(it), first)


# ---------------------------------------------------------------------------------------------
# seeds
# ---------------------------------------------------------------------------------------------
_op_seeds: dict = {"rng": None, "count": 0}


def _shuffle_seed(seed) -> int:
    """The base seed of one shuffle, as TensorFlow picks it: (global seed, op seed). Without an op
    seed, the n-th shuffle created since `set_random_seed` gets n, so a seeded program shuffles
    the same way on every run; without any seed, the order is random."""
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"shuffle seed must be an int or None, got {type(seed).__name__}")
        op_seed = int(seed) % 2**63  # TensorFlow takes negative seeds too
        if seeding.seeded():
            return seeding.derived_seed(_SHUFFLE_SALT, op_seed)
        return int(np.random.SeedSequence([_DEFAULT_GLOBAL_SEED, op_seed]).generate_state(1)[0])
    if seeding.seeded():
        # set_random_seed installs a new generator: that is when the op counter starts over.
        current = seeding.rng()
        if _op_seeds["rng"] is not current:
            _op_seeds["rng"], _op_seeds["count"] = current, 0
        _op_seeds["count"] += 1
        return seeding.derived_seed(_SHUFFLE_SALT + 1, _op_seeds["count"])
    return int(np.random.SeedSequence().generate_state(1)[0])


def _check_count(value, what: str, low: int) -> int:
    value = value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{what} must be an int >= {low}, got {value!r}")
    return int(value)


# ---------------------------------------------------------------------------------------------
# Dataset
# ---------------------------------------------------------------------------------------------
class Dataset:
    """`tf.data.Dataset`. Build one with a static constructor (`from_tensor_slices`,
    `from_tensors`, `range`, `zip`, `from_generator`), chain transformations, iterate it, or pass
    it to `model.fit` / `evaluate` / `predict` (its elements are then batches: `x`, `(x, y)` or
    `(x, y, sample_weight)`)."""

    # A dataset whose elements are rows of in-memory arrays sets `_rows` (the arrays) and
    # implements `_indices()` (an iterator of int64 arrays of row numbers); `batch` then gathers.
    _rows = None

    # ---- what each kind of dataset implements ------------------------------------------------
    def _elements(self) -> Iterator:
        """The elements, as structures of numpy arrays (one pass; each call starts over)."""
        rows = self._rows
        for chunk in self._indices():
            for i in chunk.tolist():
                yield _row(rows, i)

    def _indices(self) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def _compute_spec(self):
        raise NotImplementedError

    def _cardinality(self) -> int:
        return UNKNOWN

    # ---- constructors ----------------------------------------------------------------------
    @staticmethod
    def from_tensor_slices(tensors, name=None) -> "Dataset":
        """One element per row of `tensors` (an array, or a tuple / dict of arrays with the same
        number of rows). Numpy arrays are read where they are, not copied: batches are views
        of them, so change them and the dataset changes too."""
        return _TensorSlices(tensors)

    @staticmethod
    def from_tensors(tensors, name=None) -> "Dataset":
        """A dataset of one element: `tensors` whole."""
        return _FromTensors(tensors)

    @staticmethod
    def range(*args, output_type="int64", name=None) -> "Dataset":
        """`range(stop)`, `range(start, stop)`, `range(start, stop, step)`: int64 scalars."""
        if not 1 <= len(args) <= 3:
            raise TypeError(f"range takes 1 to 3 arguments (start, stop, step), got {len(args)}")
        ints = [_check_count(a, "range argument", -2**62) for a in args]
        if len(ints) == 3 and ints[2] == 0:
            raise ValueError("range step must not be 0")
        return _TensorSlices(np.arange(*ints, dtype=_as_dtype(output_type)), what="range")

    @staticmethod
    def zip(*args, datasets=None, name=None) -> "Dataset":
        """Elements of several datasets side by side: `zip(a, b)` or `zip((a, b))` gives
        tuples, `zip({"x": a, "y": b})` dicts; ends with the shortest dataset."""
        if datasets is not None:
            if args:
                raise TypeError("zip: pass the datasets either positionally or as datasets=, not both")
            structure = datasets
        elif len(args) == 1 and not isinstance(args[0], Dataset):
            structure = args[0]
        else:
            structure = tuple(args)
        return _Zip(structure)

    @staticmethod
    def from_generator(generator, output_types=None, output_shapes=None, args=None, output_signature=None,
                       name=None) -> "Dataset":
        """Elements from `generator()` (called anew for every iteration), converted to and checked
        against `output_signature` (a structure of TensorSpec), or the older `output_types` /
        `output_shapes`."""
        return _FromGenerator(generator, output_types, output_shapes, args, output_signature)

    @staticmethod
    def sample_from_datasets(datasets, weights=None, seed=None, stop_on_empty_dataset=False) -> "Dataset":
        raise NotImplementedError("Dataset.sample_from_datasets is not supported; "
                                  "concatenate the datasets and shuffle instead")

    # ---- transformations -------------------------------------------------------------------
    def batch(self, batch_size, drop_remainder=False, num_parallel_calls=None, deterministic=None,
              name=None) -> "Dataset":
        """Consecutive elements stacked into batches (the last one smaller unless
        `drop_remainder`)."""
        return _Batch(self, _check_count(batch_size, "batch_size", 1), bool(drop_remainder))

    def padded_batch(self, batch_size, padded_shapes=None, padding_values=None, drop_remainder=False,
                     name=None) -> "Dataset":
        """Batches of elements padded (at the end of each axis) to `padded_shapes`, or to the
        largest element of the batch where a dimension is None or not given."""
        return _PaddedBatch(self, _check_count(batch_size, "batch_size", 1), padded_shapes, padding_values,
                            bool(drop_remainder))

    def unbatch(self, name=None) -> "Dataset":
        """The rows of every element's tensors as separate elements (the inverse of batch)."""
        return _Unbatch(self)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True, name=None) -> "Dataset":
        """Shuffle through a buffer of `buffer_size` elements, as TensorFlow does: the buffer is
        filled with the first elements, and each output is drawn uniformly from it and replaced by
        the next input. A buffer at least as large as the dataset gives a uniform permutation."""
        if isinstance(buffer_size, (int, np.integer)) and buffer_size == AUTOTUNE:
            raise ValueError("shuffle: buffer_size must be a positive int (AUTOTUNE is not a buffer size)")
        return _Shuffle(self, _check_count(buffer_size, "shuffle buffer_size", 1), _shuffle_seed(seed),
                        bool(reshuffle_each_iteration))

    def map(self, map_func, num_parallel_calls=None, deterministic=None, name=None) -> "Dataset":
        """`map_func` applied to every element (a tuple element is passed as separate arguments)."""
        if not callable(map_func):
            raise TypeError(f"map takes a function, got {type(map_func).__name__}")
        return _Map(self, map_func)

    def filter(self, predicate, name=None) -> "Dataset":
        """The elements for which `predicate` returns True (a scalar bool)."""
        if not callable(predicate):
            raise TypeError(f"filter takes a function, got {type(predicate).__name__}")
        return _Filter(self, predicate)

    def repeat(self, count=None, name=None) -> "Dataset":
        """The dataset `count` times (forever with None or -1)."""
        if count is not None:
            count = _check_count(count, "repeat count", -1)
            if count == -1:
                count = None
        return _Repeat(self, count)

    def take(self, count, name=None) -> "Dataset":
        """At most the first `count` elements (all with -1)."""
        return _Take(self, _check_count(count, "take count", -1))

    def skip(self, count, name=None) -> "Dataset":
        """All but the first `count` elements (none with -1)."""
        return _Skip(self, _check_count(count, "skip count", -1))

    def cache(self, filename="", name=None) -> "Dataset":
        """Keep the elements of the first complete iteration in memory and replay them after."""
        if not isinstance(filename, (str, bytes)) and not hasattr(filename, "__fspath__"):
            raise TypeError(f"cache filename must be a string, got {type(filename).__name__}")
        return _Cache(self)

    def prefetch(self, buffer_size, name=None) -> "Dataset":
        """Accepted for TensorFlow programs; elements are produced on demand (see the module doc)."""
        if not (isinstance(buffer_size, (int, np.integer)) and buffer_size == AUTOTUNE):
            _check_count(buffer_size, "prefetch buffer_size", 0)
        return _Passthrough(self, "prefetch")

    def enumerate(self, start=0, name=None) -> "Dataset":
        """Elements as (index, element), index an int64 counting from `start`."""
        return _Zip((_Counter(_check_count(start, "enumerate start", -2**62)), self))

    def concatenate(self, dataset, name=None) -> "Dataset":
        """This dataset's elements, then `dataset`'s (their element structures must match)."""
        if not isinstance(dataset, Dataset):
            raise TypeError(f"concatenate takes a Dataset, got {type(dataset).__name__}")
        return _Concatenate(self, dataset)

    def apply(self, transformation_func) -> "Dataset":
        return transformation_func(self)

    def with_options(self, options, name=None) -> "Dataset":
        """Options change nothing here (no threading or autotuning to configure)."""
        if options is not None and not isinstance(options, Options):
            raise TypeError(f"with_options takes a tf.data.Options, got {type(options).__name__}")
        return self

    def options(self) -> "Options":
        return Options()

    # ---- consuming -------------------------------------------------------------------------
    def __iter__(self) -> "Iterator":
        return _DatasetIterator(self)

    def as_numpy_iterator(self):
        """An iterator of elements as numpy values (arrays, numpy scalars for 0-d tensors)."""
        for element in self._elements():
            yield _to_user(element, numpy=True)

    def reduce(self, initial_state, reduce_func):
        """Fold the elements: `state = reduce_func(state, element)`, starting at `initial_state`."""
        state = initial_state
        for element in self._elements():
            args = _to_user(element)
            state = reduce_func(state, args)
        return _map(wrap, _normalize(state, "reduce state"))

    def get_single_element(self, name=None):
        it = self._elements()
        try:
            first = next(it)
        except StopIteration:
            raise ValueError("get_single_element: the dataset is empty") from None
        for _ in it:
            raise ValueError("get_single_element: the dataset has more than one element")
        return _to_user(first)

    def cardinality(self) -> Tensor:
        """The number of elements; INFINITE (-1) or UNKNOWN (-2) when it cannot be known
        without iterating (after `filter`, `unbatch` or `from_generator`)."""
        return wrap(np.int64(self._cardinality()))

    def __len__(self) -> int:
        n = self._cardinality()
        if n == INFINITE:
            raise TypeError("The dataset is infinite.")
        if n == UNKNOWN:
            raise TypeError("The dataset length is unknown.")
        return n

    def __bool__(self) -> bool:
        return True  # not len(): an infinite dataset is still a dataset

    @property
    def element_spec(self):
        """The structure of TensorSpec of one element."""
        spec = self.__dict__.get("_spec_cache")
        if spec is None:
            spec = self._compute_spec()
            self._spec_cache = spec
        return spec

    def _spec_runs_user_code(self) -> bool:
        """Whether element_spec would call a map function (repr must not run user code)."""
        return False

    def __repr__(self) -> str:
        spec = self.__dict__.get("_spec_cache")
        if spec is None:
            spec = "<known once iterated>" if self._spec_runs_user_code() else self.element_spec
        return f"<{type(self).__name__.lstrip('_')}Dataset element_spec={spec}>"

    def __reduce__(self):
        raise TypeError("datasets are not picklable (they may hold functions and generators)")


class _DatasetIterator:
    """What `iter(dataset)` returns: `next(it)`, `it.get_next()`, `it.element_spec`."""

    def __init__(self, dataset: Dataset):
        self._dataset = dataset
        self._it = dataset._elements()

    def __iter__(self):
        return self

    def __next__(self):
        return _to_user(next(self._it))

    def get_next(self):
        try:
            return next(self)
        except StopIteration:
            raise OutOfRangeError("End of sequence") from None

    next = __next__

    @property
    def element_spec(self):
        return self._dataset.element_spec


class OutOfRangeError(IndexOutOfRangeError):
    """`get_next()` past the end of a dataset: caught by `except tf.errors.OutOfRangeError`."""


# ---- sources ------------------------------------------------------------------------------
class _TensorSlices(Dataset):
    def __init__(self, tensors, what: str = "from_tensor_slices"):
        rows = _normalize(tensors, what)
        leaves = _flatten(rows)
        if not leaves:
            raise ValueError(f"{what}: no tensors given (an empty tuple or dict has nothing to slice)")
        sizes = []
        for leaf in leaves:
            if leaf.ndim == 0:
                raise ValueError(f"{what}: every tensor needs a first dimension to slice, got a scalar "
                                 f"(use from_tensors for a single element)")
            sizes.append(leaf.shape[0])
        if len(set(sizes)) > 1:
            raise ValueError(f"{what}: all tensors must have the same size in their first dimension, got sizes "
                             f"{sizes} for {_describe(rows)}")
        self._rows = rows
        self._n = sizes[0]

    def _indices(self):
        if self._n:
            yield np.arange(self._n, dtype=np.int64)

    def _compute_spec(self):
        return _map(lambda a: TensorSpec(a.shape[1:], a.dtype), self._rows)

    def _cardinality(self) -> int:
        return self._n


class _Counter(Dataset):
    """enumerate's index: start, start + 1, ... (int64 scalars), endless."""

    def __init__(self, start: int):
        self._start = start

    def _elements(self):
        for i in itertools.count(self._start):
            yield np.array(i, dtype=np.int64)

    def _compute_spec(self):
        return TensorSpec((), np.int64)

    def _cardinality(self) -> int:
        return INFINITE


class _FromTensors(Dataset):
    def __init__(self, tensors):
        self._element = _normalize(tensors, "from_tensors")

    def _elements(self):
        yield self._element

    def _compute_spec(self):
        return _map(_spec_of, self._element)

    def _cardinality(self) -> int:
        return 1


class _FromGenerator(Dataset):
    def __init__(self, generator, output_types, output_shapes, args, output_signature):
        if not callable(generator):
            hint = " (pass the generator function itself, not a call to it: from_generator(gen), not gen())" \
                if hasattr(generator, "__next__") else ""
            raise TypeError(f"from_generator: `generator` must be a callable that returns an iterator, got "
                            f"{type(generator).__name__}{hint}")
        if output_signature is not None:
            if output_types is not None or output_shapes is not None:
                raise TypeError("from_generator: give output_signature, or output_types / output_shapes, not both")
            spec = _map(self._check_spec, output_signature)
        elif output_types is not None:
            if output_shapes is None:
                spec = _map(lambda t: TensorSpec(None, t), output_types)
            else:
                spec = _map_many(lambda t, s: TensorSpec(s, t), output_types, output_shapes, up_to=True,
                                 what="from_generator: output_types and output_shapes")
        else:
            raise TypeError("from_generator: to specify the elements, give output_signature (a structure of "
                            "tf.TensorSpec) or output_types")
        self._generator = generator
        self._args = tuple(args) if args is not None else ()
        self._spec = spec

    @staticmethod
    def _check_spec(s):
        if not _is_spec_like(s):
            raise TypeError(f"from_generator: output_signature holds tf.TensorSpec objects (in tuples / dicts), "
                            f"got {type(s).__name__}")
        return _as_spec(s)

    def _elements(self):
        it = self._generator(*self._args)
        if not hasattr(it, "__next__"):
            try:
                it = iter(it)
            except TypeError:
                raise TypeError(f"from_generator: `generator()` must return an iterator, got "
                                f"{type(it).__name__}") from None
        for i, value in enumerate(it):
            yield self._conform(value, i)

    def _conform(self, value, i: int):
        spec = self._spec
        if isinstance(spec, tuple) and isinstance(value, list) and len(value) == len(spec):
            value = tuple(value)  # a yielded list where the signature has a tuple: TF accepts it too
        try:
            # up_to: where the signature has one tensor, any value converts (a tuple of numbers too)
            return _map_many(lambda s, v: self._leaf(s, v, i), spec, value, what="from_generator", up_to=True)
        except ValueError as exc:
            if "structures differ" not in str(exc):
                raise
            raise TypeError(f"from_generator: `generator` yielded element {i} that does not match the expected "
                            f"structure {_describe(spec)}: got {_describe_value(value)}") from None

    @staticmethod
    def _leaf(spec: TensorSpec, value, i: int) -> np.ndarray:
        arr = _to_array(value, f"from_generator: element {i}")
        if arr.dtype.kind in "US" and spec.dtype.kind not in "US":
            raise TypeError(f"from_generator: `generator` yielded strings in element {i} where {spec.dtype.name} "
                            "was expected")
        if arr.dtype != spec.dtype and not _dtype_compatible(arr.dtype, spec.dtype):
            arr = arr.astype(spec.dtype)
        if not _shape_compatible(spec.shape, arr.shape):
            raise ValueError(f"from_generator: `generator` yielded an element of shape {arr.shape} where an element "
                             f"of shape {tuple(spec.shape)} was expected (element {i})")
        return arr

    def _compute_spec(self):
        return self._spec


def _describe_value(value) -> str:
    if isinstance(value, (tuple, list)):
        inner = ", ".join(_describe_value(v) for v in value)
        return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_describe_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, np.ndarray):
        return f"array{value.shape}"
    return type(value).__name__


class _Zip(Dataset):
    def __init__(self, structure):
        if isinstance(structure, Dataset):
            structure = (structure,)
        if not isinstance(structure, (tuple, dict)) or not _flatten(structure):
            raise TypeError(f"zip takes datasets (zip(a, b), a tuple or a dict of datasets), got "
                            f"{type(structure).__name__}")
        for d in _flatten(structure):
            if not isinstance(d, Dataset):
                raise TypeError(f"zip takes datasets, got a {type(d).__name__} among them")
        self._structure = structure

    def _elements(self):
        datasets = _flatten(self._structure)
        its = [d._elements() for d in datasets]
        while True:
            parts = []
            for it in its:
                try:
                    parts.append(next(it))
                except StopIteration:
                    return
            got = iter(parts)
            yield _map(lambda _: next(got), self._structure)

    def _compute_spec(self):
        return _map(lambda d: d.element_spec, self._structure)

    def _spec_runs_user_code(self) -> bool:
        return any(d._spec_runs_user_code() for d in _flatten(self._structure))

    def _cardinality(self) -> int:
        result = INFINITE
        for d in _flatten(self._structure):
            n = d._cardinality()
            if n == UNKNOWN:
                return UNKNOWN
            if n != INFINITE:
                result = n if result == INFINITE else min(result, n)
        return result


class _Concatenate(Dataset):
    def __init__(self, first: Dataset, second: Dataset):
        self._first, self._second = first, second

    def _elements(self):
        yield from self._first._elements()
        yield from self._second._elements()

    def _compute_spec(self):
        a, b = self._first.element_spec, self._second.element_spec
        return _map_many(_merge_specs, a, b, what="concatenate: the datasets' elements")

    def _spec_runs_user_code(self) -> bool:
        return self._first._spec_runs_user_code() or self._second._spec_runs_user_code()

    def _cardinality(self) -> int:
        a, b = self._first._cardinality(), self._second._cardinality()
        if INFINITE in (a, b):
            return INFINITE
        if UNKNOWN in (a, b):
            return UNKNOWN
        return a + b


def _merge_specs(a: TensorSpec, b: TensorSpec) -> TensorSpec:
    if not _dtype_compatible(a.dtype, b.dtype):
        raise TypeError(f"concatenate: the datasets' element types differ ({a.dtype.name} vs {b.dtype.name})")
    if a.shape is None or b.shape is None or len(a.shape) != len(b.shape):
        return TensorSpec(None, a.dtype)
    return TensorSpec([x if x == y else None for x, y in zip(a.shape, b.shape)], a.dtype)


# ---- transformations ------------------------------------------------------------------------
class _Unary(Dataset):
    """A transformation of one input dataset; keeps its spec and cardinality unless overridden."""

    def __init__(self, parent: Dataset):
        self._parent = parent

    def _spec_runs_user_code(self) -> bool:
        return self._parent._spec_runs_user_code()

    def _compute_spec(self):
        return self._parent.element_spec

    def _cardinality(self) -> int:
        return self._parent._cardinality()


class _Passthrough(_Unary):
    """prefetch: the same elements (and the same row stream when the input has one)."""

    def __init__(self, parent: Dataset, kind: str):
        super().__init__(parent)
        self._rows = parent._rows
        self._kind = kind

    def _indices(self):
        return self._parent._indices()

    def _elements(self):
        return self._parent._elements()


class _Batch(_Unary):
    def __init__(self, parent: Dataset, batch_size: int, drop_remainder: bool):
        super().__init__(parent)
        self._size, self._drop = batch_size, drop_remainder

    def _elements(self):
        size = self._size
        if self._parent._rows is not None:
            rows = self._parent._rows
            pending: list[np.ndarray] = []
            have = 0
            for chunk in self._parent._indices():
                pending.append(chunk)
                have += len(chunk)
                if have < size:
                    continue
                idx = np.concatenate(pending) if len(pending) > 1 else pending[0]
                full = (len(idx) // size) * size
                for s in range(0, full, size):
                    yield _gather(rows, idx[s:s + size])
                pending, have = ([idx[full:]], len(idx) - full) if full < len(idx) else ([], 0)
            if have and not self._drop:
                yield _gather(rows, np.concatenate(pending))
            return
        batch = []
        for element in self._parent._elements():
            batch.append(element)
            if len(batch) == size:
                yield _stack(batch, "batch")
                batch = []
        if batch and not self._drop:
            yield _stack(batch, "batch")

    def _compute_spec(self):
        first = self._size if self._drop else None
        return _map(lambda s: TensorSpec(None if s.shape is None else (first,) + tuple(s.shape), s.dtype),
                    self._parent.element_spec)

    def _cardinality(self) -> int:
        n = self._parent._cardinality()
        if n < 0:
            return n
        return n // self._size if self._drop else math.ceil(n / self._size)


class _PaddedBatch(_Batch):
    def __init__(self, parent, batch_size, padded_shapes, padding_values, drop_remainder):
        super().__init__(parent, batch_size, drop_remainder)
        spec = parent.element_spec
        # per component: (its padded shape or None for "largest in the batch" everywhere, pad value)
        if padded_shapes is None:
            shapes = _map(lambda s: _Leaf(s.shape), spec)
        else:
            shapes = _map_many(lambda s, p: _Leaf(_as_shape(p)), spec, padded_shapes, up_to=True,
                               what="padded_batch: padded_shapes")
        if padding_values is None:
            values = _map(lambda s: _Leaf("" if s.dtype.kind in "US" else 0), spec)
        elif not isinstance(padding_values, (tuple, dict)):
            values = _map(lambda s: _Leaf(padding_values), spec)
        else:
            values = _map_many(lambda s, v: _Leaf(v), spec, padding_values, up_to=True,
                               what="padded_batch: padding_values")
        self._shapes = [leaf.value for leaf in _flatten(shapes)]
        self._values = [leaf.value for leaf in _flatten(values)]
        for shape, s in zip(self._shapes, _flatten(spec)):
            if shape is not None and s.shape is not None and len(shape) != len(s.shape):
                raise ValueError(f"padded_batch: padded shape {tuple(shape)} has rank {len(shape)}, but the "
                                 f"component has shape {tuple(s.shape)}")

    def _elements(self):
        batch = []
        for element in self._parent._elements():
            batch.append(element)
            if len(batch) == self._size:
                yield self._pad(batch)
                batch = []
        if batch and not self._drop:
            yield self._pad(batch)

    def _pad(self, batch):
        flat = [_flatten(e) for e in batch]
        out = []
        for c, (want, value) in enumerate(zip(self._shapes, self._values)):
            column = [f[c] for f in flat]
            ranks = {a.ndim for a in column}
            if len(ranks) > 1:
                raise ValueError(f"padded_batch: component {c} has elements of different ranks {sorted(ranks)}")
            rank = ranks.pop()
            dims = []
            for d in range(rank):
                longest = max(a.shape[d] for a in column)
                fixed = None if want is None else want[d]
                if fixed is not None and longest > fixed:
                    raise ValueError(f"padded_batch: component {c} has size {longest} in dimension {d}, larger than "
                                     f"its padded shape {tuple(want)}")
                dims.append(longest if fixed is None else fixed)
            target = np.full((len(column), *dims), value, dtype=column[0].dtype)
            for j, a in enumerate(column):
                target[(j, *(slice(0, n) for n in a.shape))] = a
            out.append(target)
        it = iter(out)
        return _map(lambda _: next(it), batch[0])

    def _compute_spec(self):
        first = self._size if self._drop else None
        shapes = iter(self._shapes)

        def padded(s):
            shape = next(shapes)
            return TensorSpec(None if shape is None else (first,) + tuple(shape), s.dtype)
        return _map(padded, self._parent.element_spec)


class _Leaf:
    """A value kept whole while a structure is walked (a shape is a tuple, not structure)."""

    def __init__(self, value):
        self.value = value


class _Unbatch(_Unary):
    def _elements(self):
        for element in self._parent._elements():
            leaves = _flatten(element)
            sizes = set()
            for leaf in leaves:
                if leaf.ndim == 0:
                    raise ValueError("unbatch: every tensor of an element needs a batch dimension, got a scalar")
                sizes.add(leaf.shape[0])
            if len(sizes) > 1:
                raise ValueError(f"unbatch: the tensors of an element have different batch sizes {sorted(sizes)}")
            for i in range(sizes.pop()):
                yield _row(element, i)

    def _compute_spec(self):
        def inner(s):
            if s.shape is not None and len(s.shape) == 0:
                raise ValueError("unbatch: the elements have scalar components, which have no batch dimension")
            return TensorSpec(None if s.shape is None else tuple(s.shape)[1:], s.dtype)
        return _map(inner, self._parent.element_spec)

    def _cardinality(self) -> int:
        n = self._parent._cardinality()
        return n if n in (INFINITE, 0) else UNKNOWN


class _Shuffle(_Unary):
    def __init__(self, parent: Dataset, buffer_size: int, seed: int, reshuffle: bool):
        super().__init__(parent)
        self._rows = parent._rows
        self._buffer, self._seed, self._reshuffle = buffer_size, seed, reshuffle
        self._iterations = 0

    def _rng(self) -> np.random.Generator:
        k = self._iterations if self._reshuffle else 0
        self._iterations += 1
        return np.random.default_rng([self._seed, k])

    def _indices(self):
        rng = self._rng()
        n = self._parent._cardinality()
        if 0 <= n <= self._buffer:
            # The whole input fits in the buffer: TensorFlow's draw is then a uniform permutation.
            chunks = list(self._parent._indices())
            if chunks:
                idx = np.concatenate(chunks)
                yield idx[rng.permutation(len(idx))]
            return
        out = []
        for i in _buffer_shuffle((i for chunk in self._parent._indices() for i in chunk.tolist()), self._buffer, rng):
            out.append(i)
            if len(out) == _CHUNK:
                yield np.asarray(out, dtype=np.int64)
                out = []
        if out:
            yield np.asarray(out, dtype=np.int64)

    def _elements(self):
        if self._rows is not None:
            yield from Dataset._elements(self)
            return
        yield from _buffer_shuffle(self._parent._elements(), self._buffer, self._rng())


def _buffer_shuffle(items, buffer_size: int, rng: np.random.Generator):
    """TensorFlow's shuffle: fill a buffer, then emit a uniformly chosen slot and refill it with
    the next input; at the end, drain the buffer in random order (a uniform permutation of what
    is left, which is what drawing slot after slot without refill amounts to)."""
    it = iter(items)
    buf = list(itertools.islice(it, buffer_size))
    draws = iter(())
    for item in it:
        u = next(draws, None)
        if u is None:  # random numbers drawn in blocks: one numpy call per 1024 outputs
            draws = iter(rng.random(1024).tolist())
            u = next(draws)
        j = int(u * len(buf))
        yield buf[j]
        buf[j] = item
    for j in rng.permutation(len(buf)).tolist():
        yield buf[j]


class _Map(_Unary):
    def __init__(self, parent: Dataset, fn: Callable):
        super().__init__(parent)
        self._fn = fn

    def _spec_runs_user_code(self) -> bool:
        return True

    def _apply(self, element):
        out = _call(self._fn, element)
        if isinstance(out, list):
            out = tuple(out)  # TF: a returned list is a tuple of results, not one stacked tensor
        return _normalize(out, "map function output")

    def _elements(self):
        for element in self._parent._elements():
            yield self._apply(element)

    def _compute_spec(self):
        for element in self._parent._elements():
            return _map(_spec_of, self._apply(element))
        # an empty input: call the function on zeros shaped like the input's elements
        probe = _map(lambda s: np.zeros([1 if d is None else d for d in (s.shape or ())], s.dtype),
                     self._parent.element_spec)
        return _map(_spec_of, self._apply(probe))


class _Filter(_Unary):
    def __init__(self, parent: Dataset, predicate: Callable):
        super().__init__(parent)
        self._predicate = predicate

    def _elements(self):
        for element in self._parent._elements():
            keep = np.asarray(_call(self._predicate, element))
            if keep.shape != () or keep.dtype.kind not in "bi":
                raise TypeError(f"filter: the predicate must return a scalar bool, got shape {keep.shape} dtype "
                                f"{keep.dtype}")
            if bool(keep):
                yield element

    def _cardinality(self) -> int:
        n = self._parent._cardinality()
        return n if n == 0 else UNKNOWN


class _Repeat(_Unary):
    def __init__(self, parent: Dataset, count: int | None):
        super().__init__(parent)
        self._rows = parent._rows
        self._count = count

    def _passes(self, make):
        k = 0
        while self._count is None or k < self._count:
            got = False
            for item in make():
                got = got or not (isinstance(item, np.ndarray) and item.ndim == 1 and not len(item))
                yield item
            if not got:
                return  # an empty dataset repeated is empty, not an endless loop
            k += 1

    def _indices(self):
        return self._passes(self._parent._indices)

    def _elements(self):
        if self._rows is not None:
            return Dataset._elements(self)
        return self._passes(self._parent._elements)

    def _cardinality(self) -> int:
        n = self._parent._cardinality()
        if self._count == 0 or n == 0:
            return 0
        if self._count is None:
            return UNKNOWN if n == UNKNOWN else INFINITE
        return n if n < 0 else n * self._count


class _Take(_Unary):
    def __init__(self, parent: Dataset, count: int):
        super().__init__(parent)
        self._rows = parent._rows
        self._count = count

    def _indices(self):
        left = self._count
        if left == 0:
            return
        for chunk in self._parent._indices():
            if left >= 0 and len(chunk) >= left:
                yield chunk[:left]
                return
            left -= len(chunk) if left >= 0 else 0
            yield chunk

    def _elements(self):
        if self._rows is not None:
            yield from Dataset._elements(self)
            return
        if self._count < 0:
            yield from self._parent._elements()
            return
        if self._count == 0:
            return
        for i, element in enumerate(self._parent._elements(), 1):
            yield element
            if i == self._count:
                return

    def _cardinality(self) -> int:
        n = self._parent._cardinality()
        if self._count == 0:
            return 0
        if n == UNKNOWN:
            return UNKNOWN
        if n == INFINITE:
            return INFINITE if self._count < 0 else self._count
        return n if self._count < 0 else min(n, self._count)


class _Skip(_Unary):
    def __init__(self, parent: Dataset, count: int):
        super().__init__(parent)
        self._rows = parent._rows
        self._count = count

    def _indices(self):
        if self._count < 0:
            return
        left = self._count
        for chunk in self._parent._indices():
            if left:
                drop = min(left, len(chunk))
                left -= drop
                chunk = chunk[drop:]
            if len(chunk):
                yield chunk

    def _elements(self):
        if self._rows is not None:
            yield from Dataset._elements(self)
            return
        if self._count < 0:
            return
        yield from itertools.islice(self._parent._elements(), self._count, None)

    def _cardinality(self) -> int:
        n = self._parent._cardinality()
        if n < 0:
            return n
        return 0 if self._count < 0 else max(0, n - self._count)


class _Cache(_Unary):
    def __init__(self, parent: Dataset):
        super().__init__(parent)
        self._rows = parent._rows
        self._stored: list | None = None

    def _replay(self, make):
        if self._stored is not None:
            yield from self._stored
            return
        seen = []
        for item in make():
            seen.append(item)
            yield item
        self._stored = seen  # only a complete pass is kept: a partial one would lose elements

    def _indices(self):
        return self._replay(self._parent._indices)

    def _elements(self):
        if self._rows is not None:
            return Dataset._elements(self)
        return self._replay(self._parent._elements)


# ---------------------------------------------------------------------------------------------
# options and the experimental namespace
# ---------------------------------------------------------------------------------------------
class _OptionGroup:
    """A group of options: any attribute may be set (and reads None until it is)."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return None


class Options(_OptionGroup):
    """`tf.data.Options`: accepted so programs that set them run; they change nothing here."""

    def __init__(self):
        for group in ("experimental_distribute", "experimental_optimization", "threading", "autotune"):
            object.__setattr__(self, group, _OptionGroup())


class _AutoShardPolicy:
    OFF, AUTO, FILE, DATA, HINT = -1, 0, 1, 2, 3


def _cardinality_fn(dataset: Dataset) -> Tensor:
    if not isinstance(dataset, Dataset):
        raise TypeError(f"cardinality takes a Dataset, got {type(dataset).__name__}")
    return dataset.cardinality()


experimental = types.SimpleNamespace(
    AUTOTUNE=AUTOTUNE,
    INFINITE_CARDINALITY=INFINITE,
    UNKNOWN_CARDINALITY=UNKNOWN,
    cardinality=_cardinality_fn,
    AutoShardPolicy=_AutoShardPolicy,
)

INFINITE_CARDINALITY = INFINITE
UNKNOWN_CARDINALITY = UNKNOWN

__all__ = ["Dataset", "TensorSpec", "Options", "AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY",
           "experimental", "OutOfRangeError"]
