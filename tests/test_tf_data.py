"""tf.data.Dataset against a plain-Python model of its elements, and what fit / evaluate / predict
take besides arrays: datasets, generators, PyDataset / Sequence, steps_per_epoch, validation data
as a dataset; with the errors for data a model cannot take."""

from __future__ import annotations

import collections
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import aiaas_core as tf
from aiaas_core import keras
from aiaas_core.keras import layers

Dataset = tf.data.Dataset


def values(ds):
    """A dataset's elements as plain Python (ints / floats / nested lists), for comparisons."""
    return [_plain(e) for e in ds.as_numpy_iterator()]


def _plain(e):
    if isinstance(e, tuple):
        return tuple(_plain(v) for v in e)
    if isinstance(e, dict):
        return {k: _plain(v) for k, v in e.items()}
    return np.asarray(e).tolist()


def chunks(items, size, drop=False):
    out = [items[i:i + size] for i in range(0, len(items), size)]
    return [c for c in out if len(c) == size] if drop else out


# ---------------------------------------------------------------------------------------------
# the namespace
# ---------------------------------------------------------------------------------------------
def test_tf_data_is_tensorflows_dataset_and_the_preparation_module_stays():
    import aiaas_core.data as data

    assert tf.data is data
    assert tf.data.Dataset is data.Dataset
    assert tf.data.AUTOTUNE == tf.data.experimental.AUTOTUNE == -1
    assert tf.data.INFINITE_CARDINALITY == tf.data.experimental.INFINITE_CARDINALITY == -1
    assert tf.data.UNKNOWN_CARDINALITY == tf.data.experimental.UNKNOWN_CARDINALITY == -2
    for name in ("load_csv", "load_npz", "train_test_split", "StandardScaler", "to_categorical", "Pipeline"):
        assert callable(getattr(data, name))
    assert keras.utils.Sequence is keras.utils.PyDataset


# ---------------------------------------------------------------------------------------------
# sources
# ---------------------------------------------------------------------------------------------
def test_from_tensor_slices_arrays_tuples_dicts_and_nesting():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    y = np.array([0, 1, 0, 1])
    assert values(Dataset.from_tensor_slices(x)) == x.tolist()
    assert values(Dataset.from_tensor_slices((x, y))) == list(zip(x.tolist(), y.tolist()))
    nested = Dataset.from_tensor_slices(({"a": x, "b": y}, y))
    got = values(nested)
    assert got[2] == ({"a": x[2].tolist(), "b": 0}, 0)
    spec = nested.element_spec
    assert spec[0]["a"].shape == (3,) and spec[0]["a"].dtype == np.float32
    assert spec[0]["b"].shape == () and spec[1].dtype == np.int64
    assert len(nested) == 4 and int(nested.cardinality()) == 4


def test_lists_are_tensors_and_python_numbers_take_tensorflows_dtypes():
    ds = Dataset.from_tensor_slices([[1, 2], [3, 4], [5, 6]])  # one int tensor of shape (3, 2), not a structure
    assert values(ds) == [[1, 2], [3, 4], [5, 6]]
    assert ds.element_spec.dtype == np.int32 and ds.element_spec.shape == (2,)
    assert Dataset.from_tensor_slices([0.5, 1.5]).element_spec.dtype == np.float32
    assert Dataset.from_tensor_slices(np.array([0.5, 1.5])).element_spec.dtype == np.float64  # numpy keeps its dtype
    assert Dataset.from_tensor_slices(["a", "bc"]).element_spec.dtype.kind == "U"


_DTYPES = st.sampled_from([np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_])


@given(st.integers(0, 6), st.lists(st.integers(0, 3), max_size=3), _DTYPES, st.integers(1, 4))
def test_slices_batches_and_specs_keep_shapes_and_dtypes(n, dims, dtype, size):
    x = (np.arange(n * int(np.prod(dims)), dtype=np.int64).reshape(n, *dims) % 7).astype(dtype)
    y = np.arange(n, dtype=np.int64)
    ds = Dataset.from_tensor_slices({"x": x, "pair": (y, x)})
    spec = ds.element_spec
    assert spec["x"].shape == tuple(dims) and spec["x"].dtype == dtype
    assert spec["pair"][0].shape == () and spec["pair"][1] == tf.data.TensorSpec(dims, dtype)
    elements = list(ds.as_numpy_iterator())
    assert len(elements) == n == len(ds)
    for i, e in enumerate(elements):
        np.testing.assert_array_equal(e["x"], x[i])
        assert np.asarray(e["x"]).dtype == dtype and e["pair"][0] == i
    batched = ds.batch(size)
    assert batched.element_spec["x"].shape == (None, *dims)
    got = list(batched.as_numpy_iterator())
    assert [len(b["pair"][0]) for b in got] == [len(c) for c in chunks(list(range(n)), size)]
    if n:
        np.testing.assert_array_equal(np.concatenate([b["x"] for b in got]), x)
        assert all(spec.is_compatible_with(b["x"][0]) for b in got for spec in [ds.element_spec["x"]])


