"""Seed 000, 逻辑回归 (logistic regression): p = sigmoid(x w + b) trained on binary cross-entropy.

The seed's loop on one synthetic feature becomes a Keras Dense(1, sigmoid) on sklearn's breast
cancer set (30 features, standardized with the training rows' statistics), 80/20 split.
Bar: test accuracy >= 0.94.
"""

from __future__ import annotations

import time

from aiaas_core import keras
from example_cli import check_run_args
from example_data import breast_cancer_standardized

ACCURACY_BAR = 0.94


def build_model() -> keras.Sequential:
    """Dense(1, sigmoid) on 30 features (Keras default glorot_uniform init)."""
    model = keras.Sequential([keras.layers.Dense(1, activation="sigmoid", input_shape=(30,))])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def main(epochs: int = 50, batch_size: int = 32, seed: int = 0, verbose: int = 0, quick: bool = False) -> dict:
    """Train and evaluate; returns test accuracy and loss and the time taken."""
    check_run_args(epochs, batch_size)
    if quick:
        epochs = min(epochs, 3)
    keras.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = breast_cancer_standardized()
    model = build_model()
    t0 = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=verbose)
    seconds = time.perf_counter() - t0
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return {
        "workload": "logistic_regression", "epochs": epochs, "train_seconds": round(seconds, 3),
        "final_train_loss": float(history.history["loss"][-1]),
        "test_loss": float(loss), "test_accuracy": float(accuracy),
        "bar": ACCURACY_BAR, "passed": accuracy >= ACCURACY_BAR,
    }


if __name__ == "__main__":
    from example_cli import run

    run(main, __doc__.splitlines()[0])
