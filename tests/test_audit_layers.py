"""Audit of layer naming and constructor arguments against Keras 3."""

from __future__ import annotations

import numpy as np
import pytest

from aiaas_core import keras
from aiaas_core.keras import layers


@pytest.mark.parametrize("cls,args,base", [
    (layers.SimpleRNN, (2,), "simple_rnn"), (layers.GRU, (2,), "gru"), (layers.LSTM, (2,), "lstm"),
    (layers.Conv2D, (2, 3), "conv2d"), (layers.MaxPooling2D, (), "max_pooling2d"),
    (layers.AveragePooling2D, (), "average_pooling2d"), (layers.BatchNormalization, (), "batch_normalization"),
    (layers.Dense, (1,), "dense"), (layers.Embedding, (3, 2), "embedding"),
])
def test_default_layer_names_are_keras_snake_case(cls, args, base):
    name = cls(*args).name
    assert name == base or (name.startswith(base + "_") and name[len(base) + 1:].isdigit()), name


def test_a_subclassed_model_name_is_snake_case_too():
    class ConvNet(keras.Model):
        def call(self, x):
            return x

    assert ConvNet().name.split("_")[:2] == ["conv", "net"]


def test_sequential_refuses_two_layers_with_the_same_given_name():
    with pytest.raises(ValueError, match="unique names.*'hidden'"):
        keras.Sequential([keras.Input((3,)), layers.Dense(2, name="hidden"), layers.Dense(2, name="hidden")])
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2, name="hidden")])
    with pytest.raises(ValueError, match="unique names"):
        model.add(layers.Dense(1, name="hidden"))
    assert [l.name for l in model.layers] == ["hidden"]  # the refused layer was not added
    assert model.get_layer("hidden").units == 2


def _next_auto_name(base: str) -> str:
    probe = layers.Dense(1).name  # "dense" or "dense_<k>": the next one is "dense_<k+1>"
    k = int(probe.rsplit("_", 1)[1]) if "_" in probe else 0
    return f"{base}_{k + 1}"


def test_an_auto_named_layer_that_clashes_with_a_loaded_name_is_renamed():
    # A model saved by another process holds names this process's counter has not reached yet.
    clash = _next_auto_name("dense")
    loaded = keras.models.model_from_config({"class_name": "Sequential", "config": {"layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 3]}},
        {"class_name": "Dense", "config": {"units": 2, "name": clash}}]}})
    extra = layers.Dense(1)  # auto-named `clash`
    loaded.add(extra)
    names = [l.name for l in loaded.layers]
    assert names[0] == clash and extra.name != clash and len(set(names)) == 2
    assert loaded.predict(np.ones((1, 3), np.float32), verbose=0).shape == (1, 1)


def test_config_with_duplicate_layer_names_is_refused():
    cfg = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 3]}},
        {"class_name": "Dense", "config": {"units": 2, "name": "d"}},
        {"class_name": "Dense", "config": {"units": 1, "name": "d"}}]}}
    with pytest.raises(ValueError, match="layer 2 .*unique names.*'d'"):
        keras.models.model_from_config(cfg)


@pytest.mark.parametrize("cls", [keras.optimizers.Adam, keras.optimizers.SGD, keras.optimizers.RMSprop,
                                 keras.optimizers.AdamW])
def test_lr_argument_names_learning_rate(cls):
    # Keras 3 refuses `lr` too ("Argument(s) not recognized"); the message should say what to write.
    with pytest.raises(ValueError, match="lr.*learning_rate=0.01"):
        cls(lr=0.01)
    assert cls(learning_rate=0.01).learning_rate == pytest.approx(0.01)


# ---- data handed to fit / evaluate / predict ------------------------------------------------------
def _compiled():
    model = keras.Sequential([keras.Input((4,)), layers.Dense(1)])
    model.compile("sgd", "mse")
    return model


