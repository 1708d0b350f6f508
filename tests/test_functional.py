"""The functional API: keras.Input, layers and ops on symbolic tensors, Model(inputs, outputs) with
several inputs and outputs, shared layers, models as layers, None dimensions, integer inputs; its
errors; saving and loading (Keras 3's functional config), summary() and ONNX export."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits

import aiaas_core as tf
from aiaas_core import keras, ops
from aiaas_core.keras import layers as L
from aiaas_core.keras.engine import registry
from aiaas_core.keras.engine.functional_config import functional_from_config
from aiaas_core.keras.variables import Variable


def _digits():
    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float32), y


def _two_halves(x):
    return x[:, :32], x[:, 32:]


def _two_input_two_output(dict_io: bool, seed: int = 0):
    """Digits split into its top and bottom halves (two inputs), predicting the digit and whether it
    is >= 5 (two outputs); a BatchNormalization and a Dropout so saving covers their state."""
    keras.utils.set_random_seed(seed)
    top, bottom = keras.Input((32,), name="top"), keras.Input((32,), name="bottom")
    h = ops.concatenate([L.Dense(24, activation="relu")(top), L.Dense(24, activation="relu")(bottom)], axis=-1)
    h = L.Dropout(0.1)(L.BatchNormalization()(h))
    digit = L.Dense(10, activation="softmax", name="digit")(h)
    big = L.Dense(1, activation="sigmoid", name="big")(h)
    if dict_io:
        return keras.Model({"top": top, "bottom": bottom}, {"digit": digit, "big": big})
    return keras.Model([top, bottom], [digit, big])


def _compile(model, dict_io: bool):
    if dict_io:
        model.compile(keras.optimizers.Adam(0.01), {"digit": "sparse_categorical_crossentropy", "big": "binary_crossentropy"},
                      metrics={"digit": ["accuracy"], "big": ["accuracy"]}, loss_weights={"digit": 1.0, "big": 0.5})
    else:
        model.compile(keras.optimizers.Adam(0.01), ["sparse_categorical_crossentropy", "binary_crossentropy"],
                      metrics=[["accuracy"], ["accuracy"]], loss_weights=[1.0, 0.5])


def _data(dict_io: bool):
    x, y = _digits()
    a, b = _two_halves(x)
    big = (y >= 5).astype(np.float32)
    if dict_io:
        return {"top": a, "bottom": b}, {"digit": y, "big": big}
    return [a, b], [y, big]


def _take(data, idx):
    if isinstance(data, dict):
        return {k: v[idx] for k, v in data.items()}
    return [v[idx] for v in data]


# ---- training ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dict_io", [False, True], ids=["lists", "dicts"])
def test_two_inputs_two_outputs_learn_digits(dict_io):
    x, y = _data(dict_io)
    idx = np.random.default_rng(0).permutation(len(_digits()[1]))
    train, test = idx[:1400], idx[1400:]
    model = _two_input_two_output(dict_io)
    _compile(model, dict_io)
    model.fit(_take(x, train), _take(y, train), epochs=8, batch_size=32, verbose=0)
    pred = model.predict(_take(x, test), verbose=0)
    digit, big = (pred["digit"], pred["big"]) if dict_io else pred
    y_test = _take(y, test)
    y_digit, y_big = (y_test["digit"], y_test["big"]) if dict_io else y_test
    assert (digit.argmax(1) == y_digit).mean() >= 0.93
    assert ((big[:, 0] > 0.5) == y_big).mean() >= 0.93


def test_breast_cancer_two_feature_groups_and_one_output():
    x, y = load_breast_cancer(return_X_y=True)
    x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
    keras.utils.set_random_seed(1)
    means, rest = keras.Input((10,), name="means"), keras.Input((20,), name="rest")
    h = L.Dense(8, activation="relu")(means) + L.Dense(8, activation="relu")(rest)  # an op joining two branches
    out = L.Dense(1, activation="sigmoid")(h)
    model = keras.Model([means, rest], out)
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    idx = np.random.default_rng(0).permutation(len(y))
    tr, te = idx[:450], idx[450:]
    model.fit([x[tr, :10], x[tr, 10:]], y[tr], epochs=20, batch_size=32, verbose=0)
    acc = ((model.predict([x[te, :10], x[te, 10:]], verbose=0)[:, 0] > 0.5) == y[te]).mean()
    assert acc >= 0.94


# ---- shared layers -------------------------------------------------------------------------------
def test_a_shared_layer_gets_the_sum_of_both_uses_gradients_against_finite_differences():
    keras.utils.set_random_seed(2)
    a, b = keras.Input((3,), name="a"), keras.Input((3,), name="b")
    shared = L.Dense(2, activation="tanh", name="shared")
    out = ops.sum(shared(a) * shared(b), axis=-1, keepdims=True)
    model = keras.Model([a, b], out)
    assert [layer.name for layer in model.layers].count("shared") == 1
    rng = np.random.default_rng(0)
    xa, xb = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(4, 3)).astype(np.float32)
    kernel, bias = shared.kernel, shared.bias
    with ops.GradientTape() as tape:
        loss = ops.sum(model([xa, xb]))
    g_kernel, g_bias = tape.gradient(loss, [kernel, bias])

    def f(w, c):  # the same function in float64
        return float(np.sum(np.tanh(xa.astype(np.float64) @ w + c) * np.tanh(xb.astype(np.float64) @ w + c)))

    w0, c0 = kernel.numpy().astype(np.float64), bias.numpy().astype(np.float64)
    eps = 1e-6
    num_w = np.zeros_like(w0)
    for idx in np.ndindex(w0.shape):
        d = np.zeros_like(w0)
        d[idx] = eps
        num_w[idx] = (f(w0 + d, c0) - f(w0 - d, c0)) / (2 * eps)
    num_c = np.array([(f(w0, c0 + e) - f(w0, c0 - e)) / (2 * eps) for e in np.eye(2) * eps])
    np.testing.assert_allclose(np.asarray(g_kernel), num_w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(g_bias), num_c, rtol=1e-4, atol=1e-5)
    # ... and that is the sum of the two uses' gradients (each use with the other's output held fixed)
    ya, yb = np.tanh(xa @ w0 + c0), np.tanh(xb @ w0 + c0)
    use_a = xa.T.astype(np.float64) @ (yb * (1 - ya ** 2))
    use_b = xb.T.astype(np.float64) @ (ya * (1 - yb ** 2))
    np.testing.assert_allclose(np.asarray(g_kernel), use_a + use_b, rtol=1e-4, atol=1e-5)


# ---- models as layers, None dimensions, integer inputs ----------------------------------------------
def test_a_model_used_as_a_layer_and_a_sequential_inside():
    keras.utils.set_random_seed(3)
    inner_in = keras.Input((6,))
    encoder = keras.Model(inner_in, L.Dense(4, activation="relu")(inner_in), name="encoder")
    head = keras.Sequential([keras.Input((4,)), L.Dense(3), L.Dense(1)], name="head")
    a, b = keras.Input((6,), name="left"), keras.Input((6,), name="right")
    out = head(encoder(a) - encoder(b))  # the encoder is shared: a siamese model
    model = keras.Model([a, b], out)
    xa, xb = np.ones((2, 6), np.float32), np.zeros((2, 6), np.float32)
    enc = encoder.predict(xa, verbose=0) - encoder.predict(xb, verbose=0)
    np.testing.assert_allclose(model.predict([xa, xb], verbose=0), head.predict(enc, verbose=0), rtol=1e-6)
    names = [n for n, _ in model.named_weights()]
    assert names == ["layers.0.layers.0.kernel", "layers.0.layers.0.bias", "layers.1.layers.0.kernel",
                     "layers.1.layers.0.bias", "layers.1.layers.1.kernel", "layers.1.layers.1.bias"]
    model.compile("adam", "mse")
    before = encoder.get_weights()[0].copy()
    model.fit([xa, xb], np.ones((2, 1), np.float32), epochs=2, verbose=0)
    assert not np.array_equal(before, encoder.get_weights()[0])  # training reaches the nested model


def test_variable_length_integer_sequences():
    keras.utils.set_random_seed(4)
    ids = keras.Input((None,), dtype="int32", name="ids")
    emb = L.Embedding(30, 8)(ids)
    pooled = ops.mean(emb, axis=1)                   # GlobalAveragePooling over any length
    last = L.LSTM(5)(emb)                            # the LSTM takes None time steps too
    out = L.Dense(1, activation="sigmoid")(ops.concatenate([pooled, last], axis=-1))
    model = keras.Model(ids, out)
    assert tuple(emb.shape) == (None, None, 8) and tuple(model.output_shape) == (None, 1)
    rng = np.random.default_rng(0)
    for length in (3, 11):
        x = rng.integers(0, 30, (6, length))
        assert model.predict(x, verbose=0).shape == (6, 1)
    # learns "does the sequence hold token 7" from sequences of one length
    x = rng.integers(0, 30, (400, 12))
    y = (x == 7).any(axis=1).astype(np.float32)
    model.compile(keras.optimizers.Adam(0.02), "binary_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert hist.history["accuracy"][-1] >= 0.85
    with pytest.raises(ValueError, match="integers"):
        model.predict(np.full((2, 4), 0.5), verbose=0)


# ---- errors --------------------------------------------------------------------------------------
def test_errors_name_what_was_wrong():
    a, b = keras.Input((3,), name="in_a"), keras.Input((3,), name="in_b")
    model = keras.Model([a, b], L.Dense(2)(a + b))
    with pytest.raises(ValueError, match="takes 2 inputs"):
        model.predict(np.zeros((2, 3)), verbose=0)
    with pytest.raises(ValueError, match="takes 2 inputs, got 3"):
        model([np.zeros((2, 3))] * 3)
    with pytest.raises(ValueError, match=r"input 'in_a' .* must have shape \(None, 3\), got \(2, 4\)"):
        model.predict([np.zeros((2, 4)), np.zeros((2, 3))], verbose=0)
    with pytest.raises(ValueError, match="input 'in_b', which is not among the model's inputs"):
        keras.Model(a, L.Dense(2)(a + b))  # an InputLayer the outputs use but inputs= does not list
    with pytest.raises(TypeError, match="outputs must be tensors computed from keras.Input"):
        keras.Model(a, np.zeros(3))  # not derived from the inputs
    with pytest.raises(ValueError, match="computed from other tensors"):
        keras.Model(L.Dense(2)(a), a)
    for numpy_fn in (np.exp, np.asarray, lambda t: np.concatenate([t, t])):
        with pytest.raises(TypeError, match="symbolic .* numpy functions cannot run on it"):
            numpy_fn(a)
    with pytest.raises(TypeError, match="control flow"):
        bool(a > 0)
    with pytest.raises(ValueError, match="used by two layers"):
        keras.Model(a, L.Dense(2, name="twin")(L.Dense(2, name="twin")(a)))


# ---- saving --------------------------------------------------------------------------------------
@pytest.mark.parametrize("dict_io", [False, True], ids=["lists", "dicts"])
def test_save_load_is_bit_exact_and_the_config_is_stable(tmp_path, dict_io):
    x, y = _data(dict_io)
    model = _two_input_two_output(dict_io)
    _compile(model, dict_io)
    model.fit(_take(x, slice(0, 300)), _take(y, slice(0, 300)), epochs=1, batch_size=32, verbose=0)
    path = tmp_path / "f.keras"
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        saved = json.loads(zf.read("config.json"))
    arch = saved["model"]
    assert arch["class_name"] == "Functional"
    layers = {entry["name"]: entry for entry in arch["config"]["layers"]}
    assert layers["top"]["class_name"] == "InputLayer" and layers["top"]["inbound_nodes"] == []
    concat = next(e for e in arch["config"]["layers"] if e["class_name"] == "Operation")
    assert concat["config"]["op"] == "concatenate" and concat["inbound_nodes"][0]["kwargs"] == {"axis": -1}
    first = concat["inbound_nodes"][0]["args"][0][0]
    assert first["class_name"] == "__keras_tensor__" and first["config"]["shape"] == [None, 24]
    if dict_io:
        assert arch["config"]["input_layers"] == {"top": ["top", 0, 0], "bottom": ["bottom", 0, 0]}
        assert arch["config"]["output_layers"] == {"digit": ["digit", 0, 0], "big": ["big", 0, 0]}
    else:
        assert arch["config"]["output_layers"] == [["digit", 0, 0], ["big", 0, 0]]
    loaded = tf.load_model(path)
    a, b = model.predict(x, verbose=0), loaded.predict(x, verbose=0)
    for key in (a if dict_io else range(2)):
        np.testing.assert_array_equal(a[key], b[key])
    assert loaded.get_config() == model.get_config()
    loaded.save(tmp_path / "g.keras")
    again = tf.load_model(tmp_path / "g.keras")
    assert again.get_config() == loaded.get_config()
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    clone = keras.models.model_from_json(model.to_json())
    assert clone.get_config() == model.get_config()
    assert keras.models.model_from_config(json.loads(model.to_json())).get_config() == model.get_config()
    assert keras.Model.from_config(model.get_config()).get_config() == model.get_config()


def _resume(tmp_path, split: bool):
    x, y = _data(False)
    x, y = _take(x, slice(0, 400)), _take(y, slice(0, 400))
    model = _two_input_two_output(False, seed=7)
    _compile(model, False)
    if not split:
        return model, model.fit(x, y, epochs=3, batch_size=32, verbose=0).history
    h1 = model.fit(x, y, epochs=2, batch_size=32, verbose=0).history
    model.save(tmp_path / "ckpt.keras")
    resumed = tf.load_model(tmp_path / "ckpt.keras")
    h2 = resumed.fit(x, y, epochs=3, initial_epoch=2, batch_size=32, verbose=0).history
    return resumed, {k: h1[k] + h2[k] for k in h1}


def test_a_compiled_model_resumes_training_exactly(tmp_path):
    straight, h_straight = _resume(tmp_path, split=False)
    resumed, h_resumed = _resume(tmp_path, split=True)
    assert h_straight == h_resumed
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_shared_nested_and_op_models_round_trip(tmp_path):
    keras.utils.set_random_seed(5)
    inner_in = keras.Input((4,))
    inner = keras.Model(inner_in, L.Dense(3, name="inner_dense")(inner_in), name="inner")
    seq = keras.Sequential([keras.Input((3,)), L.Dense(2)], name="seq")
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    shared = L.Dense(4, name="shared")
    u, v = shared(a), shared(b)
    w = ops.reshape(ops.stack([u, v], axis=1), (-1, 8))[:, 2:6]   # a tuple of slices in the config
    z = seq(inner(w * 0.5 + np.arange(4, dtype=np.float32)))       # a numpy constant
    model = keras.Model([a, b], [z, ops.maximum(u, v)])
    cfg = model.get_config()
    shared_entry = next(e for e in cfg["layers"] if e["name"] == "shared")
    assert len(shared_entry["inbound_nodes"]) == 2
    assert shared_entry["inbound_nodes"][1]["args"][0]["config"]["keras_history"] == ["b", 0, 0]
    kinds = {e["name"]: e["class_name"] for e in cfg["layers"]}
    assert kinds["inner"] == "Functional" and kinds["seq"] == "Sequential"
    model.save(tmp_path / "m.keras")
    loaded = tf.load_model(tmp_path / "m.keras")
    x = [np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32) for _ in range(2)]
    for p, q in zip(model.predict(x, verbose=0), loaded.predict(x, verbose=0)):
        np.testing.assert_array_equal(p, q)
    assert json.dumps(loaded.get_config(), sort_keys=True) == json.dumps(cfg, sort_keys=True)
    clone = keras.models.clone_model(model)
    assert clone.get_config() == cfg
    assert not np.array_equal(clone.get_weights()[0], model.get_weights()[0])  # fresh weights


class Scale(L.Layer):
    """A user layer with a weight and a constructor argument."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        return x * self.w * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def test_user_layers_need_custom_objects_or_registration(tmp_path):
    inp = keras.Input((3,), name="x")
    model = keras.Model(inp, L.Dense(2)(Scale(3.0, name="scale")(inp)))
    model.save(tmp_path / "u.keras")
    with pytest.raises(ValueError, match=r"layer 1 \(Scale 'scale'\): unknown class_name 'Scale'.*custom_objects"):
        tf.load_model(tmp_path / "u.keras")
    loaded = tf.load_model(tmp_path / "u.keras", custom_objects={"Scale": Scale})
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.get_layer("scale").factor == 3.0

    @keras.saving.register_keras_serializable(package="tests")
    class Shift(L.Layer):
        def call(self, x):
            return x + 1.0

    assert keras.utils.register_keras_serializable is keras.saving.register_keras_serializable
    assert tf.saving.register_keras_serializable is keras.saving.register_keras_serializable  # import keras
    assert registry.get_registered_name(Shift) == "tests>Shift"
    model = keras.Model(inp, Shift(name="shift")(inp))
    entry = model.get_config()["layers"][1]
    assert entry["registered_name"] == "tests>Shift"
    loaded = keras.models.model_from_json(model.to_json())
    assert isinstance(loaded.get_layer("shift"), Shift)
    with pytest.raises(ValueError, match="already registered"):
        keras.saving.register_keras_serializable(package="tests", name="Shift")(Scale)
    with pytest.raises(TypeError, match="custom_objects must be a dict"):
        tf.load_model(tmp_path / "u.keras", custom_objects=[Scale])