def test_iteration_gives_tensors_and_as_numpy_iterator_numpy_values():
    ds = Dataset.from_tensor_slices((np.arange(3.0), np.arange(3)))
    x, y = next(iter(ds))
    assert isinstance(x, tf.ops.Tensor) and float(x.numpy()) == 0.0
    a, b = next(ds.as_numpy_iterator())
    assert not isinstance(a, tf.ops.Tensor) and isinstance(a, np.generic)
    it = iter(Dataset.range(1))
    assert int(it.get_next()) == 0
    with pytest.raises(tf.data.dataset.OutOfRangeError):
        it.get_next()


def test_every_iteration_starts_from_the_beginning():
    ds = Dataset.range(5).map(lambda v: v * 10)
    first = iter(ds)
    assert int(next(first)) == 0 and int(next(first)) == 10
    assert values(ds) == [0, 10, 20, 30, 40]
    assert int(next(first)) == 20  # an iterator keeps its own place


def test_from_tensors_is_one_element():
    ds = Dataset.from_tensors((np.ones((2, 3)), 7))
    assert len(ds) == 1
    (x, y), = list(ds.as_numpy_iterator())
    assert x.shape == (2, 3) and y == 7
    assert ds.element_spec[0].shape == (2, 3)


@given(st.integers(-20, 20), st.integers(-20, 20), st.sampled_from([1, 2, 3, -1, -3]))
def test_range_matches_python(start, stop, step):
    assert values(Dataset.range(stop)) == list(range(stop))
    assert values(Dataset.range(start, stop)) == list(range(start, stop))
    ds = Dataset.range(start, stop, step)
    assert values(ds) == list(range(start, stop, step))
    assert len(ds) == len(range(start, stop, step))
    assert ds.element_spec.dtype == np.int64 and ds.element_spec.shape == ()


def test_zip_structures_and_the_shortest_input():
    a, b = Dataset.range(5), Dataset.range(10, 13)
    assert values(Dataset.zip(a, b)) == [(0, 10), (1, 11), (2, 12)]
    assert values(Dataset.zip((a, b))) == [(0, 10), (1, 11), (2, 12)]
    assert values(Dataset.zip({"p": a, "q": b}))[1] == {"p": 1, "q": 11}
    assert int(Dataset.zip(a, b).cardinality()) == 3
    assert int(Dataset.zip(a.repeat(), b).cardinality()) == 3
    assert int(Dataset.zip(a.repeat(), b.repeat()).cardinality()) == tf.data.INFINITE_CARDINALITY
    assert int(Dataset.zip(a.filter(lambda v: True), b).cardinality()) == tf.data.UNKNOWN_CARDINALITY
    with pytest.raises(TypeError, match="zip takes datasets"):
        Dataset.zip((a, [1, 2]))


def test_from_generator_with_a_signature_restarts_and_converts():
    calls = []

    def gen(n):
        calls.append(n)
        for i in range(int(n)):
            yield np.full(2, i, np.float64), i

    sig = (tf.data.TensorSpec(shape=(2,), dtype="float32"), tf.data.TensorSpec(shape=(), dtype="int32"))
    ds = Dataset.from_generator(gen, output_signature=sig, args=(3,))
    assert values(ds) == [([0.0, 0.0], 0), ([1.0, 1.0], 1), ([2.0, 2.0], 2)]
    assert values(ds)[2][1] == 2 and len(calls) == 2
    x, y = next(iter(ds))
    assert x.dtype == np.float32 and y.dtype == np.int32  # converted to the signature
    assert ds.element_spec == sig
    assert int(ds.cardinality()) == tf.data.UNKNOWN_CARDINALITY
    with pytest.raises(TypeError, match="length is unknown"):
        len(ds)
    # tf.TensorSpec (tf.function's) describes elements too
    top = Dataset.from_generator(gen, args=(2,), output_signature=(tf.TensorSpec((2,), tf.float32),
                                                                  tf.TensorSpec((), tf.int32)))
    assert values(top) == values(ds)[:2] and top.element_spec == sig and sig[0] == tf.TensorSpec((2,), tf.float32)
    it = iter(top)
    it.get_next(), it.get_next()
    with pytest.raises(tf.errors.OutOfRangeError):
        it.get_next()
    legacy = Dataset.from_generator(lambda: gen(2), output_types=("float32", "int64"), output_shapes=((2,), ()))
    assert values(legacy) == [([0.0, 0.0], 0), ([1.0, 1.0], 1)]
    assert legacy.element_spec[1].dtype == np.int64


