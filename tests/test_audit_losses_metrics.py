"""Audit: losses and metrics given the ways Keras accepts them -- function objects
(`loss=keras.losses.mean_squared_error`, `metrics=[keras.metrics.mae]`) and Keras 3's string aliases
('MSE', 'MAE', 'bce') -- train exactly like their string names; the loss functions return one value
per sample, as Keras's do."""

from __future__ import annotations

import numpy as np
import pytest

import aiaas_core as tf
from aiaas_core import keras
from aiaas_core.keras import layers, losses, metrics

RNG = np.random.default_rng(11)
X = RNG.standard_normal((48, 5)).astype(np.float32)
Y_BIN = (X[:, 0] + X[:, 1] > 0).astype(np.float32)
Y_IDS = (X[:, :3].argmax(1)).astype(np.int64)
Y_REG = (X @ RNG.standard_normal((5, 1))).astype(np.float32)


def _model(units: int, activation: str | None):
    keras.utils.set_random_seed(5)
    return keras.Sequential([keras.Input((5,)), layers.Dense(6, activation="relu"),
                             layers.Dense(units, activation=activation)])


def _history(loss, y, units, activation, metric_list=()):
    model = _model(units, activation)
    model.compile(keras.optimizers.Adam(learning_rate=1e-2), loss=loss, metrics=list(metric_list))
    return model, model.fit(X, y, epochs=2, batch_size=16, verbose=0).history


CASES = [  # (function object, its string name, y, units, output activation)
    (losses.mean_squared_error, "mean_squared_error", Y_REG, 1, None),
    (losses.mse, "mse", Y_REG, 1, None),
    (losses.mean_absolute_error, "mean_absolute_error", Y_REG, 1, None),
    (losses.mae, "mae", Y_REG, 1, None),
    (losses.binary_crossentropy, "binary_crossentropy", Y_BIN, 1, "sigmoid"),
    (losses.categorical_crossentropy, "categorical_crossentropy", keras.utils.to_categorical(Y_IDS, 3), 3, "softmax"),
    (losses.sparse_categorical_crossentropy, "sparse_categorical_crossentropy", Y_IDS, 3, "softmax"),
]


@pytest.mark.parametrize("fn,name,y,units,activation", CASES, ids=[c[1] for c in CASES])
def test_a_loss_function_object_trains_like_its_name(fn, name, y, units, activation):
    _, by_fn = _history(fn, y, units, activation)
    _, by_name = _history(name, y, units, activation)
    assert by_fn == by_name and np.isfinite(by_fn["loss"]).all()


@pytest.mark.parametrize("alias,name", [("MSE", "mse"), ("MAE", "mae"), ("bce", "binary_crossentropy"),
                                        ("BCE", "binary_crossentropy")])
def test_keras3_loss_aliases(alias, name):
    assert losses.get(alias).kind == losses.get(name).kind
    y, units, act = (Y_BIN, 1, "sigmoid") if name == "binary_crossentropy" else (Y_REG, 1, None)
    assert _history(alias, y, units, act)[1] == _history(name, y, units, act)[1]


def test_loss_functions_return_one_value_per_sample_like_keras():
    y = RNG.random((4, 3)).astype(np.float32)
    p = RNG.random((4, 3)).astype(np.float32) * 0.98 + 0.01
    np.testing.assert_allclose(losses.mean_squared_error(y, p), ((y - p) ** 2).mean(-1), rtol=1e-6)
    np.testing.assert_allclose(losses.mae(y, p), np.abs(y - p).mean(-1), rtol=1e-6)
    yb = (y > 0.5).astype(np.float32)
    np.testing.assert_allclose(losses.binary_crossentropy(yb, p),
                               -(yb * np.log(p) + (1 - yb) * np.log(1 - p)).mean(-1), rtol=1e-5)
    probs = p / p.sum(-1, keepdims=True)
    onehot = np.eye(3, dtype=np.float32)[[0, 2, 1, 2]]
    np.testing.assert_allclose(losses.categorical_crossentropy(onehot, probs),
                               -np.log(probs[np.arange(4), [0, 2, 1, 2]]), rtol=1e-5)
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(np.array([0, 2, 1, 2]), probs),
                               -np.log(probs[np.arange(4), [0, 2, 1, 2]]), rtol=1e-5)
    # The mean of the per-sample values is what compile's loss reports for the batch.
    assert losses.MeanSquaredError()(y, p) == pytest.approx(float(losses.mse(y, p).mean()), rel=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        losses.mean_squared_error(y, p[:2])


def test_metric_function_objects_log_under_the_function_name(tmp_path):
    model, hist = _history("binary_crossentropy", Y_BIN, 1, "sigmoid",
                           [metrics.binary_accuracy, metrics.mean_absolute_error, losses.mean_squared_error])
    _, by_name = _history("binary_crossentropy", Y_BIN, 1, "sigmoid", ["binary_accuracy", "mae", "mse"])
    assert list(hist) == ["loss", "binary_accuracy", "mean_absolute_error", "mean_squared_error"]
    assert hist["binary_accuracy"] == by_name["binary_accuracy"]
    assert hist["mean_absolute_error"] == by_name["mae"] and hist["mean_squared_error"] == by_name["mse"]
    model.save(tmp_path / "m.keras")  # the compile config stays plain data
    again = tf.load_model(tmp_path / "m.keras")
    assert again.evaluate(X, Y_BIN, verbose=0, return_dict=True) == model.evaluate(X, Y_BIN, verbose=0, return_dict=True)


def test_metric_functions_compute_per_sample_values():
    y = np.array([[1.0], [0.0], [1.0]], np.float32)
    p = np.array([[0.9], [0.6], [0.2]], np.float32)
    np.testing.assert_array_equal(metrics.binary_accuracy(y, p), [1.0, 0.0, 0.0])
    np.testing.assert_allclose(metrics.mae(y, p), [0.1, 0.6, 0.8], rtol=1e-6)
    probs = np.array([[0.1, 0.9], [0.8, 0.2]], np.float32)
    np.testing.assert_array_equal(metrics.sparse_categorical_accuracy(np.array([1, 1]), probs), [1.0, 0.0])
    np.testing.assert_array_equal(metrics.categorical_accuracy(np.eye(2, dtype=np.float32), probs), [0.0, 0.0])


def test_loss_and_metric_must_be_names_functions_or_objects():
    with pytest.raises(TypeError, match="loss must be a name .* or a keras.losses function"):
        _model(1, None).compile("adam", loss=3)
    with pytest.raises(TypeError, match="metric must be a name"):
        _model(1, None).compile("adam", loss="mse", metrics=[3])


def test_a_function_that_is_not_a_loss_fails_at_fit_with_its_name():
    model = _model(1, None)
    model.compile("adam", loss=np.mean)  # any f(y_true, y_pred) is a loss in Keras: checked when called
    with pytest.raises(TypeError, match="loss function 'mean' failed on y_true"):
        model.fit(np.ones((8, 5), np.float32), np.ones((8, 1), np.float32), verbose=0)
