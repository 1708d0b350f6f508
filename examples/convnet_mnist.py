"""Seed 000, 卷积神经网络 (ConvNet): the seed's subclassed tf.keras.Model, trained on real MNIST.

Conv2D(32, 3x3, relu) -> Conv2D(64, 3x3, relu) -> Flatten -> Dense(128, relu) -> Dense(10, softmax),
no pooling, exactly as the seed writes it; sparse categorical cross-entropy, Adam 1e-3, batch 32.
Data: the MNIST t10k images, first 8,000 to train, last 2,000 to test. Bar: accuracy >= 0.965.
"""

from __future__ import annotations

import time

import aiaas_core as tf
from example_cli import check_run_args
from example_data import mnist_images

ACCURACY_BAR = 0.965


class ConvNet(tf.keras.Model):
    def __init__(self):
        super(ConvNet, self).__init__()
        self.conv1 = tf.keras.layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1))
        self.conv2 = tf.keras.layers.Conv2D(64, (3, 3), activation="relu")
        self.flatten = tf.keras.layers.Flatten()
        self.dense1 = tf.keras.layers.Dense(128, activation="relu")
        self.dense2 = tf.keras.layers.Dense(10, activation="softmax")

    def call(self, x):
        x = self.conv1(x)
        x = self.conv2(x)
        x = self.flatten(x)
        x = self.dense1(x)
        x = self.dense2(x)
        return x


def build_model() -> ConvNet:
    """The seed's ConvNet, compiled as the seed compiles it (Adam default learning rate 1e-3)."""
    model = ConvNet()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main(epochs: int = 3, batch_size: int = 32, seed: int = 0, verbose: int = 0, quick: bool = False,
         data_dir=None) -> dict:
    """Train on 8,000 MNIST images and evaluate on 2,000; quick = 1 epoch on 1,000 / 500 images."""
    check_run_args(epochs, batch_size)
    if quick:
        epochs = 1
    tf.keras.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = mnist_images(data_dir)
    if quick:
        x_train, y_train, x_test, y_test = x_train[:1000], y_train[:1000], x_test[:500], y_test[:500]
    model = build_model()
    t0 = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=verbose)
    seconds = time.perf_counter() - t0
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return {
        "workload": "convnet_mnist", "epochs": epochs, "train_samples": len(x_train),
        "train_seconds": round(seconds, 3), "final_train_loss": float(history.history["loss"][-1]),
        "test_loss": float(loss), "test_accuracy": float(accuracy),
        "bar": ACCURACY_BAR, "passed": accuracy >= ACCURACY_BAR,
    }


if __name__ == "__main__":
    from example_cli import run

    run(main, __doc__.splitlines()[0])