def test_from_generator_errors_name_the_problem():
    spec = tf.data.TensorSpec(shape=(2,), dtype="float32")
    with pytest.raises(TypeError, match="not a call to it"):
        Dataset.from_generator((i for i in range(3)), output_signature=spec)
    with pytest.raises(TypeError, match="output_signature"):
        Dataset.from_generator(lambda: iter([]))
    with pytest.raises(ValueError, match=r"shape \(3,\) where an element of shape \(2,\)"):
        list(Dataset.from_generator(lambda: iter([np.ones(3)]), output_signature=spec))
    with pytest.raises(TypeError, match="None"):
        list(Dataset.from_generator(lambda: iter([None]), output_signature=spec))
    with pytest.raises(TypeError, match="does not match the expected structure"):
        list(Dataset.from_generator(lambda: iter([(np.ones(2), 1, 2)]), output_signature=(spec, spec)))
    with pytest.raises(TypeError, match="does not match the expected structure"):
        list(Dataset.from_generator(lambda: iter([{"a": np.ones(2)}]), output_signature={"b": spec}))
    assert values(Dataset.from_generator(lambda: iter([(1.0, 2.0)]), output_signature=spec)) == [[1.0, 2.0]]
    with pytest.raises(TypeError, match="strings"):
        list(Dataset.from_generator(lambda: iter([np.array(["a", "b"])]), output_signature=spec))


def test_sources_refuse_what_cannot_be_a_tensor():
    with pytest.raises(ValueError, match="ragged"):
        Dataset.from_tensor_slices([[1, 2], [3]])
    with pytest.raises(TypeError, match="None"):
        Dataset.from_tensor_slices((np.ones(3), None))
    with pytest.raises(ValueError, match="same size in their first dimension"):
        Dataset.from_tensor_slices((np.ones(3), np.ones(4)))
    with pytest.raises(ValueError, match="scalar"):
        Dataset.from_tensor_slices(5)
    with pytest.raises(TypeError, match="mixed or non-numeric"):
        Dataset.from_tensor_slices(np.array([1, "a", object()], dtype=object))


# ---------------------------------------------------------------------------------------------
# transformations against the Python model
# ---------------------------------------------------------------------------------------------
@given(st.integers(0, 40), st.integers(1, 9), st.booleans())
def test_batch_both_paths_match_python_chunks(n, size, drop):
    data = np.arange(n * 2, dtype=np.int64).reshape(n, 2) if n else np.zeros((0, 2), np.int64)
    rows = data.tolist()
    expect = chunks(rows, size, drop)
    sliced = Dataset.from_tensor_slices(data).batch(size, drop_remainder=drop)   # gathered rows
    stacked = Dataset.from_tensor_slices(data).map(lambda r: r).batch(size, drop_remainder=drop)  # stacked
    assert values(sliced) == expect
    assert values(stacked) == expect
    assert len(sliced) == len(expect)
    assert sliced.element_spec.shape == ((size if drop else None), 2)


def test_batch_of_arrays_slices_without_copying():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.arange(20)
    for xb, yb in Dataset.from_tensor_slices((x, y)).batch(8):
        assert np.shares_memory(np.asarray(xb), x) and np.shares_memory(np.asarray(yb), y)
    for xb, yb in Dataset.from_tensor_slices((x, y)).batch(8).as_numpy_iterator():
        xb /= 2  # numpy batches are the caller's to change: copies, the source stays
    np.testing.assert_array_equal(x, np.arange(40, dtype=np.float32).reshape(20, 2))


def test_batch_refuses_different_shapes_and_padded_batch_pads():
    def gen():
        for n in (1, 3, 2):
            yield np.arange(1, n + 1)

    ds = Dataset.from_generator(gen, output_signature=tf.data.TensorSpec((None,), "int64"))
    with pytest.raises(ValueError, match="different shapes in component 0.*padded_batch"):
        list(ds.batch(2))
    assert values(ds.padded_batch(2)) == [[[1, 0, 0], [1, 2, 3]], [[1, 2]]]
    assert values(ds.padded_batch(3, padded_shapes=[4], padding_values=-1)) == \
        [[[1, -1, -1, -1], [1, 2, 3, -1], [1, 2, -1, -1]]]
    assert ds.padded_batch(2).element_spec.shape == (None, None)
    with pytest.raises(ValueError, match="larger than its padded shape"):
        list(ds.padded_batch(2, padded_shapes=[2]))


