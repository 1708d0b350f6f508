"""Callbacks fire at the right points with the right logs; NaN stops training cleanly."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import aiaas_core as tf
from aiaas_core import keras
from aiaas_core.keras import callbacks, layers

RNG = np.random.default_rng(0)
X = RNG.standard_normal((50, 3)).astype(np.float32)
Y = (X.sum(1) > 0).astype(np.float32)


def _model(lr=0.01):
    m = keras.Sequential([layers.Dense(4, activation="relu", input_dim=3), layers.Dense(1, activation="sigmoid")])
    m.compile(keras.optimizers.SGD(lr), "binary_crossentropy", metrics=["accuracy"])
    return m


class Recorder(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append(("train_begin",))

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(("epoch_begin", epoch))

    def on_train_batch_end(self, batch, logs=None):
        self.events.append(("batch_end", batch, sorted(logs)))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("epoch_end", epoch, dict(logs)))

    def on_train_end(self, logs=None):
        self.events.append(("train_end",))


def test_hooks_fire_in_order_with_logs():
    rec = Recorder()
    model = _model()
    hist = model.fit(X, Y, batch_size=20, epochs=2, verbose=0, callbacks=[rec], validation_split=0.2)
    kinds = [e[0] for e in rec.events]
    assert kinds == ["train_begin", "epoch_begin", "batch_end", "batch_end", "epoch_end",
                     "epoch_begin", "batch_end", "batch_end", "epoch_end", "train_end"]
    assert rec.events[2][2] == ["accuracy", "loss"]
    logs = rec.events[4][2]
    assert set(logs) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert hist.history["loss"][0] == logs["loss"] and hist.epoch == [0, 1]
    assert rec.model is model and model.history is hist


def test_lambda_callback_and_stop_training_inside_an_epoch():
    seen = []
    model = _model()

    def stop_after_three(batch, logs):
        seen.append(batch)
        if batch == 2:
            model.stop_training = True

    hist = model.fit(X, Y, batch_size=5, epochs=4, verbose=0,
                     callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=stop_after_three)])
    assert seen == [0, 1, 2] and len(hist.history["loss"]) == 1
    assert model.optimizer.iterations == 3


def test_early_stopping_patience_and_restore_best_weights():
    model = _model()
    snapshots = []
    keep = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: snapshots.append(model.get_weights()))
    # min_delta larger than any change: only the first epoch counts as an improvement
    stop = keras.callbacks.EarlyStopping(monitor="loss", min_delta=10.0, patience=2, restore_best_weights=True)
    hist = model.fit(X, Y, epochs=10, verbose=0, callbacks=[keep, stop])
    assert len(hist.history["loss"]) == 3 and stop.stopped_epoch == 2
    for a, b in zip(model.get_weights(), snapshots[0]):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_every_epoch_and_best_only(tmp_path):
    model = _model(lr=0.1)
    model.fit(X, Y, epochs=3, verbose=0,
              callbacks=[keras.callbacks.ModelCheckpoint(str(tmp_path / "ep{epoch:02d}.keras"))])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ep01.keras", "ep02.keras", "ep03.keras"]
    np.testing.assert_array_equal(tf.load_model(tmp_path / "ep03.keras").predict(X, verbose=0), model.predict(X, verbose=0))
    best = tmp_path / "best.weights.safetensors"
    calls = []
    ck = keras.callbacks.ModelCheckpoint(str(best), monitor="loss", save_best_only=True, save_weights_only=True)
    orig = model.save_weights
    model.save_weights = lambda p, **k: (calls.append(p), orig(p, **k))
    model.fit(X, Y, epochs=3, verbose=0, callbacks=[ck])
    assert best.exists() and 1 <= len(calls) <= 3
    fresh = _model()
    fresh.load_weights(best)


def test_nan_loss_stops_training_with_a_warning_and_finite_weights():
    model = keras.Sequential([layers.Dense(1, input_dim=3)])
    model.compile(keras.optimizers.SGD(1e30), "mse")
    big_y = np.full(50, 1e30, np.float32)
    with pytest.warns(RuntimeWarning, match="loss became"):
        hist = model.fit(X, big_y, epochs=5, batch_size=10, verbose=0)
    assert model.stop_training
    assert len(hist.history["loss"]) == 1
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_terminate_on_nan_callback_sees_the_bad_loss():
    model = keras.Sequential([layers.Dense(1, input_dim=3)])
    model.compile(keras.optimizers.SGD(1e30), "mse")
    cb = keras.callbacks.TerminateOnNaN()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model.fit(X, np.full(50, 1e30, np.float32), epochs=3, batch_size=10, verbose=0, callbacks=[cb])
    assert model.stop_training
