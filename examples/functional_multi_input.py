"""A functional model with two inputs and two outputs (the keras.io multi-input, multi-output pattern).

Title: Multi-input, multi-output digits classifier
Description: the functional API on sklearn's 8x8 digits. One input is the image, read by a small
ConvNet; the other is a vector of hand-made features (how much ink each row and column holds), read
by a Dense branch. The branches are concatenated, and two heads predict the digit (10 classes) and
whether it is even (a binary side task), trained together with per-output losses and loss weights.
The model is saved and loaded back (Keras 3's functional config), and must predict identically.
Bar: digit accuracy >= 0.97 and parity accuracy >= 0.96 on the held-out 20%.
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np
from sklearn.datasets import load_digits

from aiaas_core import keras, ops
from aiaas_core.keras import layers
from example_cli import check_run_args

DIGIT_BAR = 0.97  # this implementation, seeds 0-3: 0.992, 0.989, 0.989, 0.981 (no TensorFlow here to measure)
PARITY_BAR = 0.96  # seeds 0-3: 0.986, 0.981, 0.992, 0.994


# ---- data ------------------------------------------------------------------------------------
def load_data(seed: int = 0):
    """{"image": [N, 8, 8, 1], "ink": [N, 16]} inputs and {"digit", "even"} targets, split 80/20."""
    x, y = load_digits(return_X_y=True)
    images = (x / 16.0).astype(np.float32).reshape(-1, 8, 8, 1)
    # Row and column sums of the ink: a second view of each digit, as a tabular input.
    ink = np.concatenate([images.sum(axis=2)[..., 0], images.sum(axis=1)[..., 0]], axis=1) / 8.0
    targets = {"digit": y.astype(np.int64), "even": (y % 2 == 0).astype(np.float32)[:, None]}
    order = np.random.default_rng(seed).permutation(len(y))
    cut = int(0.8 * len(y))

    def part(idx):
        return {"image": images[idx], "ink": ink[idx].astype(np.float32)}, {k: v[idx] for k, v in targets.items()}

    return part(order[:cut]), part(order[cut:])


# ---- model -----------------------------------------------------------------------------------
def build_model() -> keras.Model:
    image = keras.Input(shape=(8, 8, 1), name="image")
    ink = keras.Input(shape=(16,), name="ink")

    x = layers.Conv2D(16, 3, padding="same", activation="relu")(image)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.Flatten()(x)

    f = layers.Dense(16, activation="relu")(ink)

    features = ops.concatenate([x, f], axis=-1)
    features = layers.Dropout(0.2)(layers.Dense(64, activation="relu")(features))
    digit = layers.Dense(10, activation="softmax", name="digit")(features)
    even = layers.Dense(1, activation="sigmoid", name="even")(features)

    model = keras.Model(inputs={"image": image, "ink": ink}, outputs={"digit": digit, "even": even},
                        name="digits_two_views")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=3e-3),
        loss={"digit": "sparse_categorical_crossentropy", "even": "binary_crossentropy"},
        loss_weights={"digit": 1.0, "even": 0.5},
        metrics={"digit": ["accuracy"], "even": ["accuracy"]},
    )
    return model


# ---- run -------------------------------------------------------------------------------------
def main(epochs: int = 15, batch_size: int = 32, seed: int = 0, verbose: int = 0, quick: bool = False) -> dict:
    """Train, evaluate, save and reload; returns both accuracies and whether the reload matched."""
    check_run_args(epochs, batch_size)
    if quick:
        epochs = min(epochs, 2)
    keras.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = load_data(seed)
    model = build_model()
    if verbose:
        model.summary()
    t0 = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=verbose,
                        validation_split=0.1)
    seconds = time.perf_counter() - t0
    pred = model.predict(x_test, verbose=0)
    digit_acc = float((pred["digit"].argmax(axis=1) == y_test["digit"]).mean())
    even_acc = float(((pred["even"] > 0.5) == (y_test["even"] > 0.5)).mean())

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "digits_two_views.keras")
        model.save(path)
        reloaded = keras.models.load_model(path)
    again = reloaded.predict(x_test, verbose=0)
    same = all(np.array_equal(pred[k], again[k]) for k in pred)
    return {
        "workload": "functional_multi_input", "epochs": epochs, "train_seconds": round(seconds, 3),
        "final_train_loss": float(history.history["loss"][-1]),
        "test_digit_accuracy": digit_acc, "test_even_accuracy": even_acc, "reload_identical": same,
        "bar": {"digit": DIGIT_BAR, "even": PARITY_BAR},
        "passed": digit_acc >= DIGIT_BAR and even_acc >= PARITY_BAR and same,
    }


if __name__ == "__main__":
    from example_cli import run

    run(main, __doc__.splitlines()[0])