@given(st.integers(0, 30), st.integers(1, 7))
def test_unbatch_inverts_batch(n, size):
    data = np.arange(n * 3).reshape(n, 3) if n else np.zeros((0, 3), np.int64)
    ds = Dataset.from_tensor_slices((data, np.arange(n))).batch(size).unbatch()
    assert values(ds) == list(zip(data.tolist(), range(n)))
    assert ds.element_spec[0].shape == (3,)


def test_map_unpacks_tuples_passes_dicts_whole_and_makes_lists_tuples():
    pairs = Dataset.from_tensor_slices((np.arange(3), np.arange(3) * 10))
    assert values(pairs.map(lambda a, b: a + b)) == [0, 11, 22]
    assert values(pairs.map(lambda a, b: [b, a]))[1] == (10, 1)  # a returned list is a tuple
    dicts = Dataset.from_tensor_slices({"u": np.arange(3), "v": np.ones(3)})
    assert values(dicts.map(lambda d: d["u"] * 2)) == [0, 2, 4]
    scalars = Dataset.range(3).map(lambda v: 1.5)
    assert scalars.element_spec.dtype == np.float32
    assert values(Dataset.range(4).map(lambda v: tf.ops.cast(v, "float32") / 2, num_parallel_calls=tf.data.AUTOTUNE)) \
        == [0.0, 0.5, 1.0, 1.5]
    with pytest.raises(TypeError, match="map takes a function"):
        Dataset.range(3).map(5)


def test_filter_keeps_what_the_predicate_accepts():
    ds = Dataset.range(10).filter(lambda v: v % 3 == 0)
    assert values(ds) == [0, 3, 6, 9]
    assert int(ds.cardinality()) == tf.data.UNKNOWN_CARDINALITY
    with pytest.raises(TypeError, match="scalar bool"):
        list(Dataset.from_tensor_slices(np.ones((3, 2))).filter(lambda v: v > 0))


def test_repeat_take_skip_edge_counts():
    ds = Dataset.range(3)
    assert values(ds.repeat(2)) == [0, 1, 2, 0, 1, 2]
    assert values(ds.repeat().take(7)) == [0, 1, 2, 0, 1, 2, 0]
    assert values(ds.repeat(0)) == []
    assert values(Dataset.range(0).repeat()) == []  # an empty dataset repeated forever is empty
    assert values(ds.take(-1)) == [0, 1, 2] and values(ds.skip(-1)) == []
    assert values(ds.take(0)) == [] and values(ds.skip(5)) == []
    assert int(ds.repeat().cardinality()) == tf.data.INFINITE_CARDINALITY
    assert int(ds.repeat().take(5).cardinality()) == 5
    assert int(ds.repeat().skip(5).cardinality()) == tf.data.INFINITE_CARDINALITY
    with pytest.raises(TypeError, match="infinite"):
        len(ds.repeat())


_OPS = st.one_of(
    st.tuples(st.just("map"), st.integers(-3, 3)),
    st.tuples(st.just("filter"), st.integers(2, 4)),
    st.tuples(st.just("take"), st.integers(-1, 12)),
    st.tuples(st.just("skip"), st.integers(-1, 12)),
    st.tuples(st.just("repeat"), st.integers(0, 3)),
    st.tuples(st.just("cache"), st.just(0)),
    st.tuples(st.just("prefetch"), st.just(tf.data.AUTOTUNE)),
)


def _apply(ds, items, op, arg):
    if op == "map":
        return ds.map(lambda v: v * 2 + arg), [v * 2 + arg for v in items]
    if op == "filter":
        return ds.filter(lambda v: v % arg != 0), [v for v in items if v % arg != 0]
    if op == "take":
        return ds.take(arg), items if arg < 0 else items[:arg]
    if op == "skip":
        return ds.skip(arg), [] if arg < 0 else items[arg:]
    if op == "repeat":
        return ds.repeat(arg), items * arg
    if op == "cache":
        return ds.cache(), items
    return ds.prefetch(arg), items


@given(st.integers(0, 25), st.lists(_OPS, max_size=5), st.integers(1, 6), st.booleans(),
       st.one_of(st.none(), st.integers(1, 30)))
def test_chains_match_the_python_model(n, ops, size, drop, shuffle_buffer):
    ds, items = Dataset.range(n), list(range(n))
    for op, arg in ops:
        ds, items = _apply(ds, items, op, arg)
    ordered = shuffle_buffer is None
    if not ordered:  # last, so the elements are known: only their order is random
        ds = ds.shuffle(shuffle_buffer, seed=7)
    got = values(ds)
    if ordered:
        assert got == items
    else:
        assert sorted(got) == sorted(items)
    card = int(ds.cardinality())
    assert card in (len(items), tf.data.UNKNOWN_CARDINALITY)
    batched = values(ds.batch(size, drop_remainder=drop))
    assert [len(b) for b in batched] == [len(c) for c in chunks(items, size, drop)]
    if ordered:
        assert batched == chunks(items, size, drop)
    if ordered:
        assert values(ds) == got  # every iteration replays from the start


