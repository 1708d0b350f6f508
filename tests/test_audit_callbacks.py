"""Audit of the callbacks against Keras 3: EarlyStopping's restore_best_weights / baseline and
ModelCheckpoint's errors, found by probing what a Keras user does and the older tests did not."""

from __future__ import annotations

import numpy as np
import pytest

from aiaas_core import keras
from aiaas_core.keras import layers

RNG = np.random.default_rng(7)
X = RNG.standard_normal((40, 3)).astype(np.float32)
Y = (X @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)


def _regression(lr=0.1):
    keras.utils.set_random_seed(3)
    model = keras.Sequential([layers.Dense(1, input_dim=3)])
    model.compile(keras.optimizers.SGD(learning_rate=lr), "mse")
    return model


def _fit_recording(model, stop, epochs):
    """Fit with `stop` last; returns (per-epoch weights, per-epoch logs)."""
    snaps, logs_seen = [], []
    keep = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: (snaps.append(model.get_weights()), logs_seen.append(dict(logs))))
    model.fit(X, Y, epochs=epochs, batch_size=40, verbose=0, callbacks=[keep, stop])
    return snaps, logs_seen


def test_restore_best_weights_also_when_training_runs_to_the_last_epoch():
    # Keras 3: the best epoch's weights come back at the end of training even without an early stop.
    # mode="max" on a falling loss makes epoch 0 the best while patience never runs out.
    model = _regression()
    stop = keras.callbacks.EarlyStopping(monitor="loss", mode="max", patience=50, restore_best_weights=True)
    snaps, logs = _fit_recording(model, stop, epochs=4)
    assert len(logs) == 4 and stop.stopped_epoch == 0
    assert logs[0]["loss"] > logs[-1]["loss"]  # training did move the weights
    assert stop.best_epoch == 0
    for got, best in zip(model.get_weights(), snaps[0]):
        np.testing.assert_array_equal(got, best)


def test_restore_best_weights_when_no_epoch_beats_the_baseline():
    # Keras 3: an epoch that improves on the best so far is remembered even when it misses the
    # baseline (the baseline only decides whether the patience counter restarts); training stops
    # after `patience` epochs and that best epoch is restored, not the last one.
    model = _regression()
    stop = keras.callbacks.EarlyStopping(monitor="loss", mode="max", baseline=1e6, patience=2,
                                         restore_best_weights=True)
    snaps, logs = _fit_recording(model, stop, epochs=10)
    assert len(logs) == 2 and stop.stopped_epoch == 1
    assert stop.best_epoch == 0 and stop.best == logs[0]["loss"]
    assert not np.array_equal(snaps[0][0], snaps[1][0])
    for got, want in zip(model.get_weights(), snaps[0]):
        np.testing.assert_array_equal(got, want)


def test_without_restore_the_last_weights_stay():
    model = _regression()
    stop = keras.callbacks.EarlyStopping(monitor="loss", mode="max", patience=50)
    snaps, _ = _fit_recording(model, stop, epochs=3)
    for got, last in zip(model.get_weights(), snaps[-1]):
        np.testing.assert_array_equal(got, last)
