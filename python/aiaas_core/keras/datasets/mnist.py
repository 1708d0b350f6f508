"""`keras.datasets.mnist.load_data()` from local IDX files: the programs that start with it run
unchanged, without the download Keras would make.

The folder is `$AIAAS_DATA_DIR/mnist` (else ../shared/data/mnist beside the repository). With the
full set there (train-images-idx3-ubyte[.gz] and t10k-...) the split is Keras's 60,000 / 10,000;
with the test set only (t10k-...), it is split as `aiaas_core.data.load_mnist` does: the first
8,000 images train, the last 2,000 test. `path=` may name a Keras-style mnist.npz instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...data.idx import MNIST_TRAIN_COUNT, default_mnist_dir, load_idx


def _find(directory: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (directory / name).is_file():
            return directory / name
    return None


def _pair(directory: Path, prefix: str) -> tuple[np.ndarray, np.ndarray] | None:
    images, labels = _find(directory, f"{prefix}-images-idx3-ubyte"), _find(directory, f"{prefix}-labels-idx1-ubyte")
    if images is None or labels is None:
        return None
    x, y = load_idx(images), load_idx(labels)
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y) or x.dtype != np.uint8:
        raise ValueError(f"MNIST files in {directory} disagree: images {x.shape} {x.dtype}, labels {y.shape}; "
                         "expected uint8 [n, 28, 28] and [n]")
    return x, y.astype(np.uint8)


def load_data(path: str | os.PathLike = "mnist.npz"):
    """`(x_train, y_train), (x_test, y_test)`: uint8 images [n, 28, 28] (0..255) and uint8 labels,
    as Keras returns them. FileNotFoundError names the folder searched when no MNIST file is there."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like, got {type(path).__name__}")
    if os.path.isfile(path):  # a Keras-style archive the user already has
        from ...data import load_npz
        x_train, y_train = load_npz(path, x_key="x_train", y_key="y_train")
        x_test, y_test = load_npz(path, x_key="x_test", y_key="y_test")
        return (x_train.astype(np.uint8), y_train.astype(np.uint8)), (x_test.astype(np.uint8), y_test.astype(np.uint8))
    directory = default_mnist_dir()
    test = _pair(directory, "t10k")
    if test is None:
        raise FileNotFoundError(
            f"MNIST is read from local files and none were found in {directory} (expected t10k-images-idx3-ubyte.gz "
            "and t10k-labels-idx1-ubyte.gz; set AIAAS_DATA_DIR to the folder holding mnist/); nothing is downloaded"
        )
    train = _pair(directory, "train")
    if train is not None:
        return train, test
    x, y = test
    return (x[:MNIST_TRAIN_COUNT], y[:MNIST_TRAIN_COUNT]), (x[MNIST_TRAIN_COUNT:], y[MNIST_TRAIN_COUNT:])