def test_cache_replays_the_first_complete_pass():
    calls = []

    def slow(v):
        calls.append(int(v))
        return v

    ds = Dataset.range(4).map(slow).cache()
    list(ds.take(2))                 # a partial pass is not kept
    assert values(ds) == [0, 1, 2, 3]
    assert values(ds) == [0, 1, 2, 3]
    assert calls == [0, 1, 0, 1, 2, 3]
    frozen = Dataset.range(20).shuffle(20, seed=1).cache()  # cache after shuffle freezes the first order
    assert values(frozen) == values(frozen)


def test_enumerate_and_concatenate():
    assert values(Dataset.range(3).map(lambda v: v * 5).enumerate(start=2)) == [(2, 0), (3, 5), (4, 10)]
    cat = Dataset.range(2).concatenate(Dataset.range(5, 7))
    assert values(cat) == [0, 1, 5, 6] and len(cat) == 4
    with pytest.raises(TypeError, match="concatenate takes a Dataset"):
        Dataset.range(2).concatenate([1])


def test_cardinality_helpers_and_len():
    ds = Dataset.range(10).batch(3)
    assert int(tf.data.experimental.cardinality(ds)) == 4 == len(ds)
    assert int(Dataset.range(10).batch(3, drop_remainder=True).cardinality()) == 3
    assert int(Dataset.range(10).batch(2).unbatch().cardinality()) == tf.data.UNKNOWN_CARDINALITY
    assert int(Dataset.range(10).shuffle(4).map(lambda v: v).prefetch(2).cardinality()) == 10
    assert bool(Dataset.range(0)) and bool(Dataset.range(3).repeat())


def test_reduce_single_element_options_and_a_repr_that_runs_no_user_code():
    assert int(Dataset.range(5).reduce(0, lambda total, v: total + v)) == 10
    assert int(Dataset.range(3).take(1).get_single_element()) == 0
    with pytest.raises(ValueError, match="more than one element"):
        Dataset.range(3).get_single_element()
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    ds = Dataset.range(3).with_options(options)
    assert values(ds) == [0, 1, 2]
    calls = []
    mapped = Dataset.range(3).map(lambda v: calls.append(1) or v)
    assert "element_spec" in repr(mapped) and "int64" in repr(Dataset.range(3)) and calls == []
    assert mapped.element_spec.dtype == np.int64 and calls == [1]  # asked for: read from the first element


def test_object_arrays_of_strings_are_string_tensors():
    column = np.array(["cat", "dog"], dtype=object)  # a pandas text column
    assert Dataset.from_tensor_slices(column).element_spec.dtype.kind == "U"
    assert values(Dataset.from_tensor_slices({"animal": column}))[1] == {"animal": "dog"}


# ---------------------------------------------------------------------------------------------
# shuffle
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("via_map", [False, True])  # the row-index path and the element path
def test_shuffle_gives_every_element_once_per_epoch_and_reshuffles(via_map):
    keras.utils.set_random_seed(3)
    base = Dataset.range(50)
    if via_map:
        base = base.map(lambda v: v)
    ds = base.shuffle(16)
    epochs = [values(ds) for _ in range(4)]
    for order in epochs:
        assert sorted(order) == list(range(50))
    assert len({tuple(o) for o in epochs}) == 4  # a new order every iteration
    fixed = base.shuffle(16, reshuffle_each_iteration=False)
    assert values(fixed) == values(fixed)


@pytest.mark.parametrize("via_map", [False, True])
def test_shuffle_is_deterministic_under_the_global_seed(via_map):
    def orders():
        base = Dataset.range(30).map(lambda v: v) if via_map else Dataset.range(30)
        a, b = base.shuffle(10), base.shuffle(10)
        return values(a), values(a), values(b)

    keras.utils.set_random_seed(11)
    first = orders()
    tf.random.set_seed(11)
    assert orders() == first
    assert first[0] != first[2]  # two shuffles of one program differ from each other
    keras.utils.set_random_seed(12)
    assert orders() != first
    # an op seed alone is deterministic too
    assert values(Dataset.range(30).shuffle(30, seed=5)) == values(Dataset.range(30).shuffle(30, seed=5))


