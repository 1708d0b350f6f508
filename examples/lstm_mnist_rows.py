"""LSTM classifier on MNIST read row by row: each image is 28 time steps of 28 pixels.

A subclassed Model in the seed's style: LSTM(128) -> Dense(10, softmax); sparse categorical
cross-entropy, Adam 1e-3, batch 32; MNIST t10k first 8,000 train / last 2,000 test.
Bar: accuracy >= 0.905.
"""

from __future__ import annotations

import time

import aiaas_core as tf
from example_cli import check_run_args
from example_data import mnist_rows

ACCURACY_BAR = 0.905


class RowLSTM(tf.keras.Model):
    def __init__(self):
        super(RowLSTM, self).__init__()
        self.lstm = tf.keras.layers.LSTM(128, input_shape=(28, 28))
        self.dense = tf.keras.layers.Dense(10, activation="softmax")

    def call(self, x):
        x = self.lstm(x)
        x = self.dense(x)
        return x


def build_model() -> RowLSTM:
    """LSTM(128) over the 28 rows, then a softmax over the 10 digits."""
    model = RowLSTM()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main(epochs: int = 3, batch_size: int = 32, seed: int = 0, verbose: int = 0, quick: bool = False,
         data_dir=None) -> dict:
    """Train on 8,000 images as sequences, evaluate on 2,000; quick = 1 epoch on 1,000 / 500."""
    check_run_args(epochs, batch_size)
    if quick:
        epochs = 1
    tf.keras.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = mnist_rows(data_dir)
    if quick:
        x_train, y_train, x_test, y_test = x_train[:1000], y_train[:1000], x_test[:500], y_test[:500]
    model = build_model()
    t0 = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=verbose)
    seconds = time.perf_counter() - t0
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return {
        "workload": "lstm_mnist_rows", "epochs": epochs, "train_samples": len(x_train),
        "train_seconds": round(seconds, 3), "final_train_loss": float(history.history["loss"][-1]),
        "test_loss": float(loss), "test_accuracy": float(accuracy),
        "bar": ACCURACY_BAR, "passed": accuracy >= ACCURACY_BAR,
    }


if __name__ == "__main__":
    from example_cli import run

    run(main, __doc__.splitlines()[0])
