"""Seed 002's program: a Sequential MLP for binary classification, on real (synthetic) data.

Dense(64, relu, input_dim=100) -> Dense(64, relu) -> Dense(1, sigmoid), binary cross-entropy,
Adam, batch 32, 10 epochs, on sklearn make_classification(20000 samples, 100 features,
20 informative, random_state 0), 80/20 split. Bar: test accuracy >= 0.96.
"""

from __future__ import annotations

import time

import numpy as np

from aiaas_core.keras.layers import Dense
from aiaas_core.keras.models import Sequential
from example_cli import check_run_args
from example_data import classification_100

ACCURACY_BAR = 0.96


def build_model() -> Sequential:
    """Seed 002, line for line."""
    model = Sequential()
    model.add(Dense(64, activation="relu", input_dim=100))
    model.add(Dense(64, activation="relu"))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def main(epochs: int = 10, batch_size: int = 32, seed: int = 0, verbose: int = 0, quick: bool = False) -> dict:
    """Train, then predict on the test set as the seed does and score the predictions."""
    check_run_args(epochs, batch_size)
    if quick:
        epochs = min(epochs, 1)
    from aiaas_core import keras

    keras.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = classification_100()
    model = build_model()
    t0 = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=verbose)
    seconds = time.perf_counter() - t0
    predictions = model.predict(x_test, verbose=0)
    accuracy = float(np.mean((predictions > 0.5) == (y_test > 0.5)))
    return {
        "workload": "mlp_classification", "epochs": epochs, "train_seconds": round(seconds, 3),
        "final_train_loss": float(history.history["loss"][-1]),
        "test_accuracy": accuracy, "bar": ACCURACY_BAR, "passed": accuracy >= ACCURACY_BAR,
    }


if __name__ == "__main__":
    from example_cli import run

    run(main, __doc__.splitlines()[0])
