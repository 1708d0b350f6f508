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


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = layers.Dense(4, activation="relu")
        self.out = layers.Dense(1)

    def call(self, x):
        return self.out(self.hidden(x))


def test_full_model_checkpoint_of_a_subclassed_model_fails_before_training(tmp_path):
    # A subclassed model has no config to save: the old code trained a whole epoch, then raised
    # from inside the callback. Now fit refuses before the first step and says what to use.
    model = _Subclassed()
    model.compile("sgd", "mse")
    ck = keras.callbacks.ModelCheckpoint(str(tmp_path / "m.keras"))
    with pytest.raises(ValueError, match="save_weights_only=True"):
        model.fit(X, Y, epochs=2, verbose=0, callbacks=[ck])
    assert model.optimizer.iterations == 0 and list(tmp_path.iterdir()) == []
    # The weights-only checkpoint of the same model works, and reloads into a fresh instance.
    ck = keras.callbacks.ModelCheckpoint(str(tmp_path / "w{epoch}.weights.h5"), save_weights_only=True)
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[ck])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w1.weights.h5", "w2.weights.h5"]
    fresh = _Subclassed()
    fresh(X[:1])
    fresh.load_weights(tmp_path / "w2.weights.h5")
    np.testing.assert_array_equal(fresh.predict(X, verbose=0), model.predict(X, verbose=0))


def test_checkpoint_path_naming_a_key_fit_will_not_log_fails_before_training(tmp_path):
    model = _regression()
    ck = keras.callbacks.ModelCheckpoint(str(tmp_path / "m-{val_loss:.2f}.keras"))
    with pytest.raises(ValueError, match=r"'val_loss'.*epoch, loss"):
        model.fit(X, Y, epochs=2, verbose=0, callbacks=[ck])  # no validation data: no val_loss
    assert model.optimizer.iterations == 0 and list(tmp_path.iterdir()) == []
    # With validation the same path works and the value lands in the file name.
    hist = model.fit(X, Y, epochs=1, verbose=0, validation_split=0.25, callbacks=[ck])
    assert [p.name for p in tmp_path.iterdir()] == [f"m-{hist.history['val_loss'][0]:.2f}.keras"]


# ---- hooks a tf.keras user overrides ------------------------------------------------------------
class _Hooks(keras.callbacks.Callback):
    """Overrides the tf.keras 2 spelling on_batch_end and the test/predict hooks."""

    def __init__(self):
        super().__init__()
        self.events = []

    def on_batch_end(self, batch, logs=None):
        self.events.append(("batch_end", batch, sorted(logs)))

    def on_test_begin(self, logs=None):
        self.events.append(("test_begin",))

    def on_test_batch_end(self, batch, logs=None):
        self.events.append(("test_batch_end", batch))

    def on_test_end(self, logs=None):
        self.events.append(("test_end", sorted(logs)))

    def on_predict_begin(self, logs=None):
        self.events.append(("predict_begin",))

    def on_predict_batch_end(self, batch, logs=None):
        self.events.append(("predict_batch_end", batch, sorted(logs)))

    def on_predict_end(self, logs=None):
        self.events.append(("predict_end",))


def test_on_batch_end_fires_for_training_batches_like_keras():
    model = _regression()
    cb = _Hooks()
    model.fit(X, Y, batch_size=20, epochs=1, verbose=0, callbacks=[cb])
    assert cb.events == [("batch_end", 0, ["loss"]), ("batch_end", 1, ["loss"])]


def test_validation_fires_the_test_hooks_with_unprefixed_logs():
    model = _regression()
    cb = _Hooks()
    model.fit(X, Y, batch_size=20, epochs=1, verbose=0, callbacks=[cb], validation_split=0.5)
    assert cb.events == [("batch_end", 0, ["loss"]), ("test_begin",), ("test_batch_end", 0), ("test_end", ["loss"])]


def test_evaluate_and_predict_run_their_callbacks():
    model = _regression()
    cb = _Hooks()
    model.evaluate(X, Y, batch_size=30, verbose=0, callbacks=[cb])
    assert cb.events == [("test_begin",), ("test_batch_end", 0), ("test_batch_end", 1), ("test_end", ["loss"])]
    assert cb.model is model
    cb.events.clear()
    out = model.predict(X, batch_size=30, verbose=0, callbacks=[cb])
    assert out.shape == (40, 1)
    assert cb.events == [("predict_begin",), ("predict_batch_end", 0, ["outputs"]),
                         ("predict_batch_end", 1, ["outputs"]), ("predict_end",)]
    with pytest.raises(TypeError, match="Callback instances"):
        model.evaluate(X, Y, verbose=0, callbacks=["not a callback"])


def test_predict_refuses_steps_instead_of_ignoring_it():
    model = _regression()
    with pytest.raises(ValueError, match="steps is not supported"):
        model.predict(X, steps=1, verbose=0)


