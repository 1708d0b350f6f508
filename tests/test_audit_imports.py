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
              "activations"]


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