def test_what_cannot_be_saved_is_refused_clearly():
    inp = keras.Input((3,))
    model = keras.Model(inp, inp * Variable(np.ones(3, np.float32), "loose", True))
    with pytest.raises(NotImplementedError, match="belongs to no layer"):
        model.get_config()
    model = keras.Model(inp, ops.add(inp, np.float32(np.inf)))
    with pytest.raises(NotImplementedError, match="not finite"):
        model.to_json()


def _base_config():
    inp = keras.Input((3,), name="x")
    return keras.Model(inp, L.Dense(2, name="d")(inp + 1.0), name="m").get_config()


def _edit(fn):
    cfg = json.loads(json.dumps(_base_config()))
    fn(cfg)
    return cfg


def _entry(cfg, name):
    return next(e for e in cfg["layers"] if e["name"] == name)


@pytest.mark.parametrize("edit, match", [
    (lambda c: _entry(c, "d").update(class_name="Evil"), r"layer 2 \(Evil 'd'\): unknown class_name 'Evil'"),
    (lambda c: _entry(c, "d")["config"].update(units=-1), r"layer 2 \(Dense 'd'\)"),
    (lambda c: _entry(c, "add")["config"].update(op="system"), r"field 'op' must name a public aiaas_core.ops"),
    (lambda c: _entry(c, "d")["inbound_nodes"][0]["args"][0]["config"].update(keras_history=["nope", 0, 0]),
     r"layer 'd' inbound node 0: keras_history names layer 'nope'"),
    (lambda c: _entry(c, "d")["inbound_nodes"][0]["args"][0]["config"].update(keras_history=["add", 3, 0]),
     r"asks for node 3 of layer 'add'"),
    (lambda c: _entry(c, "d")["inbound_nodes"][0]["args"][0]["config"].update(keras_history=["add", 0, 5]),
     r"asks for output 5 of layer 'add'"),
    (lambda c: _entry(c, "add")["inbound_nodes"][0]["args"][0]["config"].update(keras_history=["d", 0, 0]),
     r"cycle"),
    (lambda c: c["layers"].append(dict(_entry(c, "d"))), r"names must be unique"),
    (lambda c: c.update(output_layers=["ghost", 0, 0]), r"'output_layers'.*'ghost'"),
    (lambda c: c.update(extra=1), r"unknown field"),
    (lambda c: _entry(c, "x")["config"].update(batch_shape=[None, 10 ** 9]), r"at most"),
    (lambda c: _entry(c, "d")["config"].update(units=10 ** 8), r"weights; at most"),
    (lambda c: c["layers"].extend([{**_entry(c, "d"), "name": f"d{i}", "config": {**_entry(c, "d")["config"], "name": f"d{i}"}}
                                   for i in range(1001)]), r"more than 1000 layers"),
])
def test_bad_functional_configs_name_the_layer_and_field(edit, match):
    with pytest.raises(ValueError, match=match):
        functional_from_config(_edit(edit))