@pytest.mark.parametrize("x,y,what", [
    ([[1, 2, 3, 4], [1, 2]], [1.0, 2.0], "x"),                   # ragged rows
    ((np.ones((3, 4)), np.ones(3)), None, "x"),                  # (x, y) passed as x
    (np.ones((2, 4)), [[1.0], [2.0, 3.0]], "y"),                  # ragged targets
])
def test_ragged_or_nested_data_is_named_not_a_numpy_error(x, y, what):
    model = _compiled()
    with pytest.raises(ValueError, match=rf"^{what} is not a rectangular array.*same length"):
        model.fit(x, y if y is not None else np.ones(3), verbose=0)
    assert model.optimizer.iterations == 0


def test_values_beyond_float32_are_named_as_such():
    model = _compiled()
    x = np.ones((4, 4))
    x[1, 2] = 1e300
    with pytest.raises(ValueError, match=r"x holds 1 value\(s\) beyond float32's range"):
        model.fit(x, np.ones(4), verbose=0)
    with pytest.raises(ValueError, match=r"y holds 1 value\(s\) beyond float32's range"):
        model.fit(np.ones((4, 4)), np.array([1.0, -1e40, 0.0, 0.0]), verbose=0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.predict(np.full((1, 4), np.inf), verbose=0)


def test_predict_on_one_sample_without_its_batch_axis_says_how_to_batch_it():
    dense = _compiled()
    sample = np.arange(4, dtype=np.float32)
    with pytest.raises(ValueError, match=r"expects \(None, 4\).*one sample: pass x\[None\], shape \(1, 4\)"):
        dense.predict(sample, verbose=0)
    np.testing.assert_array_equal(dense.predict(sample[None], verbose=0), dense.predict(np.stack([sample]), verbose=0))
    conv = keras.Sequential([keras.Input((5, 5, 1)), layers.Conv2D(2, 3), layers.Flatten(), layers.Dense(1)])
    image = np.ones((5, 5, 1), np.float32)
    with pytest.raises(ValueError, match=r"expects x of shape \(None, 5, 5, 1\), got \(5, 5, 1\) \(one sample: pass x\[None\]"):
        conv.predict(image, verbose=0)
    batch_of_one = conv.predict(image[None], verbose=0)
    assert batch_of_one.shape == (1, 1)
    np.testing.assert_allclose(batch_of_one, conv.predict(np.stack([image, image]), verbose=0)[:1], rtol=1e-6)


# ---- subclassed models: every layer call() uses must be tracked ---------------------------------------
class _DictHeads(keras.Model):
    def __init__(self):
        super().__init__()
        self.heads = {"hidden": layers.Dense(4, activation="relu"), "out": layers.Dense(1)}

    def call(self, x):
        return self.heads["out"](self.heads["hidden"](x))


def _data():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(16, 3)).astype(np.float32)
    return x, x[:, :1] * 2.0


def test_layers_in_a_dict_attribute_are_tracked_trained_and_saved(tmp_path):
    # Keras tracks layers held in dicts; they used to be invisible: never trained (constant loss), no weights.
    keras.utils.set_random_seed(1)
    model = _DictHeads()
    model.compile(keras.optimizers.SGD(learning_rate=0.1), "mse")
    x, y = _data()
    loss = model.fit(x, y, epochs=3, verbose=0).history["loss"]
    assert loss[-1] < loss[0]
    assert [n for n, _ in model.named_weights()] == ["heads.hidden.kernel", "heads.hidden.bias",
                                                     "heads.out.kernel", "heads.out.bias"]
    model.save_weights(tmp_path / "w.safetensors")
    fresh = _DictHeads()
    fresh(x[:1])
    fresh.load_weights(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))


