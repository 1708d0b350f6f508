"""Saving without pickle: zip round-trips bit-exactly, resumes training identically, rejects
truncated/tampered/foreign files; configs (JSON) are validated field by field."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import safetensors.numpy as st
from sklearn.datasets import load_digits

import aiaas_core as tf
from aiaas_core import keras
from aiaas_core.keras import layers


def _digits(n=300):
    x, y = load_digits(return_X_y=True)
    return (x[:n] / 16.0).astype(np.float32), y[:n]


def _mlp():
    return keras.Sequential([keras.Input((64,)), layers.Dense(16, activation="relu"), layers.Dropout(0.3),
                             layers.BatchNormalization(), layers.Dense(10, activation="softmax")])


def test_save_load_roundtrip_is_bit_exact_and_keeps_compile(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = _digits()
    model = _mlp()
    model.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["config.json", "model.weights.safetensors", "optimizer.safetensors"]
        cfg = json.loads(zf.read("config.json"))
        names = set(st.load(zf.read("model.weights.safetensors")))
    assert cfg["model"]["class_name"] == "Sequential"
    assert cfg["model"]["config"]["layers"][0]["config"]["batch_shape"] == [None, 64]
    assert cfg["compile"]["loss"] == "sparse_categorical_crossentropy"
    assert {"layers.0.kernel", "layers.0.bias", "layers.2.gamma", "layers.2.moving_variance", "layers.3.kernel"} <= names
    loaded = tf.load_model(path)
    assert loaded is not model
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.optimizer.learning_rate == pytest.approx(0.003) and loaded.optimizer.iterations == model.optimizer.iterations
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    assert keras.models.load_model is tf.load_model


def _resume_case(tmp_path, split: bool):
    x, y = _digits()
    keras.utils.set_random_seed(42)
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    if not split:
        hist = model.fit(x, y, epochs=2, batch_size=32, verbose=0)
        return model, hist.history
    hist1 = model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    model.save(tmp_path / "ckpt.keras")
    resumed = tf.load_model(tmp_path / "ckpt.keras")
    hist2 = resumed.fit(x, y, epochs=2, initial_epoch=1, batch_size=32, verbose=0)
    return resumed, {k: hist1.history[k] + hist2.history[k] for k in hist1.history}


def test_resume_from_save_trains_identically(tmp_path):
    straight, h_straight = _resume_case(tmp_path, split=False)
    resumed, h_resumed = _resume_case(tmp_path, split=True)
    assert h_straight == h_resumed
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_recurrent_conv_and_embedding_models_roundtrip(tmp_path):
    x = np.random.default_rng(0).standard_normal((4, 6, 3)).astype(np.float32)
    for model in (keras.Sequential([keras.Input((6, 3)), layers.LSTM(4, return_sequences=True), layers.GRU(3),
                                    layers.Dense(2)]),
                  keras.Sequential([layers.SimpleRNN(2, activation="relu", input_shape=(6, 3)), layers.Activation("tanh")])):
        model.save(tmp_path / "r.keras")
        np.testing.assert_array_equal(tf.load_model(tmp_path / "r.keras").predict(x, verbose=0), model.predict(x, verbose=0))
    img = np.random.default_rng(1).random((2, 9, 9, 2)).astype(np.float32)
    conv = keras.Sequential([keras.Input((9, 9, 2)), layers.Conv2D(3, 3, strides=2, padding="same", activation="relu"),
                             layers.MaxPooling2D(2, padding="same"), layers.AveragePooling2D(1), layers.Reshape((-1,)),
                             layers.Dense(2)])
    conv.save(tmp_path / "c.keras")
    np.testing.assert_array_equal(tf.load_model(tmp_path / "c.keras").predict(img, verbose=0), conv.predict(img, verbose=0))
    emb = keras.Sequential([layers.Embedding(10, 3, input_length=4), layers.Flatten(), layers.Dense(1)])
    emb.save(tmp_path / "e.keras")
    ids = np.array([[1, 2, 3, 9]])
    np.testing.assert_array_equal(tf.load_model(tmp_path / "e.keras").predict(ids, verbose=0), emb.predict(ids, verbose=0))


@pytest.fixture()
def saved(tmp_path):
    model = keras.Sequential([layers.Dense(3, input_dim=4, activation="relu"), layers.Dense(2)])
    model.compile("sgd", "mse")
    path = tmp_path / "m.keras"
    model.save(path)
    return path


def _rewrite(src, dst, **replace):
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members.update(replace)
    with zipfile.ZipFile(dst, "w") as zf:
        for name, data in members.items():
            if data is not None:
                zf.writestr(name, data)


def test_truncated_tampered_and_foreign_files_are_rejected(saved, tmp_path):
    blob = saved.read_bytes()
    (tmp_path / "trunc.keras").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="truncated or corrupted|not a valid"):
        tf.load_model(tmp_path / "trunc.keras")
    flipped = bytearray(blob)
    pos = blob.find(b"layers.0.kernel") + 200  # inside the stored weights payload
    flipped[pos] ^= 0xFF
    (tmp_path / "flip.keras").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="corrupted|CRC|Bad"):
        tf.load_model(tmp_path / "flip.keras")
    (tmp_path / "text.keras").write_text("hello")
    with pytest.raises(ValueError, match="not a valid model file"):
        tf.load_model(tmp_path / "text.keras")
    with pytest.raises(ValueError, match="not found"):
        tf.load_model(tmp_path / "missing.keras")
    _rewrite(saved, tmp_path / "extra.keras", **{"payload.pkl": b"\x80\x04"})
    with pytest.raises(ValueError, match="expected members"):
        tf.load_model(tmp_path / "extra.keras")


def test_weights_that_do_not_match_the_architecture_are_rejected(saved, tmp_path):
    with zipfile.ZipFile(saved) as zf:
        cfg = json.loads(zf.read("config.json"))
        weights = st.load(zf.read("model.weights.safetensors"))
    bad_shape = dict(weights, **{"layers.1.kernel": np.zeros((3, 5), np.float32)})
    _rewrite(saved, tmp_path / "a.keras", **{"model.weights.safetensors": st.save(bad_shape)})
    with pytest.raises(ValueError, match=r"layers.1.kernel.*shape \(3, 2\)"):
        tf.load_model(tmp_path / "a.keras")
    bad_dtype = dict(weights, **{"layers.0.bias": np.zeros(3, np.float64)})
    _rewrite(saved, tmp_path / "b.keras", **{"model.weights.safetensors": st.save(bad_dtype)})
    with pytest.raises(ValueError, match="float32"):
        tf.load_model(tmp_path / "b.keras")
    missing = {k: v for k, v in weights.items() if k != "layers.0.bias"}
    _rewrite(saved, tmp_path / "c.keras", **{"model.weights.safetensors": st.save(missing)})
    with pytest.raises(ValueError, match="missing.*layers.0.bias"):
        tf.load_model(tmp_path / "c.keras")
    cfg["format_version"] = 99
    _rewrite(saved, tmp_path / "d.keras", **{"config.json": json.dumps(cfg)})
    with pytest.raises(ValueError, match="format_version"):
        tf.load_model(tmp_path / "d.keras")
    _rewrite(saved, tmp_path / "e.keras", **{"model.weights.safetensors": b"garbage" * 10})
    with pytest.raises(ValueError, match="safetensors"):
        tf.load_model(tmp_path / "e.keras")
    _rewrite(saved, tmp_path / "f.keras", **{"config.json": b"{not json"})
    with pytest.raises(ValueError, match="JSON"):
        tf.load_model(tmp_path / "f.keras")


def test_to_json_roundtrip_and_keras3_style_config():
    model = keras.Sequential([keras.Input((5,)), layers.Dense(4, activation="tanh"), layers.Dense(1, activation="sigmoid")])
    clone = keras.models.model_from_json(model.to_json())
    assert [type(l) for l in clone.layers] == [layers.Dense, layers.Dense]
    assert clone.count_params() == model.count_params()
    keras3 = {
        "module": "keras", "class_name": "Sequential", "registered_name": None,
        "config": {"name": "sequential", "trainable": True, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}},
                   "layers": [
                       {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
                        "config": {"batch_shape": [None, 100], "dtype": "float32", "sparse": False, "name": "input_layer"}},
                       {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
                        "build_config": {"input_shape": [None, 100]},
                        "config": {"name": "dense", "trainable": True,
                                   "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}},
                                   "units": 64, "activation": "relu", "use_bias": True,
                                   "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
                                                          "config": {"seed": None}, "registered_name": None},
                                   "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros",
                                                        "config": {}, "registered_name": None},
                                   "kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None,
                                   "bias_constraint": None}}],
                   "build_input_shape": [None, 100]}}
    m = keras.models.model_from_config(keras3)
    assert m.predict(np.zeros((2, 100)), verbose=0).shape == (2, 64)


def _cfg(layers_list):
    return {"class_name": "Sequential", "config": {"name": "s", "layers": layers_list}}


@pytest.mark.parametrize("config,match", [
    (_cfg([{"class_name": "InputLayer", "config": {"batch_shape": [None, 3]}}, {"class_name": "Lambda", "config": {}}]),
     r"layer 1 \(Lambda\): a Lambda layer holds a Python function, which a model config cannot carry"),
    (_cfg([{"class_name": "Dense", "config": {"units": 2}}]), r"layer 0 \(Dense\): missing input shape"),
    (_cfg([{"class_name": "Dense", "config": {"units": "abc", "input_shape": [3]}}]), r"layer 0 \(Dense\).*units"),
    (_cfg([{"class_name": "Dense", "config": {"units": 2, "input_dim": 3}}, {"class_name": "Dense", "config": {"units": 2, "function": "os.system"}}]),
     r"layer 1 \(Dense\): .*unknown field 'function'"),
    (_cfg([{"class_name": "Dense", "config": {"units": 2, "input_dim": 3, "activation": "evil"}}]), r"layer 0 \(Dense\).*unknown activation"),
    (_cfg([{"class_name": "Dense", "config": {"units": 2, "input_dim": 3, "kernel_regularizer": {"class_name": "L3"}}}]),
     r"layer 0 \(Dense\).*kernel_regularizer"),
    (_cfg([{"class_name": "InputLayer", "config": {"batch_shape": [None, 3]}}, {"class_name": "Conv2D", "config": {"filters": 2, "kernel_size": 3}}]),
     r"layer 0 \(Conv2D.*4-D"),
    ({"class_name": "Subclassed", "config": {}}, "must be 'Sequential'"),
    # a functional config is read by its own loader, which names what is missing
    ({"class_name": "Functional", "config": {}}, r"functional model config: missing field\(s\)"),
    (_cfg([]), "non-empty"),
    ([1, 2], "JSON object"),
])
def test_bad_configs_name_the_layer_and_field(config, match):
    with pytest.raises(ValueError, match=match):
        keras.models.model_from_config(config)


def test_model_from_json_rejects_invalid_json():
    with pytest.raises(ValueError, match="not valid JSON"):
        keras.models.model_from_json("{")


class _Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv1 = layers.Conv2D(2, 3, activation="relu")
        self.flatten = layers.Flatten()
        self.heads = [layers.Dense(4, activation="relu"), layers.Dense(2)]

    def call(self, x):
        x = self.flatten(self.conv1(x))
        for h in self.heads:
            x = h(x)
        return x


def test_subclassed_save_weights_by_attribute_path(tmp_path):
    x = np.random.default_rng(0).random((3, 6, 6, 1)).astype(np.float32)
    net = _Net()
    net(x)
    net.save_weights(tmp_path / "net.safetensors")
    names = set(st.load((tmp_path / "net.safetensors").read_bytes()))
    assert names == {"conv1.kernel", "conv1.bias", "heads.0.kernel", "heads.0.bias", "heads.1.kernel", "heads.1.bias"}
    other = _Net()
    with pytest.raises(ValueError, match="not built"):
        other.load_weights(tmp_path / "net.safetensors")
    other(x)
    other.load_weights(tmp_path / "net.safetensors")
    np.testing.assert_array_equal(other.predict(x, verbose=0), net.predict(x, verbose=0))
    with pytest.raises(NotImplementedError, match="save_weights"):
        net.save(tmp_path / "net.keras")
    with pytest.raises(NotImplementedError):
        net.to_json()
    wrong = keras.Sequential([layers.Dense(2, input_dim=3)])
    with pytest.raises(ValueError, match="does not match"):
        wrong.load_weights(tmp_path / "net.safetensors")


def test_preprocessing_travels_with_the_model(tmp_path):
    data = pytest.importorskip("aiaas_core.data")
    if not hasattr(data, "StandardScaler") or not hasattr(data, "preprocessor_from_config"):
        pytest.skip("aiaas_core.data has no StandardScaler/preprocessor_from_config yet")
    x = np.random.default_rng(0).standard_normal((20, 3)) * 5 + 2
    scaler = data.StandardScaler().fit(x)
    model = keras.Sequential([layers.Dense(1, input_dim=3)])
    model.preprocessing = scaler
    model.save(tmp_path / "p.keras")
    with zipfile.ZipFile(tmp_path / "p.keras") as zf:
        assert json.loads(zf.read("config.json"))["preprocessing"] == scaler.get_config()
    loaded = tf.load_model(tmp_path / "p.keras")
    np.testing.assert_allclose(loaded.preprocessing.transform(x), scaler.transform(x))
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_oversized_or_hostile_configs_are_refused_before_allocating():
    huge = _cfg([{"class_name": "Dense", "config": {"units": 10**6, "input_dim": 10**6}}])
    with pytest.raises(ValueError, match=r"layer 0 \(Dense.*at most 100,000,000"):
        keras.models.model_from_config(huge)
    with pytest.raises(ValueError, match="nested too deeply|not valid JSON"):
        keras.models.model_from_json("[" * 100000 + "]" * 100000)
    # the size check walks the same shapes that build allocates
    m = keras.models.model_from_config(_cfg([
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 6, 6, 2]}},
        {"class_name": "Conv2D", "config": {"filters": 3, "kernel_size": 3}},
        {"class_name": "Reshape", "config": {"target_shape": [16, 3]}},
        {"class_name": "GRU", "config": {"units": 4}}, {"class_name": "BatchNormalization", "config": {}},
        {"class_name": "Dense", "config": {"units": 2}}]))
    shape, total = (None, 6, 6, 2), 0
    for layer in m.layers:
        total += layer.params_for(shape)
        shape = layer.compute_output_shape(shape)
    assert total == m.count_params() == (3 * 3 * 2 * 3 + 3) + (3 * 12 + 4 * 12 + 24) + 16 + 10
