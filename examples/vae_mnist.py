"""A convolutional variational autoencoder with a custom train_step, in the style of keras.io's
"Variational AutoEncoder" example: a functional encoder (two strided Conv2D, a Dense bottleneck, the
mean and log-variance of a 2-D code, a sampling layer built from tensor ops), a functional decoder
(Dense, Reshape, Conv2DTranspose up to 28x28), and a Model whose train_step computes the
reconstruction and KL losses under tf.GradientTape and reports them through keras.metrics.Mean.

Data: MNIST's t10k images (the 8,000 training ones). Only the imports differ from TensorFlow.
"""

from __future__ import annotations

import time

import numpy as np

import aiaas_core as tf  # was: import tensorflow as tf
from aiaas_core import keras  # was: from tensorflow import keras
from aiaas_core.keras import layers  # was: from tensorflow.keras import layers
from example_cli import check_run_args
from example_data import mnist_images

LATENT_DIM = 2
# TensorFlow 2.20 running this program on the same 8,000 images, 3 epochs, batch 128: reconstruction
# loss of the last epoch 196.2, 199.0, 201.0 (seeds 0-2); the bar allows 5% above their mean.
RECONSTRUCTION_BAR = 1.05 * (196.2 + 199.0 + 201.0) / 3


class Sampling(layers.Layer):
    """z = mean + exp(log_var / 2) * eps, eps drawn from a standard normal for every sample."""

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch = tf.shape(z_mean)[0]
        dim = tf.shape(z_mean)[1]
        epsilon = tf.random.normal(shape=(batch, dim))
        return z_mean + tf.exp(0.5 * z_log_var) * epsilon


def build_encoder() -> keras.Model:
    images = keras.Input(shape=(28, 28, 1))
    h = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(images)
    h = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(h)
    h = layers.Flatten()(h)
    h = layers.Dense(16, activation="relu")(h)
    z_mean = layers.Dense(LATENT_DIM, name="z_mean")(h)
    z_log_var = layers.Dense(LATENT_DIM, name="z_log_var")(h)
    z = Sampling()([z_mean, z_log_var])
    return keras.Model(images, [z_mean, z_log_var, z], name="encoder")


def build_decoder() -> keras.Model:
    code = keras.Input(shape=(LATENT_DIM,))
    h = layers.Dense(7 * 7 * 64, activation="relu")(code)
    h = layers.Reshape((7, 7, 64))(h)
    h = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(h)
    h = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(h)
    pixels = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(h)
    return keras.Model(code, pixels, name="decoder")


class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            per_pixel = keras.losses.binary_crossentropy(data, reconstruction)
            reconstruction_loss = tf.reduce_mean(tf.reduce_sum(per_pixel, axis=(1, 2)))
            kl_loss = -0.5 * (1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var))
            kl_loss = tf.reduce_mean(tf.reduce_sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {"loss": self.total_loss_tracker.result(),
                "reconstruction_loss": self.reconstruction_loss_tracker.result(),
                "kl_loss": self.kl_loss_tracker.result()}

    def call(self, x):
        return self.decoder(self.encoder(x)[2])


def main(epochs: int = 3, batch_size: int = 128, seed: int = 0, verbose: int = 0, quick: bool = False,
         data_dir=None) -> dict:
    check_run_args(epochs, batch_size)
    tf.random.set_seed(seed)
    (x_train, _), _ = mnist_images(data_dir)
    if quick:
        epochs, x_train = 1, x_train[:1000]
    vae = VAE(build_encoder(), build_decoder())
    vae.compile(optimizer=keras.optimizers.Adam())
    t0 = time.perf_counter()
    history = vae.fit(x_train, epochs=epochs, batch_size=batch_size, verbose=verbose).history
    seconds = time.perf_counter() - t0
    codes = np.asarray(vae.encoder.predict(x_train[:256], verbose=0)[0])
    last = float(history["reconstruction_loss"][-1])
    return {
        "workload": "vae_mnist", "epochs": epochs, "train_samples": len(x_train),
        "train_seconds": round(seconds, 3), "reconstruction_loss": last,
        "kl_loss": float(history["kl_loss"][-1]), "code_shape": list(codes.shape),
        "bar": RECONSTRUCTION_BAR, "passed": last <= RECONSTRUCTION_BAR,
    }


if __name__ == "__main__":
    from example_cli import run

    run(main, __doc__.splitlines()[0])