# ---- learning-rate callbacks a tf.keras program uses ------------------------------------------------
def test_learning_rate_scheduler_sets_the_rate_each_epoch_and_logs_it():
    model = _regression(lr=0.1)
    seen = []
    sched = keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr)
    spy = keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, l: seen.append(model.optimizer.learning_rate))
    hist = model.fit(X, Y, epochs=3, batch_size=40, verbose=0, callbacks=[sched, spy])
    assert seen == pytest.approx([0.1, 0.05, 0.025])
    assert hist.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.025])
    # The one-argument schedule of older tf.keras works too; a non-number is refused with the value.
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[keras.callbacks.LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1))])
    assert model.optimizer.learning_rate == pytest.approx(0.02)
    with pytest.raises(ValueError, match="schedule.*float.*'fast'"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[keras.callbacks.LearningRateScheduler(lambda e, lr: "fast")])


def test_reduce_lr_on_plateau_cuts_the_rate_after_patience_epochs_without_improvement():
    model = _regression(lr=0.2)
    # mode="max" on a falling loss: no epoch after the first improves, so the rate is cut every
    # `patience` epochs, down to min_lr. As in Keras, an epoch logs the rate it trained with (the
    # cut at its end shows from the next epoch on).
    cb = keras.callbacks.ReduceLROnPlateau(monitor="loss", mode="max", factor=0.5, patience=2, min_lr=0.06)
    hist = model.fit(X, Y, epochs=7, batch_size=40, verbose=0, callbacks=[cb])
    assert hist.history["learning_rate"] == pytest.approx([0.2, 0.2, 0.2, 0.1, 0.1, 0.06, 0.06])
    assert model.optimizer.learning_rate == pytest.approx(0.06)
    with pytest.raises(ValueError, match="factor"):
        keras.callbacks.ReduceLROnPlateau(factor=1.5)


def test_checkpoint_initial_value_threshold_must_be_beaten(tmp_path):
    model = _regression()
    first = model.fit(X, Y, epochs=1, batch_size=40, verbose=0).history["loss"][0]
    ck = keras.callbacks.ModelCheckpoint(str(tmp_path / "best.keras"), monitor="loss", save_best_only=True,
                                         initial_value_threshold=first / 1e6)
    model.fit(X, Y, epochs=2, batch_size=40, verbose=0, callbacks=[ck])
    assert list(tmp_path.iterdir()) == []  # nothing beat the threshold
    ck = keras.callbacks.ModelCheckpoint(str(tmp_path / "best.keras"), monitor="loss", save_best_only=True,
                                         initial_value_threshold=first * 10)
    model.fit(X, Y, epochs=1, batch_size=40, verbose=0, callbacks=[ck])
    assert [p.name for p in tmp_path.iterdir()] == ["best.keras"]


def test_every_fit_stopped_by_a_nan_loss_says_so():
    import warnings
    x = np.ones((10, 3), np.float32)
    y = np.full(10, 1e30, np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # Python's default: a repeated warning is normally shown once
        for _ in range(2):
            model = keras.Sequential([keras.Input((3,)), layers.Dense(1)])
            model.compile(keras.optimizers.SGD(learning_rate=1e30), "mse")
            model.fit(x, y, epochs=3, batch_size=10, verbose=0)
            assert model.stop_training
    stops = [w for w in caught if "loss became" in str(w.message)]
    assert len(stops) == 2 and all(w.filename == __file__ for w in stops)


@pytest.mark.parametrize("make", [keras.callbacks.EarlyStopping, keras.callbacks.ReduceLROnPlateau,
                                  lambda monitor: keras.callbacks.ModelCheckpoint("m.keras", monitor=monitor)])
def test_a_monitor_that_is_not_a_name_is_a_type_error(make):
    with pytest.raises(TypeError, match=r"monitor must be the name of a logged value.*\['val_loss'\]"):
        make(monitor=["val_loss"])


def test_csv_logger_writes_one_row_per_epoch_and_appends_on_resume(tmp_path):
    import csv
    path = tmp_path / "log.csv"
    model = _regression()
    hist = model.fit(X, Y, epochs=2, batch_size=40, verbose=0, validation_split=0.25,
                     callbacks=[keras.callbacks.CSVLogger(str(path))])
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == ["epoch", "loss", "val_loss"] and [r["epoch"] for r in rows] == ["0", "1"]
    assert [float(r["loss"]) for r in rows] == pytest.approx(hist.history["loss"])
    model.fit(X, Y, epochs=3, initial_epoch=2, batch_size=40, verbose=0, validation_split=0.25,
              callbacks=[keras.callbacks.CSVLogger(path, append=True)])
    lines = path.read_text().splitlines()
    assert len(lines) == 4 and lines[0] == "epoch,loss,val_loss" and lines[3].startswith("2,")
    with pytest.raises(ValueError, match="separator"):
        keras.callbacks.CSVLogger(path, separator=";;")
