"""Audit of load_model against hostile files: a member whose declared size is beyond what any
valid model holds (a zip bomb) is refused from the zip directory, before it is decompressed."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

import aiaas_core as tf
from aiaas_core import keras
from aiaas_core.keras import layers
from aiaas_core.keras.engine import saving


@pytest.fixture()
def saved(tmp_path):
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    model.compile("adam", "mse")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    return path


def _with_member(src, dst, name, data):
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members[name] = data
    with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for n, d in members.items():
            zf.writestr(n, d)


@pytest.mark.parametrize("member", [
    "config.json",
    "model.weights.safetensors",
])
def test_a_member_larger_than_any_valid_model_is_refused_before_reading(saved, tmp_path, member, monkeypatch):
    # Keep the test small: lower the limit, then declare one byte more than it allows.
    monkeypatch.setattr(saving, "MAX_CONFIG_BYTES", 4096)
    monkeypatch.setattr(saving, "MAX_WEIGHTS_BYTES", 8192)
    small = 4096 if member == "config.json" else 8192
    bomb = tmp_path / "bomb.keras"
    _with_member(saved, bomb, member, b" " * (small + 1))  # deflates to a few bytes
    assert bomb.stat().st_size < small
    read = []
    monkeypatch.setattr(zipfile.ZipFile, "read", lambda self, name, pwd=None: read.append(name))
    with pytest.raises(ValueError, match=rf"member {member} declares {small + 1:,} bytes.*at most {small:,}"):
        tf.load_model(bomb)
    assert read == []  # refused from the directory: nothing was decompressed


def test_a_normal_file_still_loads(saved):
    model = tf.load_model(saved)
    assert model.optimizer.iterations == 1


def test_a_directory_is_named_as_such(tmp_path):
    (tmp_path / "saved_model").mkdir()
    with pytest.raises(ValueError, match="is a directory, not a model file"):
        tf.load_model(tmp_path / "saved_model")
    with pytest.raises(ValueError, match="not found"):
        tf.load_model(tmp_path / "missing.keras")


# ---- a Sequential inside a Sequential (a feature extractor plus a head) --------------------------------
def _nested():
    keras.utils.set_random_seed(6)
    features = keras.Sequential([keras.Input((4,)), layers.Dense(6, activation="relu"), layers.Dense(3)],
                                name="features")
    return keras.Sequential([features, layers.Dense(2, activation="softmax")], name="classifier")


def test_nested_sequential_saves_loads_and_resumes(tmp_path):
    x = np.random.default_rng(1).normal(size=(24, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = _nested()
    model.compile(keras.optimizers.Adam(learning_rate=1e-2), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    model.save(tmp_path / "nested.keras")
    loaded = tf.load_model(tmp_path / "nested.keras")
    assert [type(l).__name__ for l in loaded.layers] == ["Sequential", "Dense"]
    assert loaded.layers[0].name == "features" and [l.name for l in loaded.layers[0].layers] == \
        [l.name for l in model.layers[0].layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.optimizer.iterations == model.optimizer.iterations == 6
    a = model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False).history
    b = loaded.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False).history
    assert a == b


def test_nested_sequential_exports_to_onnx(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    model = _nested()
    x = np.random.default_rng(2).normal(size=(5, 4)).astype(np.float32)
    tf.export_onnx(model, tmp_path / "nested.onnx")
    got = ort.InferenceSession(str(tmp_path / "nested.onnx"), providers=["CPUExecutionProvider"]).run(
        ["output"], {"input": x})[0]
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=1e-5)


def test_config_nesting_is_bounded():
    inner = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 2]}},
        {"class_name": "Dense", "config": {"units": 2}}]}}
    for _ in range(saving.MAX_NESTING + 1):
        inner = {"class_name": "Sequential", "config": {"layers": [inner]}}
    with pytest.raises(ValueError, match=f"nested deeper than {saving.MAX_NESTING}"):
        keras.models.model_from_config(inner)


def test_clone_model_has_the_architecture_and_fresh_weights():
    model = _nested()
    model.compile("adam", "sparse_categorical_crossentropy")
    clone = keras.models.clone_model(model)
    assert clone.get_config()["layers"][1:] == model.get_config()["layers"][1:]
    assert [w.shape for w in clone.get_weights()] == [w.shape for w in model.get_weights()]
    assert not np.array_equal(clone.get_weights()[0], model.get_weights()[0])  # freshly initialized
    assert not clone.compiled and clone.layers[0] is not model.layers[0]
    with pytest.raises(ValueError, match="subclassed"):
        class Net(keras.Model):
            def call(self, x):
                return x
        keras.models.clone_model(Net())


@pytest.mark.parametrize("make_opt", [
    lambda: keras.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
    lambda: keras.optimizers.RMSprop(learning_rate=0.01, momentum=0.5, centered=True),
    lambda: keras.optimizers.AdamW(learning_rate=0.01, weight_decay=0.01),
], ids=["sgd_nesterov", "rmsprop_centered", "adamw"])
def test_every_optimizer_resumes_from_a_saved_file_as_if_uninterrupted(tmp_path, make_opt):
    x = np.random.default_rng(3).normal(size=(40, 4)).astype(np.float32)
    y = (x @ np.array([[1.0], [-1.0], [0.5], [2.0]], np.float32)).astype(np.float32)

    def fresh():
        keras.utils.set_random_seed(11)
        model = keras.Sequential([keras.Input((4,)), layers.Dense(5, activation="tanh"), layers.Dense(1)])
        model.compile(make_opt(), "mse", ["mae"])
        return model

    straight = fresh()
    want = straight.fit(x, y, epochs=4, batch_size=8, verbose=0).history
    first = fresh()
    got = first.fit(x, y, epochs=2, batch_size=8, verbose=0).history
    first.save(tmp_path / "ckpt.keras")
    resumed = tf.load_model(tmp_path / "ckpt.keras")
    more = resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=8, verbose=0).history
    assert {k: got[k] + more[k] for k in got} == want
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)
