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
