"""Seed 000, 循环神经网络 (RNN): the seed's subclassed LSTM model on the yearly sunspot numbers.

LSTM(32, relu, return_sequences=True, input (10, 1)) -> Dense(1, sigmoid) at every step. Each
sample is 10 consecutive years (standardized); the target at each step is 1 when the next year has
more sunspots. Binary cross-entropy, Adam 1e-3, batch 32, chronological 80/20 split.
Bar: per-step test accuracy >= 0.84. At the issue's 20 epochs this is met by a few seeds only
(seed 0: 0.838), as in Keras 3 itself, which trains this model identically from the same weights.
"""

from __future__ import annotations

import time

import aiaas_core as tf
from example_cli import check_run_args
from example_data import sunspot_windows

ACCURACY_BAR = 0.84


class RNN(tf.keras.Model):
    def __init__(self):
        super(RNN, self).__init__()
        self.lstm = tf.keras.layers.LSTM(32, activation="relu", return_sequences=True, input_shape=(10, 1))
        self.dense = tf.keras.layers.Dense(1, activation="sigmoid")

    def call(self, x):
        x = self.lstm(x)
        x = self.dense(x)
        return x


def build_model() -> RNN:
    """The seed's RNN, compiled as the seed compiles it."""
    model = RNN()
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def main(epochs: int = 20, batch_size: int = 32, seed: int = 0, verbose: int = 0, quick: bool = False) -> dict:
    """Train on the first 80% of the windows, evaluate per-step accuracy on the last 20%."""
    check_run_args(epochs, batch_size)
    if quick:
        epochs = min(epochs, 2)
    tf.keras.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = sunspot_windows(window=10)
    model = build_model()
    t0 = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=verbose)
    seconds = time.perf_counter() - t0
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return {
        "workload": "rnn_sunspots", "epochs": epochs, "train_windows": len(x_train),
        "train_seconds": round(seconds, 3), "final_train_loss": float(history.history["loss"][-1]),
        "test_loss": float(loss), "test_accuracy": float(accuracy),
        "bar": ACCURACY_BAR, "passed": accuracy >= ACCURACY_BAR,
    }


if __name__ == "__main__":
    from example_cli import run

    run(main, __doc__.splitlines()[0])