class _Inline(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = layers.Dense(2)

    def call(self, x):
        return layers.Dense(1)(self.hidden(x))  # a new, untracked layer on every call


def test_a_layer_call_uses_but_the_model_does_not_track_is_a_clear_error():
    model = _Inline()
    model.compile("sgd", "mse")
    x, y = _data()
    with pytest.raises(ValueError, match=r"layer 'dense_?\d*' is called in _Inline.call\(\) but is not tracked"):
        model.fit(x, y, epochs=1, verbose=0)
    assert model.optimizer.iterations == 0


class _Block(layers.Layer):
    """Keras's custom-layer pattern: a Layer (not a Model) composing sublayers."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(units, activation="relu")
        self.norm = layers.BatchNormalization()

    def call(self, x, training=False):
        return self.norm(self.dense(x), training=training)


class _WithBlock(keras.Model):
    def __init__(self):
        super().__init__()
        self.block = _Block(4)
        self.out = layers.Dense(1)

    def call(self, x, training=False):
        return self.out(self.block(x, training=training))


@pytest.mark.parametrize("make", [_WithBlock, lambda: keras.Sequential([keras.Input((3,)), _Block(4), layers.Dense(1)])],
                         ids=["subclassed", "sequential"])
def test_sublayers_of_a_custom_layer_are_trained_counted_and_saved(make, tmp_path):
    keras.utils.set_random_seed(4)
    model = make()
    x, y = _data()
    model(x[:1])
    block = model.layers[0]
    before = block.dense.get_weights()[0].copy()
    # Dense 3*4+4, BatchNormalization 4 gamma, 4 beta (+ 4 + 4 moving statistics), Dense 4+1
    assert block.count_params() == 16 + 16 and model.count_params() == 32 + 5
    assert len(block.trainable_weights) == 4 and len(block.non_trainable_weights) == 2
    model.compile(keras.optimizers.SGD(learning_rate=0.05), "mse")
    loss = model.fit(x, y, epochs=3, batch_size=8, verbose=0).history["loss"]
    assert loss[-1] < loss[0] and not np.array_equal(before, block.dense.get_weights()[0])
    names = [n for n, _ in model.named_weights()]
    assert any(n.endswith("dense.kernel") for n in names) and any(n.endswith("norm.moving_mean") for n in names)
    model.save_weights(tmp_path / "w.safetensors")
    fresh = make()
    fresh(x[:1])
    fresh.load_weights(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))


def test_summary_columns_never_run_together():
    model = keras.Sequential([keras.Input((10, 1)), layers.LSTM(32, return_sequences=True), layers.Dense(1),
                              layers.BatchNormalization(name="a_rather_long_batch_normalization_name")])
    lines = []
    model.summary(print_fn=lines.append)
    cols = lines[2].index("Output Shape"), lines[2].index("Param #")
    body = lines[4:lines.index("=" * 78, 4)]
    for line in body:  # every column starts where its header does, after a space
        for c in cols:
            assert len(line) <= c or line[c - 1] == " ", line
    first_column = "".join(line[:cols[0]] for line in body).replace(" ", "")
    assert "a_rather_long_batch_normalization_name(BatchNormalization)" in first_column
    assert sum("(None, 10, 1)" in line for line in body) == 2
    assert [l for l in lines if l.startswith(("Total", "Trainable", "Non-trainable"))] == [
        "Total params: 4,389", "Trainable params: 4,387", "Non-trainable params: 2"]


def test_regularizer_and_constraint_arguments_are_named_as_unsupported():
    # Dense and Conv2D take them (tests/test_regularizers.py); layers without them name the argument
    with pytest.raises(ValueError, match="LSTM: kernel_regularizer not supported"):
        layers.LSTM(2, kernel_regularizer="l2")
    with pytest.raises(ValueError, match="Embedding: embeddings_constraint not supported"):
        layers.Embedding(10, 2, embeddings_constraint="non_neg")
    # Keras's defaults (None) are accepted, as in a config written by Keras.
    dense = layers.Dense(2, kernel_regularizer=None, activity_regularizer=None)
    assert dense.units == 2 and "kernel_regularizer" not in dense.get_config()
    with pytest.raises(TypeError, match="unexpected argument"):
        layers.Dense(2, unitz=3)


def test_a_dict_for_a_sequential_is_named():
    model = _compiled()
    with pytest.raises(TypeError, match=r"^x is a dict \(named inputs\), but this model takes arrays"):
        model.fit({"input": np.ones((4, 4))}, np.ones(4), verbose=0)
    with pytest.raises(TypeError, match=r"^x is a dict"):
        model.predict({"input": np.ones((4, 4))}, verbose=0)


@pytest.mark.parametrize("make", [lambda: (row for row in np.ones((4, 4))), lambda: iter(np.ones((4, 4)))])
def test_a_generator_with_separate_targets_is_refused(make):
    model = _compiled()
    with pytest.raises(ValueError, match="yields \\(x, y\\) batches itself: do not pass y"):
        model.fit(make(), np.ones(4), verbose=0)
    assert model.optimizer.iterations == 0


def test_a_subclass_that_forgets_super_init_is_told_so():
    class Forgetful(keras.Model):
        def __init__(self):
            self.d = layers.Dense(1)  # no super().__init__()

        def call(self, x):
            return self.d(x)

    with pytest.raises(AttributeError, match=r"Forgetful has no attribute .*did not call super\(\).__init__\(\)"):
        Forgetful().compile("adam", "mse")
    with pytest.raises(AttributeError, match=r"did not call super\(\).__init__\(\)"):
        Forgetful()(np.ones((1, 2), np.float32))
    with pytest.raises(AttributeError, match="object has no attribute 'nonexistent'"):
        layers.Dense(1).nonexistent


def test_class_ids_under_categorical_crossentropy_point_to_the_sparse_loss():
    model = keras.Sequential([keras.Input((4,)), layers.Dense(3, activation="softmax")])
    model.compile("adam", "categorical_crossentropy")
    with pytest.raises(ValueError, match=r"expected y of shape \(6, 3\); these look like class ids: use "
                                         r"loss='sparse_categorical_crossentropy'"):
        model.fit(np.ones((6, 4)), np.array([0, 1, 2, 0, 1, 2]), verbose=0)
    hist = model.fit(np.ones((6, 4)), keras.utils.to_categorical([0, 1, 2, 0, 1, 2], 3), verbose=0)
    assert np.isfinite(hist.history["loss"][0])


def test_summary_checks_line_length_and_print_fn():
    model = _compiled()
    with pytest.raises(ValueError, match=r"line_length must be an int in \[30, 1000\], got 1000000000000"):
        model.summary(line_length=10**12)
    with pytest.raises(TypeError, match="print_fn must be callable"):
        model.summary(print_fn="stdout")
    lines = []
    model.summary(line_length=60, print_fn=lines.append)
    assert lines[1] == "_" * 60


@pytest.mark.parametrize("cls", [layers.LSTM, layers.GRU, layers.SimpleRNN])
def test_recurrent_layers_refuse_zero_timesteps(cls):
    empty = np.zeros((2, 0, 3), np.float32)
    with pytest.raises(ValueError, match=r"timesteps >= 1.*\(2, 0, 3\)"):
        cls(2)(empty)  # unbuilt: IndexError before
    built = cls(2)
    built(np.ones((2, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"timesteps >= 1.*\(2, 0, 3\)"):
        built(empty)


class _Gate(layers.Layer):
    """A layer that keeps a reference back to the model that owns it (and to itself)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(1)
        self.owner = None
        self.me = self

    def call(self, x):
        return self.dense(x)


class _Owner(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = layers.Dense(3)
        self.gate = _Gate()
        self.gate.owner = self  # a cycle: owner -> gate -> owner

    def call(self, x):
        return self.gate(self.hidden(x))


def test_a_layer_holding_its_owner_is_walked_once_not_forever(tmp_path):
    keras.utils.set_random_seed(5)
    model = _Owner()
    x, y = _data()
    model.compile(keras.optimizers.SGD(learning_rate=0.05), "mse")
    loss = model.fit(x, y, epochs=3, batch_size=8, verbose=0).history["loss"]
    assert loss[-1] < loss[0]
    assert [n for n, _ in model.named_weights()] == ["hidden.kernel", "hidden.bias", "gate.dense.kernel",
                                                     "gate.dense.bias"]
    assert model.count_params() == 3 * 3 + 3 + 3 + 1 and len(model.trainable_weights) == 4
    model.save_weights(tmp_path / "w.safetensors")
    fresh = _Owner()
    fresh(x[:1])
    fresh.load_weights(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))