def test_a_hostile_op_config_is_refused_before_it_allocates():
    cfg = _base_config()
    add = _entry(cfg, "add")
    add["config"]["op"] = "tile"
    add["inbound_nodes"][0]["args"][1] = {"class_name": "__tuple__", "config": {"value": [1, 10 ** 9]}}
    with pytest.raises(ValueError, match=r"layer 'add' inbound node 0 \(tile\).*at most"):
        functional_from_config(cfg)


# ---- summary and ONNX ----------------------------------------------------------------------------
def test_summary_lists_layers_ops_shapes_params_and_connections():
    keras.utils.set_random_seed(6)
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    shared = L.Dense(3, name="shared")
    seq = keras.Sequential([keras.Input((3,)), L.Dense(2)], name="head")
    out = seq(shared(a) + shared(b))
    model = keras.Model([a, b], [out, shared(a)])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Connected to" in text
    row = next(line for line in lines if line.startswith("shared (Dense)"))
    assert "(None, 3)" in row and "15" in row and "a[0][0]" in row
    i = lines.index(row)
    assert lines[i + 1].strip() == "b[0][0]" and lines[i + 2].strip() == "a[0][0]"  # three calls
    assert any(line.startswith("add (add)") and "shared[0][0]" in line for line in lines)
    assert any(line.startswith("head (Sequential)") and "add[0][0]" in line for line in lines)
    assert any(line.startswith("a (InputLayer)") for line in lines)
    assert "Total params: 23" in text and "Trainable params: 23" in text


