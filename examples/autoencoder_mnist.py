"""Seed 000, 自编码器 (autoencoder): the seed's subclassed model compressing MNIST to 32 numbers.

Dense(32, relu) encoder -> Dense(784, sigmoid) decoder, mean squared error, Adam 1e-3, batch 32,
trained to reproduce its input on 8,000 flattened MNIST images. Bar: test MSE <= 0.019.
"""

from __future__ import annotations

import time

import aiaas_core as tf
from example_cli import check_run_args
from example_data import mnist_flat

MSE_BAR = 0.019


class Autoencoder(tf.keras.Model):
    def __init__(self):
        super(Autoencoder, self).__init__()
        self.encoder = tf.keras.layers.Dense(32, activation="relu", input_shape=(28 * 28,))
        self.decoder = tf.keras.layers.Dense(28 * 28, activation="sigmoid")

    def call(self, x):
        x = self.encoder(x)
        x = self.decoder(x)
        return x


def build_model() -> Autoencoder:
    """The seed's autoencoder, compiled with MSE as the seed does."""
    model = Autoencoder()
    model.compile(optimizer="adam", loss="mean_squared_error")
    return model


def main(epochs: int = 10, batch_size: int = 32, seed: int = 0, verbose: int = 0, quick: bool = False,
         data_dir=None) -> dict:
    """Train x -> x on 8,000 images; report the reconstruction MSE on the 2,000 test images."""
    check_run_args(epochs, batch_size)
    if quick:
        epochs = min(epochs, 1)
    tf.keras.set_random_seed(seed)
    x_train, x_test = mnist_flat(data_dir)
    model = build_model()
    t0 = time.perf_counter()
    history = model.fit(x_train, x_train, epochs=epochs, batch_size=batch_size, verbose=verbose)
    seconds = time.perf_counter() - t0
    mse = float(model.evaluate(x_test, x_test, verbose=0))
    return {
        "workload": "autoencoder_mnist", "epochs": epochs, "train_seconds": round(seconds, 3),
        "final_train_loss": float(history.history["loss"][-1]),
        "test_mse": mse, "bar": MSE_BAR, "passed": mse <= MSE_BAR,
    }


if __name__ == "__main__":
    from example_cli import run

    run(main, __doc__.splitlines()[0])
