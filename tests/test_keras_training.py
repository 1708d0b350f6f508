"""Training: real data reaches real accuracy; model-level gradients vs finite differences;
optimizers vs numpy references; Sequential and subclassed models agree; reproducibility."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits

import aiaas_core as tf
from aiaas_core import keras
from aiaas_core.keras import layers


def _digits():
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    order = np.random.default_rng(0).permutation(len(x))  # the file is ordered by writer: mix it
    x, y = x[order], y[order]
    return x[:1400], y[:1400], x[1400:], y[1400:]


def test_digits_mlp_reaches_90_percent():
    keras.utils.set_random_seed(0)
    xtr, ytr, xte, yte = _digits()
    model = keras.Sequential([keras.Input((64,)), layers.Dense(64, activation="relu"),
                              layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(xtr, ytr, epochs=8, batch_size=32, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0] * 0.5
    loss, acc = model.evaluate(xte, yte, verbose=0)
    assert acc >= 0.9, acc
    pred = model.predict(xte, verbose=0)
    assert pred.shape == (len(xte), 10)
    np.testing.assert_allclose(pred.sum(1), 1.0, rtol=1e-5)
    assert abs((pred.argmax(1) == yte).mean() - acc) < 1e-9


def test_breast_cancer_logistic_regression_with_categorical_onehot_and_rmsprop():
    keras.utils.set_random_seed(1)
    x, y = load_breast_cancer(return_X_y=True)
    x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
    model = keras.Sequential([layers.Dense(2, activation="softmax", input_shape=(30,))])
    model.compile(optimizer=keras.optimizers.RMSprop(0.01), loss="categorical_crossentropy", metrics=["acc", "mse"])
    hist = model.fit(x[:450], keras.utils.to_categorical(y[:450]), epochs=5, verbose=0,
                     validation_data=(x[450:], keras.utils.to_categorical(y[450:], 2)))
    assert set(hist.history) == {"loss", "acc", "mse", "val_loss", "val_acc", "val_mse"}
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert hist.history["val_acc"][-1] >= 0.9


def _load_mnist(mnist_dir, n):
    with gzip.open(mnist_dir / "t10k-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)
    with gzip.open(mnist_dir / "t10k-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return images[:n].astype(np.float32) / 255.0, labels[:n]


def test_mnist_small_convnet_learns(mnist_dir):
    keras.utils.set_random_seed(2)
    x, y = _load_mnist(mnist_dir, 2500)
    model = keras.Sequential([
        keras.Input((28, 28, 1)), layers.Conv2D(8, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Flatten(), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:2000], y[:2000], epochs=2, batch_size=32, verbose=0)
    _, acc = model.evaluate(x[2000:], y[2000:], verbose=0)
    assert acc >= 0.8, acc


# ---- whole-model gradients vs finite differences of a float64 reference ---------------------------
def _grads_via_sgd(model, x, y):
    """SGD with lr=1 and no momentum: weights_before - weights_after is the gradient."""
    before = [w.copy() for w in model.get_weights()]
    model.train_on_batch(x, y)
    after = model.get_weights()
    for w, b in zip(model.weights, before):
        w.assign(b)
    return [b.astype(np.float64) - a for b, a in zip(before, after)]


def _numeric(loss_fn, weights, h=1e-5):
    out = []
    for i, w in enumerate(weights):
        g = np.zeros_like(w)
        for idx in np.ndindex(w.shape):
            wp = [v.copy() for v in weights]
            wp[i][idx] += h
            lp = loss_fn(wp)
            wp[i][idx] -= 2 * h
            g[idx] = (lp - loss_fn(wp)) / (2 * h)
        out.append(g)
    return out


@pytest.mark.parametrize("loss,act", [("sparse_categorical_crossentropy", "softmax"),
                                      ("categorical_crossentropy", "softmax"),
                                      ("binary_crossentropy", "sigmoid"), ("mse", "tanh"), ("mae", "linear")])
def test_model_gradient_matches_finite_differences(loss, act):
    rng = np.random.default_rng(7)
    units = 1 if loss == "binary_crossentropy" else 3
    model = keras.Sequential([layers.Dense(4, activation="tanh", input_dim=5), layers.Dense(units, activation=act)])
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss=loss)
    x = rng.standard_normal((6, 5))
    if loss == "sparse_categorical_crossentropy":
        y = rng.integers(0, 3, 6)
    elif loss == "categorical_crossentropy":
        y = np.eye(3)[rng.integers(0, 3, 6)]
    elif loss == "binary_crossentropy":
        y = rng.integers(0, 2, (6, 1)).astype(float)
    else:
        y = rng.standard_normal((6, units))

    def ref_loss(ws):
        w1, b1, w2, b2 = ws
        z = np.tanh(x @ w1 + b1) @ w2 + b2
        if loss == "sparse_categorical_crossentropy":
            lse = np.log(np.exp(z).sum(1))
            return float((lse - z[np.arange(6), y]).mean())
        if loss == "categorical_crossentropy":
            return float((np.log(np.exp(z).sum(1)) - (z * y).sum(1)).mean())
        if loss == "binary_crossentropy":
            p = 1 / (1 + np.exp(-z))
            return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
        pred = np.tanh(z) if act == "tanh" else z
        return float(((pred - y) ** 2).mean() if loss == "mse" else np.abs(pred - y).mean())

    got = _grads_via_sgd(model, x, y)
    want = _numeric(ref_loss, [w.astype(np.float64) for w in model.get_weights()])
    for g, n in zip(got, want):
        np.testing.assert_allclose(g, n, atol=2e-5 + 2e-3 * np.abs(n).max(), rtol=0)


class _ConvPoolNet(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = layers.Conv2D(2, 2, activation="relu")
        self.pool = layers.AveragePooling2D(2)
        self.flat = layers.Flatten()
        self.out = layers.Dense(3, activation="softmax")

    def call(self, x):
        return self.out(self.flat(self.pool(self.conv(x))))


def test_subclassed_model_gradient_matches_finite_differences():
    from test_keras_layers import ref_conv2d, ref_pool
    rng = np.random.default_rng(8)
    model = _ConvPoolNet()
    x = rng.standard_normal((3, 5, 5, 1))
    y = rng.integers(0, 3, 3)
    model(x.astype(np.float32))
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="sparse_categorical_crossentropy")

    def ref_loss(ws):
        k, b, w, c = ws
        h = ref_pool(ref_conv2d(x, k, b, (1, 1), "valid", "relu"), (2, 2), (2, 2), "valid", "avg")
        z = h.reshape(3, -1) @ w + c
        return float((np.log(np.exp(z).sum(1)) - z[np.arange(3), y]).mean())

    got = _grads_via_sgd(model, x, y)
    want = _numeric(ref_loss, [w.astype(np.float64) for w in model.get_weights()])
    for g, n in zip(got, want):
        np.testing.assert_allclose(g, n, atol=2e-5 + 2e-3 * np.abs(n).max(), rtol=0)


# ---- Sequential == subclassed ----------------------------------------------------------------
class _MLP(keras.Model):
    def __init__(self):
        super().__init__()
        self.d1 = layers.Dense(16, activation="relu")
        self.drop = layers.Dropout(0.2)
        self.d2 = layers.Dense(10, activation="softmax")

    def call(self, x, training=False):
        return self.d2(self.drop(self.d1(x), training=training))


def test_sequential_and_subclassed_train_identically():
    xtr, ytr, xte, _ = _digits()
    keras.utils.set_random_seed(4)
    seq = keras.Sequential([layers.Dense(16, activation="relu", input_dim=64), layers.Dropout(0.2),
                            layers.Dense(10, activation="softmax")])
    sub = _MLP()
    sub(xtr[:1])
    sub.set_weights(seq.get_weights())
    np.testing.assert_array_equal(sub.predict(xte, verbose=0), seq.predict(xte, verbose=0))
    results = []
    for model in (seq, sub):
        keras.utils.set_random_seed(9)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        h = model.fit(xtr[:300], ytr[:300], epochs=2, batch_size=32, verbose=0)
        results.append((h.history, model.get_weights(), model.predict(xte, verbose=0)))
    assert results[0][0] == results[1][0]
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(results[0][2], results[1][2])


def test_set_random_seed_makes_fit_reproducible():
    xtr, ytr, _, _ = _digits()
    outs = []
    for _ in range(2):
        keras.utils.set_random_seed(11)
        m = keras.Sequential([layers.Dense(8, activation="relu", input_dim=64), layers.Dropout(0.5),
                              layers.Dense(10, activation="softmax")])
        m.compile("adam", "sparse_categorical_crossentropy")
        outs.append(m.fit(xtr[:200], ytr[:200], epochs=2, verbose=0).history["loss"])
    assert outs[0] == outs[1]


# ---- optimizers vs numpy references (Keras 3 formulas) ---------------------------------------------
def _run_optimizer(opt, p0, grads):
    p = tf.keras.variables.Variable(p0.copy(), "p")
    for g in grads:
        opt.apply_gradients([(g, p)])
    return p.numpy()


def test_adam_matches_keras_formula():
    rng = np.random.default_rng(0)
    p0, grads = rng.standard_normal(5).astype(np.float32), [rng.standard_normal(5).astype(np.float32) for _ in range(3)]
    got = _run_optimizer(keras.optimizers.Adam(0.01), p0, grads)
    p, m, v = p0.astype(np.float64), np.zeros(5), np.zeros(5)
    for t, g in enumerate(grads, 1):
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        lr_t = 0.01 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        p = p - lr_t * m / (np.sqrt(v) + 1e-7)
    np.testing.assert_allclose(got, p, rtol=1e-6, atol=1e-7)


def test_adamw_decays_then_adam():
    rng = np.random.default_rng(1)
    p0, grads = rng.standard_normal(4).astype(np.float32), [rng.standard_normal(4).astype(np.float32) for _ in range(2)]
    got = _run_optimizer(keras.optimizers.AdamW(0.01, weight_decay=0.1), p0, grads)
    p, m, v = p0.astype(np.float64), np.zeros(4), np.zeros(4)
    for t, g in enumerate(grads, 1):
        p = p - 0.01 * 0.1 * p
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        p = p - 0.01 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * m / (np.sqrt(v) + 1e-7)
    np.testing.assert_allclose(got, p, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_matches_keras_formula(momentum, nesterov):
    rng = np.random.default_rng(2)
    p0, grads = rng.standard_normal(4).astype(np.float32), [rng.standard_normal(4).astype(np.float32) for _ in range(3)]
    got = _run_optimizer(keras.optimizers.SGD(0.1, momentum=momentum, nesterov=nesterov), p0, grads)
    p, vel = p0.astype(np.float64), np.zeros(4)
    for g in grads:
        vel = momentum * vel - 0.1 * g
        p = p + (momentum * vel - 0.1 * g if nesterov else vel)
    np.testing.assert_allclose(got, p, rtol=1e-6, atol=1e-7)


def test_rmsprop_matches_keras_formula():
    rng = np.random.default_rng(3)
    p0, grads = rng.standard_normal(4).astype(np.float32), [rng.standard_normal(4).astype(np.float32) for _ in range(3)]
    got = _run_optimizer(keras.optimizers.RMSprop(0.01), p0, grads)
    p, ms = p0.astype(np.float64), np.zeros(4)
    for g in grads:
        ms = 0.9 * ms + 0.1 * g * g
        p = p - 0.01 * g / (np.sqrt(ms) + 1e-7)
    np.testing.assert_allclose(got, p, rtol=1e-5, atol=1e-7)


def test_clipnorm_and_clipvalue():
    g = np.array([3.0, 4.0], np.float32)
    got = _run_optimizer(keras.optimizers.SGD(1.0, clipnorm=1.0), np.zeros(2, np.float32), [g])
    np.testing.assert_allclose(got, [-0.6, -0.8], rtol=1e-6)
    got = _run_optimizer(keras.optimizers.SGD(1.0, clipvalue=3.5), np.zeros(2, np.float32), [g])
    np.testing.assert_allclose(got, [-3.0, -3.5], rtol=1e-6)
    model = keras.Sequential([layers.Dense(1, input_dim=2)])
    model.compile(keras.optimizers.SGD(1.0, global_clipnorm=0.01), "mse")
    before = model.get_weights()
    model.train_on_batch(np.full((4, 2), 100.0), np.full((4, 1), -100.0))
    delta = np.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(before, model.get_weights())))
    assert abs(delta - 0.01) < 1e-5


def test_compile_accepts_objects_and_resolves_accuracy_from_loss():
    xtr, ytr, _, _ = _digits()
    model = keras.Sequential([layers.Dense(10, activation="softmax", input_dim=64)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
    model.fit(xtr[:64], ytr[:64], verbose=0)
    assert isinstance(model.compiled_metrics[0], keras.metrics.SparseCategoricalAccuracy)
    logits = keras.Sequential([layers.Dense(1, input_dim=3)])
    logits.compile("sgd", keras.losses.BinaryCrossentropy(from_logits=True), metrics=["acc"])
    x = np.random.default_rng(0).standard_normal((16, 3))
    out = logits.evaluate(x, (x[:, 0] > 0).astype(float), verbose=0)
    z = logits.predict(x, verbose=0)[:, 0]
    yb = (x[:, 0] > 0).astype(float)
    want = np.mean(np.maximum(z, 0) - z * yb + np.log1p(np.exp(-np.abs(z))))
    assert abs(out[0] - want) < 1e-5
    assert isinstance(logits.compiled_metrics[0], keras.metrics.BinaryAccuracy)


def test_evaluate_predict_and_batch_methods():
    xtr, ytr, xte, yte = _digits()
    model = keras.Sequential([layers.Dense(10, activation="softmax", input_dim=64)])
    model.compile("adam", "sparse_categorical_crossentropy")
    loss = model.evaluate(xte, yte, verbose=0)
    assert isinstance(loss, float)
    p = model.predict(xte, verbose=0)
    want = -np.log(p[np.arange(len(yte)), yte]).mean()
    assert abs(loss - want) < 1e-5
    one = model.predict(xte[:1], verbose=0)
    np.testing.assert_allclose(one, p[:1], rtol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch(xte[:5]), p[:5], rtol=1e-6)
    assert abs(model.test_on_batch(xte, yte) - loss) < 1e-6
    l1 = model.train_on_batch(xtr[:32], ytr[:32])
    assert isinstance(l1, float) and model.optimizer.iterations == 1
    np.testing.assert_array_equal(model.predict(xte, batch_size=7, verbose=0), model.predict(xte, batch_size=500, verbose=0))


def test_validation_split_takes_the_last_samples():
    xtr, ytr, _, _ = _digits()
    model = keras.Sequential([layers.Dense(10, activation="softmax", input_dim=64)])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    h = model.fit(xtr[:100], ytr[:100], validation_split=0.2, epochs=1, verbose=0)
    val_loss, val_acc = model.evaluate(xtr[80:100], ytr[80:100], verbose=0)
    assert abs(h.history["val_loss"][0] - val_loss) < 1e-6
    assert abs(h.history["val_accuracy"][0] - val_acc) < 1e-9


def test_rnn_models_train_on_a_sequence_task():
    keras.utils.set_random_seed(5)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((256, 6, 1)).astype(np.float32)
    y = (x.sum(axis=(1, 2)) > 0).astype(np.float32)
    for rnn in (layers.LSTM(8), layers.GRU(8), layers.SimpleRNN(8)):
        model = keras.Sequential([keras.Input((6, 1)), rnn, layers.Dense(1, activation="sigmoid")])
        model.compile(keras.optimizers.Adam(0.02), "binary_crossentropy", metrics=["accuracy"])
        h = model.fit(x, y, epochs=8, verbose=0)
        assert h.history["accuracy"][-1] >= 0.85, (type(rnn).__name__, h.history)


def test_embedding_and_batchnorm_train():
    keras.utils.set_random_seed(6)
    rng = np.random.default_rng(6)
    ids = rng.integers(0, 20, (300, 5))
    y = (ids % 2).sum(1) >= 3
    model = keras.Sequential([layers.Embedding(20, 4, input_length=5), layers.Flatten(),
                              layers.BatchNormalization(), layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy", metrics=["accuracy"])
    h = model.fit(ids, y.astype(float), epochs=10, verbose=0)
    assert h.history["accuracy"][-1] >= 0.9
    bn = model.layers[2]
    assert not np.allclose(bn.moving_mean.numpy(), 0)


def test_verbose_modes_print(capsys):
    xtr, ytr, _, _ = _digits()
    model = keras.Sequential([layers.Dense(10, activation="softmax", input_dim=64)])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(xtr[:64], ytr[:64], epochs=2, verbose=0)
    assert capsys.readouterr().out == ""
    model.fit(xtr[:64], ytr[:64], epochs=2, verbose=2)
    lines = [l for l in capsys.readouterr().out.splitlines() if l.strip()]
    assert len(lines) == 2 and lines[0].startswith("Epoch 1/2") and "loss:" in lines[0] and "accuracy:" in lines[0]
    model.fit(xtr[:64], ytr[:64], epochs=1, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/1" in out and "2/2" in out and "loss" in out


def test_summary_lists_layers_and_params():
    lines = []
    model = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(4, 3), layers.Flatten(), layers.Dense(2)])
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "(None, 6, 6, 4)" in text and "(None, 144)" in text
    assert f"Total params: {4 * 9 + 4 + 144 * 2 + 2:,}" in text
    sub = _ConvPoolNet()
    sub(np.zeros((1, 5, 5, 1), np.float32))
    lines.clear()
    sub.summary(print_fn=lines.append)
    assert any("(None, 4, 4, 2)" in l for l in lines) and any("Total params: 37" in l for l in lines)  # conv 2*2*1*2+2, dense 8*3+3


def test_training_state_is_per_thread():
    """A thread predicting while another is inside a training step must run in inference mode."""
    import threading

    from aiaas_core.keras import backend
    model = _MLP()
    x = _digits()[2][:8]
    want = model(x)  # inference: dropout off
    got = {}
    backend.state.training = True  # this thread is now "training" (as inside fit's step)
    try:
        assert model(x) is not None and not np.array_equal(model(x), want)  # dropout active here
        t = threading.Thread(target=lambda: got.setdefault("y", model(x)))
        t.start()
        t.join()
    finally:
        backend.state.training = False
    np.testing.assert_array_equal(got["y"], want)


class _AutoencoderOfSequentials(keras.Model):
    def __init__(self):
        super().__init__()
        self.encoder = keras.Sequential([layers.Dense(4, activation="relu"), layers.Dense(2, activation="relu")])
        self.decoder = keras.Sequential([layers.Dense(4, activation="relu"), layers.Dense(8, activation="sigmoid")])

    def call(self, x):
        return self.decoder(self.encoder(x))


def test_nested_sequentials_inside_a_subclassed_model_train_and_summarize(tmp_path):
    keras.utils.set_random_seed(12)
    x = np.random.default_rng(12).random((64, 8)).astype(np.float32)
    model = _AutoencoderOfSequentials()
    model.compile(keras.optimizers.Adam(0.01), "mse")
    hist = model.fit(x, x, epochs=10, batch_size=16, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert [n for n, _ in model.named_weights()][:2] == ["encoder.layers.0.kernel", "encoder.layers.0.bias"]
    lines = []
    model.summary(print_fn=lines.append)
    assert any("(Sequential)" in l and "(None, 2)" in l for l in lines)
    assert any(f"Total params: {8 * 4 + 4 + 4 * 2 + 2 + 2 * 4 + 4 + 4 * 8 + 8}" in l for l in lines)
    model.save_weights(tmp_path / "ae.safetensors")
    other = _AutoencoderOfSequentials()
    other(x[:1])
    other.load_weights(tmp_path / "ae.safetensors")
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))


def test_frozen_layers_are_not_updated_and_unfreezing_works():
    xtr, ytr, _, _ = _digits()
    model = keras.Sequential([layers.Dense(8, activation="relu", input_dim=64), layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(xtr[:64], ytr[:64], verbose=0)
    model.layers[0].trainable = False
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2
    frozen, head = model.layers[0].get_weights(), model.layers[1].get_weights()
    model.fit(xtr[:64], ytr[:64], verbose=0)
    for a, b in zip(frozen, model.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(head[0], model.layers[1].get_weights()[0])
    model.layers[0].trainable = True
    model.fit(xtr[:64], ytr[:64], verbose=0)
    assert not np.array_equal(frozen[0], model.layers[0].get_weights()[0])
