"""export_onnx: onnxruntime must reproduce model.predict to 1e-4 for every supported layer kind."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

ort = pytest.importorskip("onnxruntime")

from aiaas_core import keras
from aiaas_core.keras import layers as L
from aiaas_core.onnx_export import export_onnx


def run_onnx(path, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(["output"], {"input": x})[0]


def assert_matches(model, x, tmp_path, name="m.onnx"):
    path = tmp_path / name
    proto = export_onnx(model, path)
    assert proto.opset_import[0].version == 17
    onnx.checker.check_model(onnx.load(str(path)))
    expected = model.predict(x, verbose=0)
    got = run_onnx(path, x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)
    return got


def randn(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid", "tanh", "softmax", "leaky_relu", "elu", "gelu"])
def test_dense_with_each_activation(tmp_path, activation):
    keras.set_random_seed(1)
    model = keras.Sequential([L.Dense(7, activation=activation, input_shape=(5,)), L.Dense(3)])
    assert_matches(model, randn(4, 5), tmp_path)


def test_activation_layer_dropout_and_dense_without_bias(tmp_path):
    keras.set_random_seed(2)
    model = keras.Sequential([
        keras.Input(shape=(6,)), L.Dense(8, use_bias=False), L.Activation("relu"), L.Dropout(0.5),
        L.Dense(2), L.Activation("softmax"),
    ])
    got = assert_matches(model, randn(9, 6), tmp_path)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv_pool_flatten_dense_channels_last(tmp_path, padding):
    keras.set_random_seed(3)
    model = keras.Sequential([
        L.Conv2D(4, (3, 3), activation="relu", padding=padding, input_shape=(12, 11, 2)),
        L.MaxPooling2D((2, 2), padding=padding),
        L.Conv2D(5, (2, 3), strides=(2, 1), padding=padding),
        L.AveragePooling2D((2, 2), strides=(1, 1), padding=padding),
        L.Flatten(),  # must flatten in NHWC order, like Keras, or the Dense weights would not match
        L.Dense(3, activation="softmax"),
    ])
    assert_matches(model, randn(3, 12, 11, 2), tmp_path)


def test_seed_convnet_shape_as_sequential(tmp_path):
    keras.set_random_seed(4)
    model = keras.Sequential([
        L.Conv2D(8, (3, 3), activation="relu", input_shape=(12, 12, 1)), L.Conv2D(6, (3, 3), activation="relu"),
        L.Flatten(), L.Dense(16, activation="relu"), L.Dense(10, activation="softmax"),
    ])
    assert_matches(model, np.random.default_rng(0).random((5, 12, 12, 1), dtype=np.float32), tmp_path)


def test_conv_output_stays_channels_last(tmp_path):
    keras.set_random_seed(5)
    model = keras.Sequential([L.Conv2D(3, 3, padding="same", input_shape=(6, 5, 2)), L.MaxPooling2D(2)])
    got = assert_matches(model, randn(2, 6, 5, 2), tmp_path)
    assert got.shape == (2, 3, 2, 3)


def test_conv_softmax_is_over_channels(tmp_path):
    keras.set_random_seed(11)
    model = keras.Sequential([L.Conv2D(4, 3, activation="softmax", input_shape=(5, 5, 2))])
    got = assert_matches(model, randn(2, 5, 5, 2), tmp_path)
    np.testing.assert_allclose(got.sum(axis=-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("return_sequences", [True, False])
def test_lstm_gate_order_and_both_output_modes(tmp_path, return_sequences):
    keras.set_random_seed(6)
    lstm = L.LSTM(6, return_sequences=return_sequences, input_shape=(7, 3))
    head = [L.Dense(1, activation="sigmoid")]
    model = keras.Sequential([lstm] + head)
    # Distinct gate biases so a gate-order mistake cannot cancel out.
    w = lstm.get_weights()
    w[2] = np.linspace(-1, 1, w[2].size).astype(np.float32)
    lstm.set_weights(w)
    got = assert_matches(model, randn(4, 7, 3), tmp_path)
    assert got.shape == ((4, 7, 1) if return_sequences else (4, 1))


def test_seed_rnn_relu_lstm_stack(tmp_path):
    keras.set_random_seed(7)
    model = keras.Sequential([
        L.LSTM(8, activation="relu", return_sequences=True, input_shape=(10, 1)),
        L.LSTM(5), L.Dense(2, activation="softmax"),
    ])
    assert_matches(model, randn(3, 10, 1), tmp_path)


def test_gru_and_simple_rnn(tmp_path):
    keras.set_random_seed(8)
    model = keras.Sequential([
        L.GRU(6, return_sequences=True, input_shape=(5, 4)), L.SimpleRNN(3, activation="relu"), L.Dense(2),
    ])
    gru = model.layers[0]
    w = gru.get_weights()
    w[2] = np.random.default_rng(1).normal(size=w[2].shape).astype(np.float32)  # input and recurrent biases differ
    gru.set_weights(w)
    assert_matches(model, randn(3, 5, 4), tmp_path)


def test_reshape_then_conv(tmp_path):
    keras.set_random_seed(9)
    model = keras.Sequential([L.Dense(32, input_shape=(6,)), L.Reshape((4, 4, 2)), L.Conv2D(2, 2), L.Flatten()])
    assert_matches(model, randn(3, 6), tmp_path)


def test_batch_axis_is_dynamic(tmp_path):
    keras.set_random_seed(10)
    model = keras.Sequential([L.Dense(3, input_shape=(4,))])
    path = tmp_path / "m.onnx"
    export_onnx(model, path)
    for n in (1, 17):
        x = randn(n, 4, seed=n)
        np.testing.assert_allclose(run_onnx(path, x), model.predict(x, verbose=0), atol=1e-5)


class Doubler(L.Layer):  # a user layer with its own forward: nothing the exporter can translate
    def forward(self, x, training):
        return x * 2.0, None


def test_unsupported_layer_is_a_clear_error(tmp_path):
    model = keras.Sequential([L.Dense(4, input_shape=(3,)), Doubler()])
    with pytest.raises(NotImplementedError, match="Doubler.*not supported"):
        export_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def _trained_batchnorm(model, x):
    """Fit a little so the moving statistics are not the initial 0 / 1."""
    model.compile("sgd", "mse")
    model.fit(x, np.zeros((len(x),) + model.output_shape[1:], np.float32), epochs=2, batch_size=4, verbose=0)
    mm = [l for l in model.layers if isinstance(l, L.BatchNormalization)][0]
    assert not np.allclose(mm.get_weights()[-2], 0.0)
    return model


def test_batchnorm_after_dense_and_inside_a_conv_stack(tmp_path):
    keras.set_random_seed(8)
    x = randn(12, 5, seed=1) * 3 + 1
    dense = _trained_batchnorm(keras.Sequential([L.Dense(4, input_shape=(5,)), L.BatchNormalization(),
                                                 L.Activation("relu"), L.Dense(2)]), x)
    assert_matches(dense, x, tmp_path, "dense.onnx")
    img = randn(8, 6, 6, 2, seed=2) * 2 + 0.5
    conv = _trained_batchnorm(keras.Sequential([
        L.Conv2D(3, 3, input_shape=(6, 6, 2)), L.BatchNormalization(center=False), L.MaxPooling2D(),
        L.BatchNormalization(scale=False), L.Flatten(), L.Dense(2)]), img)
    assert_matches(conv, img, tmp_path, "conv.onnx")


def test_embedding_lstm_text_model(tmp_path):
    keras.set_random_seed(9)
    model = keras.Sequential([L.Embedding(20, 4, input_length=7), L.LSTM(5), L.Dense(1, activation="sigmoid")])
    ids = np.random.default_rng(3).integers(0, 20, (6, 7)).astype(np.float32)
    assert_matches(model, ids, tmp_path)


class SeedConvNet(keras.Model):  # seed 000's ConvNet, smaller
    def __init__(self):
        super().__init__()
        self.conv1 = L.Conv2D(4, (3, 3), activation="relu", input_shape=(10, 10, 1))
        self.pool = L.MaxPooling2D()
        self.flatten = L.Flatten()
        self.drop = L.Dropout(0.5)
        self.dense = L.Dense(3, activation="softmax")

    def call(self, x):
        return self.dense(self.drop(self.flatten(self.pool(self.conv1(x)))))


class SeedRNN(keras.Model):  # seed 000's RNN
    def __init__(self):
        super().__init__()
        self.lstm = L.LSTM(6, activation="relu", return_sequences=True, input_shape=(5, 2))
        self.dense = L.Dense(1, activation="sigmoid")

    def call(self, x):
        x = self.lstm(x)
        x = self.dense(x)
        return x


class Encoder(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = L.Dense(4, activation="relu")

    def call(self, x):
        return self.hidden(x)


class NestedAutoencoder(keras.Model):  # a nested model and a Sequential inside: still one chain
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.decoder = keras.Sequential([L.Dense(6), L.Activation("sigmoid")])

    def call(self, x):
        return self.decoder(self.encoder(x))


@pytest.mark.parametrize("cls,shape", [(SeedConvNet, (10, 10, 1)), (SeedRNN, (5, 2)), (NestedAutoencoder, (6,))])
def test_subclassed_model_whose_call_is_a_chain_exports(tmp_path, cls, shape):
    keras.set_random_seed(4)
    model = cls()
    x = randn(3, *shape, seed=5)
    model(x[:1])
    assert_matches(model, x, tmp_path)


class Residual(keras.Model):
    def __init__(self):
        super().__init__()
        self.d = L.Dense(3)

    def call(self, x):
        return x + self.d(x)


class Scaled(keras.Model):
    def __init__(self):
        super().__init__()
        self.a, self.b = L.Dense(3), L.Dense(2)

    def call(self, x):
        return self.b(self.a(x) * 2.0)


@pytest.mark.parametrize("cls,match", [
    (Residual, "does not return the output of its last layer"),
    (Scaled, "not a straight chain.*'dense_?\\d*' does not take the output of"),
])
def test_subclassed_model_that_is_not_a_chain_is_rejected(tmp_path, cls, match):
    net = cls()
    net(np.ones((1, 3), np.float32))
    with pytest.raises(NotImplementedError, match=match):
        export_onnx(net, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
    with pytest.raises(ValueError, match="not built yet"):
        export_onnx(cls(), tmp_path / "m.onnx")


def test_unbuilt_model_needs_input_shape(tmp_path):
    model = keras.Sequential([L.Dense(2)])
    with pytest.raises(ValueError, match="input shape is unknown"):
        export_onnx(model, tmp_path / "m.onnx")
    with pytest.raises(TypeError, match="path"):
        export_onnx(keras.Sequential([L.Dense(2, input_shape=(3,))]), 42)


def test_export_after_save_and_load_model(tmp_path):
    keras.set_random_seed(12)
    model = keras.Sequential([L.Conv2D(3, 3, activation="relu", input_shape=(6, 6, 1)), L.Flatten(), L.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.save(tmp_path / "m.zip")
    loaded = keras.load_model(tmp_path / "m.zip")
    x = randn(3, 6, 6, 1)
    got = assert_matches(loaded, x, tmp_path)
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=1e-4)


def test_activation_layer_classes_export(tmp_path):
    # LeakyReLU(negative_slope=0.0) must export slope 0, not fall back to a default
    keras.set_random_seed(2)
    model = keras.Sequential([L.Dense(6, input_shape=(4,)), L.ReLU(), L.Dense(6), L.LeakyReLU(0.0), L.Dense(6),
                              L.LeakyReLU(), L.Dense(6), L.ELU(alpha=0.5), L.Dense(5), L.ReLU(negative_slope=0.1),
                              L.Dense(3), L.Softmax()])
    assert_matches(model, randn(16, 4, seed=3) * 3, tmp_path)