@given(st.integers(1, 60), st.integers(1, 70), st.integers(0, 2**31 - 1))
def test_shuffle_only_draws_from_its_buffer(n, buffer, seed):
    # Output i is drawn from a buffer that has seen inputs 0 .. i + buffer - 1, no further.
    for ds in (Dataset.range(n), Dataset.range(n).map(lambda v: v)):
        order = values(ds.shuffle(buffer, seed=seed))
        assert sorted(order) == list(range(n))
        assert all(v < i + buffer for i, v in enumerate(order))
    assert values(Dataset.range(n).shuffle(1)) == list(range(n))


def test_shuffle_is_uniform_enough():
    keras.utils.set_random_seed(0)
    ds = Dataset.range(8).shuffle(8)
    first = collections.Counter(values(ds)[0] for _ in range(1600))
    assert set(first) == set(range(8))
    assert all(120 <= c <= 280 for c in first.values()), first  # 200 expected per value


# ---------------------------------------------------------------------------------------------
# fit / evaluate / predict
# ---------------------------------------------------------------------------------------------
def _digits():
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    return train_test_split(x, y, test_size=0.25, random_state=0)


def _mlp(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((64,)), layers.Dense(64, activation="relu"),
                              layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class DigitBatches(keras.utils.PyDataset):
    def __init__(self, x, y, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size = x, y, batch_size
        self.served, self.epochs_ended = [], 0

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        self.served.append(i)
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s], self.y[s]

    def on_epoch_end(self):
        self.epochs_ended += 1


@pytest.mark.parametrize("form", ["arrays", "dataset", "generator", "pydataset"])
def test_digits_train_to_90_percent_from_every_input_form(form):
    xtr, xte, ytr, yte = _digits()
    model = _mlp()
    epochs = 15
    if form == "arrays":
        model.fit(xtr, ytr, batch_size=32, epochs=epochs, verbose=0)
    elif form == "dataset":
        ds = Dataset.from_tensor_slices((xtr, ytr)).shuffle(len(xtr)).batch(32).prefetch(tf.data.AUTOTUNE)
        model.fit(ds, epochs=epochs, verbose=0)
    elif form == "generator":
        steps = -(-len(xtr) // 32)

        def endless():
            rng = np.random.default_rng(0)
            while True:
                order = rng.permutation(len(xtr))
                for s in range(0, len(xtr), 32):
                    yield xtr[order[s:s + 32]], ytr[order[s:s + 32]]

        model.fit(endless(), steps_per_epoch=steps, epochs=epochs, verbose=0)
        assert model.optimizer.iterations == steps * epochs
    else:
        seq = DigitBatches(xtr, ytr, 32, workers=4, use_multiprocessing=True, max_queue_size=3)
        model.fit(seq, epochs=epochs, verbose=0)
        assert seq.epochs_ended == epochs
        assert sorted(seq.served[:len(seq)]) == list(range(len(seq)))
        assert seq.served[:len(seq)] != list(range(len(seq)))  # fit's shuffle=True reorders the batches
    _, acc = model.evaluate(xte, yte, verbose=0)
    assert acc >= 0.9, (form, acc)
    _, acc_ds = model.evaluate(Dataset.from_tensor_slices((xte, yte)).batch(64), verbose=0)
    assert abs(acc_ds - acc) < 1e-9


def _subclassed(seed=0):
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = layers.Dense(32, activation="relu")
            self.out = layers.Dense(10, activation="softmax")

        def call(self, x):
            return self.out(self.hidden(x))

    keras.utils.set_random_seed(seed)
    model = Net()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize("make", [_mlp, _subclassed])  # the fused step and the general train_step
def test_a_dataset_trains_exactly_like_the_same_arrays(make):
    xtr, _, ytr, _ = _digits()
    a = make()  # a subclassed model builds (drawing its weights) in its first fit
    a.fit(xtr, ytr, batch_size=50, epochs=3, shuffle=False, verbose=0)
    b = make()
    hist = b.fit(Dataset.from_tensor_slices((xtr, ytr)).batch(50), epochs=3, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert len(hist.history["loss"]) == 3
    np.testing.assert_array_equal(a.predict(xtr[:100], verbose=0),
                                  b.predict(Dataset.from_tensor_slices(xtr[:100]).batch(30), verbose=0))


def test_validation_data_as_a_dataset_and_validation_steps():
    xtr, xte, ytr, yte = _digits()
    model = _mlp()
    val = Dataset.from_tensor_slices((xte, yte)).batch(40)
    hist = model.fit(Dataset.from_tensor_slices((xtr, ytr)).batch(32), validation_data=val, epochs=2, verbose=0)
    assert set(hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert hist.history["val_accuracy"][-1] == pytest.approx(model.evaluate(val, verbose=0, return_dict=True)["accuracy"])
    hist = model.fit(Dataset.from_tensor_slices((xtr, ytr)).batch(32), validation_data=val.repeat(),
                     validation_steps=3, epochs=1, verbose=0)
    assert np.isfinite(hist.history["val_loss"][0])
    with pytest.raises(ValueError, match="validation_split is only supported for arrays"):
        model.fit(Dataset.from_tensor_slices((xtr, ytr)).batch(32), validation_split=0.2, verbose=0)


def _logged_batches(n_batches, log):
    """A dataset of n_batches (x, y) batches whose map records which batch was read."""
    xtr, _, ytr, _ = _digits()

    def batch(i):
        log.append(int(i))
        k = int(i) * 8
        return xtr[k:k + 8], ytr[k:k + 8]
    return Dataset.range(n_batches).map(batch)


def test_steps_per_epoch_continues_the_dataset_across_epochs_and_restarts_at_its_end():
    log = []
    model = _mlp()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "ran out" warning: 2 epochs of 5 use the 10 batches exactly
        hist = model.fit(_logged_batches(10, log), steps_per_epoch=5, epochs=4, verbose=0)
    assert log == list(range(10)) * 2
    assert len(hist.history["loss"]) == 4


def test_running_out_of_data_warns_and_stops_training():
    log = []
    model = _mlp()
    with pytest.warns(UserWarning, match="ran out of data; interrupting training"):
        hist = model.fit(_logged_batches(10, log), steps_per_epoch=4, epochs=5, verbose=0)
    assert log == list(range(10))            # epochs 1, 2 full, epoch 3 gets the last 2 batches
    assert len(hist.history["loss"]) == 3 and model.optimizer.iterations == 10

    xtr, _, ytr, _ = _digits()
    short = (b for b in [(xtr[:8], ytr[:8])] * 3)   # a generator that ends before steps_per_epoch * epochs
    model = _mlp()
    with pytest.warns(UserWarning, match="ran out of data"):
        hist = model.fit(short, steps_per_epoch=2, epochs=3, verbose=0)
    assert model.optimizer.iterations == 3 and len(hist.history["loss"]) == 2

    once = (b for b in [(xtr[:8], ytr[:8])] * 2)  # finite, no steps_per_epoch: read by epoch 1
    model = _mlp()
    with pytest.warns(UserWarning, match="ran out of data"):
        hist = model.fit(once, epochs=3, verbose=0)
    assert model.optimizer.iterations == 2 and len(hist.history["loss"]) == 1


def test_pydataset_order_epochs_and_endless_ones():
    xtr, _, ytr, _ = _digits()
    seq = DigitBatches(xtr[:80], ytr[:80], 16)
    model = _mlp()
    model.fit(seq, epochs=2, shuffle=False, verbose=0)
    assert seq.served == list(range(5)) * 2 and seq.epochs_ended == 2
    model.predict(seq, verbose=0)

    class Endless(keras.utils.Sequence):  # Keras 2 style: no super().__init__(), num_batches None
        num_batches = None

        def __getitem__(self, i):
            k = (i % 10) * 8
            return xtr[k:k + 8], ytr[k:k + 8]

    model.fit(Endless(), steps_per_epoch=3, epochs=2, verbose=0)
    assert model.optimizer.iterations == 10 + 6


def test_predict_on_a_dataset_of_x_or_of_x_y_and_on_a_generator():
    xtr, xte, ytr, yte = _digits()
    model = _mlp()
    model.fit(xtr, ytr, epochs=1, verbose=0)
    want = model.predict(xte, verbose=0)
    np.testing.assert_array_equal(model.predict(Dataset.from_tensor_slices(xte).batch(64), verbose=0), want)
    np.testing.assert_array_equal(model.predict(Dataset.from_tensor_slices((xte, yte)).batch(64), verbose=0), want)
    np.testing.assert_array_equal(model.predict((xte[s:s + 50] for s in range(0, len(xte), 50)), verbose=0), want)
    two = model.predict(Dataset.from_tensor_slices(xte).batch(50).repeat(), steps=2, verbose=0)
    np.testing.assert_array_equal(two, want[:100])


def test_sample_weights_from_a_dataset():
    xtr, _, ytr, _ = _digits()
    model = _mlp()
    before = model.get_weights()
    zero = Dataset.from_tensor_slices((xtr[:64], ytr[:64], np.zeros(64, np.float32))).batch(32)
    model.fit(zero, epochs=1, verbose=0)  # every sample weighs 0: nothing to learn
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-7)
    model.fit(Dataset.from_tensor_slices((xtr[:64], ytr[:64], np.ones(64))).batch(32), epochs=1, verbose=0)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


def test_dict_elements_feed_a_model_with_named_inputs():
    xtr, xte, ytr, yte = _digits()

    class TwoInputs(keras.Model):
        def __init__(self):
            super().__init__()
            self.left = layers.Dense(32, activation="relu")
            self.right = layers.Dense(32, activation="relu")
            self.out = layers.Dense(10, activation="softmax")

        def call(self, inputs):
            return self.out(self.left(inputs["top"]) + self.right(inputs["bottom"]))

    keras.utils.set_random_seed(0)
    model = TwoInputs()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    def named(x, y):
        return {"top": x[:, :32], "bottom": x[:, 32:]}, y

    train = Dataset.from_tensor_slices((xtr, ytr)).shuffle(512).batch(32).map(named)
    hist = model.fit(train, epochs=8, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    test = Dataset.from_tensor_slices(({"top": xte[:, :32], "bottom": xte[:, 32:]}, yte)).batch(64)
    assert model.evaluate(test, verbose=0, return_dict=True)["accuracy"] >= 0.85
    pred = model.predict(test.map(lambda x, y: x), verbose=0)
    assert pred.shape == (len(xte), 10)


def test_data_a_model_cannot_take_is_named():
    xtr, _, ytr, _ = _digits()
    model = _mlp()
    with pytest.raises(ValueError, match="empty dataset \\(cardinality 0\\)"):
        model.fit(Dataset.from_tensor_slices((xtr, ytr)).take(0).batch(8), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="dataset that yielded no batches"):
        model.fit(Dataset.from_tensor_slices((xtr, ytr)).filter(lambda x, y: y > 99).batch(8), verbose=0)
    with pytest.raises(ValueError, match="ended before yielding a batch"):
        model.fit((b for b in []), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="PyDataset of length 0"):
        model.fit(DigitBatches(xtr[:0], ytr[:0], 8), verbose=0)
    with pytest.raises(TypeError, match="batch 0: x holds strings"):
        model.fit(Dataset.from_tensor_slices((np.array(["a", "b"]), np.array([0, 1]))).batch(2), verbose=0)
    with pytest.raises(TypeError, match="batch 1: x is None"):
        model.fit(iter([(xtr[:4], ytr[:4]), (None, ytr[:4])]), verbose=0)
    with pytest.raises(ValueError, match="batch 0: x is ragged"):
        model.fit(iter([([[0.0] * 64, [0.0] * 3], [1, 2])]), verbose=0)
    with pytest.raises(ValueError, match="NaN"):
        model.fit(iter([(np.full((2, 64), np.nan), np.array([0, 1]))]), verbose=0)
    with pytest.raises(ValueError, match=r"expects x .*of shape \(None, 64\)"):
        model.fit(Dataset.from_tensor_slices((xtr[:, :10], ytr)).batch(8), verbose=0)
    with pytest.raises(ValueError, match="infinitely repeating dataset: give the number of batches per epoch"):
        model.fit(Dataset.from_tensor_slices((xtr, ytr)).batch(8).repeat(), verbose=0)
    with pytest.raises(ValueError, match="do not pass y"):
        model.fit(Dataset.from_tensor_slices(xtr).batch(8), ytr, verbose=0)
    with pytest.raises(ValueError, match="must be x, \\(x, y\\) or \\(x, y, sample_weight\\)"):
        model.fit(iter([(xtr[:2], ytr[:2], ytr[:2], ytr[:2])]), verbose=0)
    assert model.optimizer.iterations <= 1  # only the one good batch before the None one trained


def test_functional_models_take_dict_and_tuple_elements():
    xtr, _, ytr, _ = _digits()
    keras.utils.set_random_seed(0)
    top, bottom = keras.Input(shape=(32,), name="top"), keras.Input(shape=(32,), name="bottom")
    joined = tf.concat([layers.Dense(32, activation="relu")(top), layers.Dense(32, activation="relu")(bottom)], axis=-1)
    out = layers.Dense(10, activation="softmax")(joined)
    for inputs, element in (({"top": top, "bottom": bottom}, lambda x: {"top": x[:, :32], "bottom": x[:, 32:]}),
                            ([top, bottom], lambda x: (x[:, :32], x[:, 32:]))):
        model = keras.Model(inputs=inputs, outputs=out)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        ds = Dataset.from_tensor_slices((element(xtr), ytr)).shuffle(2000).batch(32)
        hist = model.fit(ds, epochs=3, verbose=0)
        assert hist.history["loss"][-1] < hist.history["loss"][0]
        # A tuple element is (x, y) to Keras: several inputs alone go in a tuple of one, (x,).
        assert model.predict(ds.map(lambda x, y: (x,)), verbose=0).shape == (len(xtr), 10)
