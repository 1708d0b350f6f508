"""ReLU, LeakyReLU, ELU and Softmax layers: Keras 3's arguments and defaults, values against numpy,
training through them, config and saving round trips, and the arguments they refuse."""

from __future__ import annotations

import numpy as np
import pytest

import aiaas_core
from aiaas_core import keras
from aiaas_core.keras import layers as L

X = np.array([[-3.0, -0.5, 0.0, 0.25, 2.0]], np.float32)


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("layer, want", [
    (L.ReLU(), np.maximum(X, 0)),
    (L.ReLU(negative_slope=0.1), np.where(X > 0, X, 0.1 * X)),
    (L.LeakyReLU(), np.where(X > 0, X, 0.3 * X)),  # Keras 3's layer default, not the function's 0.2
    (L.LeakyReLU(alpha=0.05), np.where(X > 0, X, 0.05 * X)),  # the Keras 2 argument name
    (L.ELU(), np.where(X > 0, X, np.expm1(X))),
    (L.ELU(alpha=0.5), np.where(X > 0, X, 0.5 * np.expm1(X))),
    (L.Softmax(), _softmax(X)),
], ids=["relu", "relu_slope", "leaky", "leaky_alpha", "elu", "elu_half", "softmax"])
def test_values_match_numpy(layer, want):
    np.testing.assert_allclose(layer(X), want, rtol=1e-6, atol=1e-7)


def test_training_through_them_and_saving(tmp_path):
    keras.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    model = keras.Sequential([keras.Input((4,)), L.Dense(16), L.LeakyReLU(0.1), L.Dense(16), L.ELU(),
                              L.Dense(16), L.ReLU(), L.Dense(2), L.Softmax()])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0).history
    assert history["loss"][-1] < 0.7 * history["loss"][0]
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = aiaas_core.load_model(path)
    assert [type(layer).__name__ for layer in loaded.layers][1:] == ["LeakyReLU", "Dense", "ELU", "Dense", "ReLU",
                                                                     "Dense", "Softmax"]
    assert loaded.layers[1].get_config()["negative_slope"] == pytest.approx(0.1)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("cls, kwargs", [(L.ReLU, {"negative_slope": 0.2}), (L.LeakyReLU, {"negative_slope": 0.01}),
                                         (L.ELU, {"alpha": 2.0}), (L.Softmax, {})])
def test_config_round_trip(cls, kwargs):
    layer = cls(name="act", **kwargs)
    config = layer.get_config()
    assert "activation" not in config
    again = cls.from_config(config)
    assert again.get_config() == config
    np.testing.assert_array_equal(again(X), layer(X))


@pytest.mark.parametrize("make, message", [
    (lambda: L.ReLU(max_value=6.0), r"ReLU: max_value is not supported \(got 6.0\); expected None"),
    (lambda: L.ReLU(threshold=1.0), r"ReLU: threshold is not supported"),
    (lambda: L.ReLU(negative_slope=-1.0), r"ReLU: negative_slope must be >= 0"),
    (lambda: L.LeakyReLU(negative_slope=float("nan")), r"LeakyReLU negative_slope must be a finite number"),
    (lambda: L.ELU(alpha="1"), r"ELU alpha must be a finite number"),
    (lambda: L.Softmax(axis=1), r"Softmax: only axis=-1"),
])
def test_unsupported_arguments_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()
