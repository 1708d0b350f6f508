"""Audit: "the same objects are importable from aiaas_core directly" -- a Keras 3 program changes
`import keras` to `import aiaas_core as keras` (or `from keras.layers import Dense` to
`from aiaas_core.layers import Dense`), a TF program keeps `tf.random.set_seed`."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import aiaas_core
from aiaas_core import keras

NAMESPACES = ["layers", "models", "optimizers", "losses", "metrics", "callbacks", "utils", "initializers",
              "activations", "datasets"]


@pytest.mark.parametrize("name", NAMESPACES)
def test_keras_namespaces_are_attributes_and_importable_submodules(name):
    assert getattr(aiaas_core, name) is getattr(keras, name)
    assert importlib.import_module(f"aiaas_core.{name}") is getattr(keras, name)


def test_a_keras3_program_with_only_the_import_changed_runs():
    ns: dict = {}
    exec("""
import numpy as np
import aiaas_core as keras                      # was: import keras
from aiaas_core.layers import Dense, Dropout    # was: from keras.layers import ...
from aiaas_core.callbacks import EarlyStopping
keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
y = keras.utils.to_categorical((x[:, 0] > 0).astype(int), 2)
model = keras.Sequential([keras.Input((4,)), Dense(8, activation="relu"), Dropout(0.1), Dense(2, activation="softmax")])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2), loss=keras.losses.CategoricalCrossentropy(),
              metrics=[keras.metrics.CategoricalAccuracy()])
history = model.fit(x, y, epochs=5, batch_size=16, validation_split=0.25, verbose=0,
                    callbacks=[EarlyStopping(monitor="val_loss", patience=2)])
""", ns)
    loss = ns["history"].history["loss"]
    assert np.isfinite(loss).all() and loss[-1] < loss[0]


def test_tf_random_set_seed_seeds_like_set_random_seed():
    import aiaas_core as tf
    outs = []
    for seeding in (tf.random.set_seed, tf.keras.utils.set_random_seed):
        seeding(123)
        outs.append(tf.keras.layers.Dense(3).add_weight("k", (4, 3), tf.keras.initializers.get("glorot_uniform")).numpy())
    np.testing.assert_array_equal(outs[0], outs[1])
    from aiaas_core.random import set_seed
    assert set_seed is tf.random.set_seed


def test_backend_clear_session_floatx_epsilon():
    import aiaas_core as tf
    tf.keras.layers.Dense(1)
    tf.keras.backend.clear_session()
    assert tf.keras.layers.Dense(1).name == "dense" and tf.keras.layers.Dense(1).name == "dense_1"
    assert tf.keras.backend.floatx() == "float32" and tf.keras.backend.epsilon() == 1e-7


def test_tf_nn_activations_work_as_layer_activations():
    import aiaas_core as tf
    x = np.array([[-2.0, 0.5, 3.0]], np.float32)
    for fn, name in ((tf.nn.relu, "relu"), (tf.nn.sigmoid, "sigmoid"), (tf.nn.softmax, "softmax"),
                     (tf.nn.tanh, "tanh"), (tf.nn.leaky_relu, "leaky_relu")):
        layer = tf.keras.layers.Dense(3, activation=fn)
        assert layer.get_config()["activation"] == name
        np.testing.assert_array_equal(fn(x), getattr(tf.keras.activations, name)(x))
    np.testing.assert_allclose(tf.nn.relu(x), [[0.0, 0.5, 3.0]])


# ---- keras.datasets.mnist.load_data() from local files ---------------------------------------------
def test_mnist_load_data_reads_the_local_test_set(mnist_dir, monkeypatch):
    import aiaas_core as tf
    monkeypatch.setenv("AIAAS_DATA_DIR", str(mnist_dir.parent))
    (x_train, y_train), (x_test, y_test) = tf.keras.datasets.mnist.load_data()
    assert x_train.shape == (8000, 28, 28) and x_test.shape == (2000, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8 and x_train.max() == 255
    x, y = aiaas_core.data.load_mnist(mnist_dir, "test")  # the same images as the data module's split
    np.testing.assert_array_equal(x_test, np.round(x * 255).astype(np.uint8))
    np.testing.assert_array_equal(y_test, y)
    from aiaas_core.datasets import mnist
    assert mnist.load_data is tf.keras.datasets.mnist.load_data


def _write_idx(path, arr):
    import gzip
    header = bytes([0, 0, 0x08, arr.ndim]) + np.array(arr.shape, ">u4").tobytes()
    path.write_bytes(gzip.compress(header + arr.astype(np.uint8).tobytes()))


def test_mnist_load_data_uses_the_full_set_when_present_and_never_downloads(tmp_path, monkeypatch):
    import aiaas_core as tf
    folder = tmp_path / "mnist"
    folder.mkdir()
    monkeypatch.setenv("AIAAS_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        tf.keras.datasets.mnist.load_data()
    rng = np.random.default_rng(0)
    parts = {p: (rng.integers(0, 256, (n, 28, 28)), rng.integers(0, 10, n)) for p, n in (("train", 6), ("t10k", 3))}
    for prefix, (x, y) in parts.items():
        _write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", x)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", y)
    (x_train, y_train), (x_test, y_test) = tf.keras.datasets.mnist.load_data()
    np.testing.assert_array_equal(x_train, parts["train"][0])
    np.testing.assert_array_equal(y_test, parts["t10k"][1])
    np.savez(tmp_path / "mnist.npz", x_train=parts["train"][0].astype(np.uint8), y_train=parts["train"][1],
             x_test=parts["t10k"][0].astype(np.uint8), y_test=parts["t10k"][1])
    (a, b), (c, d) = tf.keras.datasets.mnist.load_data(path=tmp_path / "mnist.npz")
    assert a.shape == (6, 28, 28) and c.dtype == np.uint8 and d.tolist() == parts["t10k"][1].tolist()
