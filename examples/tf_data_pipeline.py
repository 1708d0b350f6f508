"""A tf.data input pipeline feeding model.fit, as the keras.io examples build one.

The 8x8 handwritten digits of sklearn (1,797 images, values 0-16) become a `tf.data.Dataset`:
`from_tensor_slices` -> `map` (scale to [0, 1], add the channel axis) -> `cache` -> `shuffle` ->
`batch` -> `prefetch`; a small ConvNet trains on it with `validation_data` given as a dataset,
then is evaluated on a test dataset. Only the import lines differ from a TensorFlow program.
Bar: test accuracy >= 0.95.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import aiaas_core as tf  # was: import tensorflow as tf
from aiaas_core import keras  # was: from tensorflow import keras
from example_cli import check_run_args

ACCURACY_BAR = 0.95
AUTOTUNE = tf.data.AUTOTUNE


# ## Prepare the data
#
# Images stay as the integers they are on disk; the pipeline converts them, so the arrays given
# to `from_tensor_slices` are the raw data.
def load_splits(seed: int = 0):
    images, labels = load_digits(return_X_y=True)
    images = images.reshape(-1, 8, 8).astype(np.uint8)
    x_train, x_test, y_train, y_test = train_test_split(images, labels, test_size=0.2, random_state=0,
                                                        stratify=labels)
    x_train, x_val, y_train, y_val = train_test_split(x_train, y_train, test_size=0.15, random_state=seed,
                                                      stratify=y_train)
    return (x_train, y_train), (x_val, y_val), (x_test, y_test)


# ## Build the input pipeline
#
# `map` runs once per image; `cache` keeps its results after the first epoch, so later epochs only
# shuffle and batch. The shuffle buffer holds the whole training set: a uniform shuffle, redrawn
# every epoch.
def normalize(image, label):
    image = tf.cast(image, tf.float32) / 16.0
    return tf.expand_dims(image, -1), label  # (8, 8, 1): channels last


def make_datasets(batch_size: int, seed: int = 0):
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = load_splits(seed)
    train_ds = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train))
        .map(normalize, num_parallel_calls=AUTOTUNE)
        .cache()
        .shuffle(len(x_train))
        .batch(batch_size)
        .prefetch(AUTOTUNE)
    )
    val_ds = tf.data.Dataset.from_tensor_slices((x_val, y_val)).map(normalize).batch(batch_size).cache()
    test_ds = tf.data.Dataset.from_tensor_slices((x_test, y_test)).map(normalize).batch(batch_size)
    return train_ds, val_ds, test_ds


# ## Build the model
def build_model() -> keras.Sequential:
    model = keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        keras.layers.Conv2D(32, kernel_size=3, activation="relu"),
        keras.layers.MaxPooling2D(pool_size=2),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dropout(0.25),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


# ## Train and evaluate
def main(epochs: int = 20, batch_size: int = 32, seed: int = 0, verbose: int = 0, quick: bool = False) -> dict:
    check_run_args(epochs, batch_size)
    if quick:
        epochs = min(epochs, 2)
    keras.utils.set_random_seed(seed)
    train_ds, val_ds, test_ds = make_datasets(batch_size, seed)
    model = build_model()
    t0 = time.perf_counter()
    history = model.fit(train_ds, epochs=epochs, validation_data=val_ds, verbose=verbose)
    seconds = time.perf_counter() - t0
    loss, accuracy = model.evaluate(test_ds, verbose=0)
    return {
        "workload": "tf_data_pipeline", "epochs": epochs, "train_seconds": round(seconds, 3),
        "train_batches_per_epoch": int(train_ds.cardinality()),
        "final_train_loss": float(history.history["loss"][-1]),
        "final_val_accuracy": float(history.history["val_accuracy"][-1]),
        "test_loss": float(loss), "test_accuracy": float(accuracy),
        "bar": ACCURACY_BAR, "passed": accuracy >= ACCURACY_BAR,
    }


if __name__ == "__main__":
    from example_cli import run

    run(main, __doc__.splitlines()[0])