def test_onnx_export_of_a_functional_graph(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from aiaas_core.onnx_export import export_onnx

    keras.utils.set_random_seed(8)
    img, tab = keras.Input((8, 8, 1), name="img"), keras.Input((5,), name="tab")
    h = L.Flatten()(L.MaxPooling2D()(L.Conv2D(3, 3, padding="same", activation="relu")(img)))
    shared = L.Dense(6, activation="tanh")
    z = ops.concatenate([shared(L.Dense(5)(h)), shared(tab)], axis=-1) * 2.0 - 1.0
    z = ops.mean(ops.reshape(z, (-1, 3, 4)), axis=1)
    head = keras.Sequential([keras.Input((4,)), L.Dense(3), L.BatchNormalization()])
    model = keras.Model({"img": img, "tab": tab},
                        {"p": L.Dense(2, activation="softmax")(head(z)), "s": ops.sum(z, axis=-1, keepdims=True)})
    model.compile("adam", {"p": "sparse_categorical_crossentropy", "s": "mse"})
    rng = np.random.default_rng(0)
    x = {"img": rng.random((16, 8, 8, 1), np.float32), "tab": rng.random((16, 5), np.float32)}
    model.fit(x, {"p": rng.integers(0, 2, 16), "s": rng.random((16, 1), np.float32)}, epochs=1, verbose=0)
    export_onnx(model, tmp_path / "f.onnx")
    sess = ort.InferenceSession(str(tmp_path / "f.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["img", "tab"]
    want = model.predict(x, verbose=0)
    for out, got in zip(sess.get_outputs(), sess.run(None, x)):
        np.testing.assert_allclose(got, want[out.name], atol=1e-4, rtol=1e-4)

    ids = keras.Input((None,), dtype="int32")
    seq_model = keras.Model(ids, L.Dense(1)(ops.mean(L.Embedding(20, 4)(ids), axis=1)))
    export_onnx(seq_model, tmp_path / "s.onnx")
    sess = ort.InferenceSession(str(tmp_path / "s.onnx"), providers=["CPUExecutionProvider"])
    for length in (3, 9):  # the None dimension stays dynamic
        x_ids = rng.integers(0, 20, (4, length)).astype(np.int32)
        np.testing.assert_allclose(sess.run(["output"], {"input": x_ids})[0], seq_model.predict(x_ids, verbose=0),
                                   atol=1e-4)

    inp = keras.Input((4,))
    with pytest.raises(NotImplementedError, match="op 'sort'"):
        export_onnx(keras.Model(inp, ops.sort(inp)), tmp_path / "x.onnx")
    with pytest.raises(NotImplementedError, match="'scale' of type Scale"):
        export_onnx(keras.Model(inp, Scale(name="scale")(inp)), tmp_path / "y.onnx")


def test_frozen_parts_stay_frozen_and_checkpoints_save_whole_models(tmp_path):
    keras.utils.set_random_seed(9)
    features = keras.Sequential([keras.Input((3,)), L.Dense(4)], name="features")
    features.trainable = False
    inner_in = keras.Input((3,))
    inner = keras.Model(inner_in, L.Dense(2)(inner_in), name="inner")
    inner.trainable = False
    x = keras.Input((3,), name="x")
    model = keras.Model(x, L.Dense(1, name="head")(ops.concatenate([features(x), inner(x), L.Dense(3, trainable=False)(x)])))
    loaded = keras.models.model_from_json(model.to_json())
    assert loaded.get_config() == model.get_config()
    assert [w.name for w in loaded.trainable_weights] == [w.name for w in model.trainable_weights] == ["kernel", "bias"]
    model.compile("adam", "mse")
    path = tmp_path / "best.keras"
    data = np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32)
    frozen = features.get_weights() + inner.get_weights()
    model.fit(data, data[:, :1], epochs=2, verbose=0, callbacks=[keras.callbacks.ModelCheckpoint(path, monitor="loss")])
    for before, after in zip(frozen, features.get_weights() + inner.get_weights()):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(tf.load_model(path).predict(data, verbose=0), model.predict(data, verbose=0))


@pytest.mark.parametrize("op, args", [
    ("concat", [[{"class_name": "__keras_tensor__", "config": {"shape": [None, 3], "dtype": "float32",
                                                              "keras_history": ["x", 0, 0]}}] * 5000]),
    ("getitem", [{"class_name": "__keras_tensor__", "config": {"shape": [None, 3], "dtype": "float32",
                                                               "keras_history": ["x", 0, 0]}},
                 {"class_name": "__tuple__", "config": {"value": [{"class_name": "__slice__", "config": {
                     "start": None, "stop": None, "step": None}}, [0] * 200000]}}]),
])
def test_configs_repeating_a_tensor_are_bounded_too(op, args, monkeypatch):
    from aiaas_core.keras.engine import functional_config as fc

    monkeypatch.setattr(fc, "MAX_PROBE_ELEMENTS", 20_000)  # small, so the test allocates little either way
    cfg = _base_config()
    add = _entry(cfg, "add")
    add["config"]["op"] = op
    add["inbound_nodes"][0] = {"args": args, "kwargs": {}}
    with pytest.raises(ValueError, match=rf"inbound node 0 \({op}\).*at most 20,000"):
        functional_from_config(cfg)
    # the same ops within bounds load and run
    add["inbound_nodes"][0]["args"] = [args[0][:3]] if op == "concat" else [args[0], {"class_name": "__tuple__",
                                        "config": {"value": [{"class_name": "__slice__", "config": {
                                            "start": None, "stop": None, "step": None}}, [0, 1, 2]]}}]
    _entry(cfg, "d")["inbound_nodes"][0]["args"][0]["config"]["shape"] = [None, 9 if op == "concat" else 3]
    model = functional_from_config(cfg)
    assert model.predict(np.ones((2, 3), np.float32), verbose=0).shape == (2, 2)


def test_register_without_parentheses_says_how():
    with pytest.raises(TypeError, match=r"@register_keras_serializable\(\)"):
        keras.saving.register_keras_serializable(Scale)


def test_tensorflow_spellings_save_load_and_export(tmp_path):
    """tf.reduce_mean, tf.concat, tf.nn.relu, indexing with tf.newaxis... between layers: saved by
    their TensorFlow name, reloaded identically, exported to ONNX."""
    ort = pytest.importorskip("onnxruntime")
    from aiaas_core.onnx_export import export_onnx

    keras.utils.set_random_seed(10)
    seq = keras.Input((6, 3), name="seq")
    pooled = tf.reduce_mean(seq, axis=1)
    feats = tf.concat([pooled, tf.square(pooled), tf.math.log(tf.abs(pooled) + 1.0)], axis=-1)
    hidden = tf.nn.relu(L.Dense(4)(feats))
    out = hidden[:, 0:2] + tf.reduce_sum(seq[:, -1], axis=-1)[:, tf.newaxis]
    model = keras.Model(seq, out)
    cfg = model.get_config()
    ops_used = {e["name"]: e["config"]["op"] for e in cfg["layers"] if e["class_name"] == "Operation"}
    assert ops_used["reduce_mean"] == "tf.reduce_mean" and ops_used["log"] == "tf.math.log"
    assert ops_used["relu"] == "tf.nn.relu" and ops_used["concat"] == "tf.concat"
    x = np.random.default_rng(0).random((5, 6, 3), np.float32)
    model.save(tmp_path / "tf.keras")
    loaded = tf.load_model(tmp_path / "tf.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.get_config() == cfg
    export_onnx(model, tmp_path / "tf.onnx")
    sess = ort.InferenceSession(str(tmp_path / "tf.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(["output"], {"input": x})[0], model.predict(x, verbose=0), atol=1e-4)
