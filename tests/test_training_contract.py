"""Keras 3's training-step contract: fit / evaluate / predict call the model's train_step /
test_step / predict_step; GradientTape loops; custom layers of tensor ops; add_loss; compile without
a loss. Real data: scikit-learn's digits (installed with the [data] extra)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

import aiaas_core as tf
from aiaas_core import keras, ops
from aiaas_core.keras import layers


def _digits():
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    return x[:1400], y[:1400], x[1400:], y[1400:]


class CountingModel(keras.Model):
    """A subclassed model whose steps count their calls and delegate to Keras's defaults."""

    def __init__(self):
        super().__init__()
        self.hidden = layers.Dense(32, activation="relu")
        self.out = layers.Dense(10, activation="softmax")
        self.calls = {"train": 0, "test": 0, "predict": 0}

    def call(self, x):
        return self.out(self.hidden(x))

    def train_step(self, data):
        self.calls["train"] += 1
        logs = super().train_step(data)
        logs["custom"] = 1.0
        return logs

    def test_step(self, data):
        self.calls["test"] += 1
        return super().test_step(data)

    def predict_step(self, data):
        self.calls["predict"] += 1
        return super().predict_step(data)


def test_overridden_steps_are_what_fit_evaluate_and_predict_call():
    keras.utils.set_random_seed(1)
    xtr, ytr, xte, yte = _digits()
    model = CountingModel()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(xtr[:320], ytr[:320], epochs=2, batch_size=32, validation_data=(xte[:64], yte[:64]), verbose=0)
    assert model.calls["train"] == 20  # 10 batches x 2 epochs
    assert model.calls["test"] == 4  # validation: 2 batches x 2 epochs
    assert hist.history["custom"] == [1.0, 1.0]
    assert set(hist.history) == {"loss", "accuracy", "custom", "val_loss", "val_accuracy"}
    model.evaluate(xte[:96], yte[:96], batch_size=32, verbose=0)
    assert model.calls["test"] == 7
    out = model.predict(xte[:70], batch_size=32, verbose=0)
    assert model.calls["predict"] == 3 and out.shape == (70, 10) and type(out) is np.ndarray


def test_overridden_train_step_on_a_sequential_is_called_not_bypassed():
    class Frozen(keras.Sequential):
        def train_step(self, data):
            self.seen = getattr(self, "seen", 0) + 1
            return {"loss": 0.0}  # trains nothing

    model = Frozen([keras.Input((64,)), layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    before = model.get_weights()
    xtr, ytr, _, _ = _digits()
    model.fit(xtr[:64], ytr[:64], batch_size=16, epochs=1, verbose=0)
    assert model.seen == 4
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


class MyTrainer(keras.Model):
    """keras-io's keras_recipes/trainer_pattern.py: a model that trains another one."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.loss_fn = keras.losses.SparseCategoricalCrossentropy()
        self.accuracy_metric = keras.metrics.SparseCategoricalAccuracy()

    @property
    def metrics(self):
        return [self.accuracy_metric]

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self.model(x, training=True)
            loss = self.loss_fn(y, y_pred)
        trainable_vars = self.trainable_variables
        gradients = tape.gradient(loss, trainable_vars)
        self.optimizer.apply_gradients(zip(gradients, trainable_vars))
        for metric in self.metrics:
            metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, y = data
        y_pred = self.model(x, training=False)
        for metric in self.metrics:
            metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}

    def call(self, x):
        return self.model(x)


def test_trainer_pattern_trains_the_inner_model():
    keras.utils.set_random_seed(2)
    xtr, ytr, xte, yte = _digits()
    inner = keras.Sequential([keras.Input((64,)), layers.Dense(64, activation="relu"),
                              layers.Dense(10, activation="softmax")])
    trainer = MyTrainer(inner)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-2))  # no loss: the step computes its own
    hist = trainer.fit(xtr, ytr, epochs=5, batch_size=64, validation_data=(xte, yte), verbose=0)
    assert hist.history["val_sparse_categorical_accuracy"][-1] > 0.9
    acc = (inner.predict(xte, verbose=0).argmax(1) == yte).mean()
    assert acc > 0.9


class Antirectifier(layers.Layer):
    """keras-io's keras_recipes/antirectifier.py: a layer made of tensor ops, with its own weight."""

    def __init__(self, initializer="he_normal", **kwargs):
        super().__init__(**kwargs)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        output_dim = input_shape[-1]
        self.kernel = self.add_weight(shape=(output_dim * 2, output_dim), initializer=self.initializer,
                                      name="kernel", trainable=True)

    def call(self, inputs):
        inputs -= ops.mean(inputs, axis=-1, keepdims=True)
        pos = ops.relu(inputs)
        neg = ops.relu(-inputs)
        concatenated = ops.concatenate([pos, neg], axis=-1)
        return ops.matmul(concatenated, self.kernel)


def test_a_custom_layer_of_tensor_ops_trains_in_a_sequential():
    keras.utils.set_random_seed(3)
    xtr, ytr, xte, yte = _digits()
    model = keras.Sequential([keras.Input((64,)), layers.Dense(64), Antirectifier(), layers.Dense(64),
                              Antirectifier(), layers.Dropout(0.2), layers.Dense(10)])
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  optimizer=keras.optimizers.RMSprop(), metrics=[keras.metrics.SparseCategoricalAccuracy()])
    model.fit(xtr, ytr, batch_size=64, epochs=20, validation_split=0.15, verbose=0)
    _, acc = model.evaluate(xte, yte, verbose=0)
    assert acc > 0.9


def test_custom_layer_gradient_matches_finite_differences():
    keras.utils.set_random_seed(4)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    dense, anti = layers.Dense(6), Antirectifier()
    dense(x), anti(dense(x))

    def loss_value():
        return float(np.sum(np.asarray(anti(dense(x)), np.float64) ** 2))

    with tf.GradientTape() as tape:
        loss = ops.sum(ops.square(anti(dense(x))))
    g_kernel, g_anti = tape.gradient(loss, [dense.kernel, anti.kernel])
    for var, grad in ((dense.kernel, g_kernel), (anti.kernel, g_anti)):
        base = var.numpy()
        for idx in [(0, 0), (2, 3), (var.shape[0] - 1, var.shape[1] - 1)]:
            eps = 1e-2
            up, down = base.copy(), base.copy()
            up[idx] += eps
            down[idx] -= eps
            var.assign(up)
            f_up = loss_value()
            var.assign(down)
            f_down = loss_value()
            var.assign(base)
            fd = (f_up - f_down) / (2 * eps)
            assert abs(float(np.asarray(grad)[idx]) - fd) <= 2e-2 * max(1.0, abs(fd)), (idx, grad[idx], fd)


def test_gradient_tape_loop_equals_fit_exactly():
    """A hand-written tf.GradientTape loop over the same batches gives the weights fit gives."""
    xtr, ytr, _, _ = _digits()
    x, y = xtr[:256], ytr[:256]

    def make():
        keras.utils.set_random_seed(5)
        m = keras.Sequential([keras.Input((64,)), layers.Dense(16, activation="tanh"),
                              layers.Dense(10, activation="softmax")])
        m.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
        return m

    fitted = make()
    fitted.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    looped = make()
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    optimizer = keras.optimizers.SGD(0.1)
    for _ in range(2):
        for s in range(0, 256, 32):
            with tf.GradientTape() as tape:
                pred = looped(x[s:s + 32], training=True)
                loss = loss_fn(y[s:s + 32], pred)
            grads = tape.gradient(loss, looped.trainable_variables)
            optimizer.apply_gradients(zip(grads, looped.trainable_variables))
    for a, b in zip(fitted.get_weights(), looped.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


class Sampling(layers.Layer):
    """keras-io's generative/vae.py: z = mean + exp(log_var / 2) * eps."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch = ops.shape(z_mean)[0]
        dim = ops.shape(z_mean)[1]
        epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss = ops.mean(ops.sum(keras.losses.binary_crossentropy(data, reconstruction), axis=-1))
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {"loss": self.total_loss_tracker.result(),
                "reconstruction_loss": self.reconstruction_loss_tracker.result(),
                "kl_loss": self.kl_loss_tracker.result()}


def test_vae_with_a_custom_train_step_and_functional_encoder_learns():
    keras.utils.set_random_seed(6)
    xtr, _, _, _ = _digits()
    latent_dim = 2
    encoder_inputs = keras.Input(shape=(64,))
    h = layers.Dense(32, activation="relu")(encoder_inputs)
    z_mean = layers.Dense(latent_dim, name="z_mean")(h)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(h)
    z = Sampling()([z_mean, z_log_var])
    encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")
    latent_inputs = keras.Input(shape=(latent_dim,))
    decoded = layers.Dense(64, activation="sigmoid")(layers.Dense(32, activation="relu")(latent_inputs))
    decoder = keras.Model(latent_inputs, decoded, name="decoder")
    vae = VAE(encoder, decoder)
    vae.compile(optimizer=keras.optimizers.Adam(1e-2))
    hist = vae.fit(xtr, epochs=8, batch_size=64, verbose=0).history
    assert set(hist) == {"loss", "reconstruction_loss", "kl_loss"}
    assert hist["reconstruction_loss"][-1] < 0.85 * hist["reconstruction_loss"][0]
    assert all(np.isfinite(hist["loss"]))
    assert len(vae.trainable_weights) == len(encoder.trainable_weights) + len(decoder.trainable_weights) == 10


class ActivityPenalty(layers.Layer):
    def call(self, x):
        self.add_loss(0.01 * ops.mean(ops.square(x)))
        return x


def test_add_loss_is_added_to_the_compiled_loss_and_alone_suffices():
    keras.utils.set_random_seed(7)
    xtr, ytr, _, _ = _digits()
    model = keras.Sequential([keras.Input((64,)), layers.Dense(16, activation="relu"), ActivityPenalty(),
                              layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = xtr[:64], ytr[:64]
    out = model(x, training=True)
    assert len(model.losses) == 1
    plain = float(keras.losses.SparseCategoricalCrossentropy()(y, out))
    penalty = float(model.losses[0])
    assert model.evaluate(x, y, batch_size=64, verbose=0) == pytest.approx(plain + penalty, rel=1e-5)
    # only the added loss: compile() without a loss trains towards small activations
    only = keras.Sequential([keras.Input((64,)), layers.Dense(16), ActivityPenalty()])
    only.compile(keras.optimizers.SGD(0.5))
    hist = only.fit(xtr, epochs=3, batch_size=64, verbose=0).history
    assert hist["loss"][-1] < hist["loss"][0]


def test_keras2_style_compiled_loss_and_metrics_in_a_custom_step():
    class Keras2Style(keras.Model):
        def __init__(self):
            super().__init__()
            self.d1 = layers.Dense(32, activation="relu")
            self.d2 = layers.Dense(10, activation="softmax")

        def call(self, x):
            return self.d2(self.d1(x))

        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compiled_loss(y, y_pred)
            self.optimizer.apply_gradients(zip(tape.gradient(loss, self.trainable_variables),
                                               self.trainable_variables))
            self.compiled_metrics.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    keras.utils.set_random_seed(8)
    xtr, ytr, xte, yte = _digits()
    model = Keras2Style()
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(xtr, ytr, epochs=4, batch_size=32, verbose=0).history
    assert hist["loss"][-1] < hist["loss"][0] and hist["loss"][0] > 0  # the custom step fed the tracker
    assert hist["accuracy"][-1] > 0.85
    _, acc = model.evaluate(xte, yte, verbose=0)
    assert acc > 0.85


def test_model_outputs_and_losses_are_tensors_numpy_reads_without_copy():
    model = keras.Sequential([keras.Input((4,)), layers.Dense(3)])
    out = model(np.ones((2, 4), np.float32))
    arr = np.asarray(out)
    assert arr.base is out or np.shares_memory(arr, out)
    assert out.numpy().shape == (2, 3) and type(out.numpy()) is np.ndarray
    loss = keras.losses.MeanSquaredError()(np.zeros((2, 3)), out)
    assert isinstance(loss.numpy(), np.ndarray) and loss.numpy().shape == ()


def test_a_loss_that_reaches_no_weight_is_named():
    class Detached(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = layers.Dense(1)

        def call(self, x):
            return ops.stop_gradient(self.d(x))

    model = Detached()
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="does not depend on any trainable weight"):
        model.fit(np.ones((4, 3), np.float32), np.ones((4, 1), np.float32), verbose=0)


def test_sample_weight_zero_samples_do_not_train():
    """fit(sample_weight=w): samples of weight 0 change nothing, so training on (x, y, w) with half the
    weights 0 equals training on the other half alone (same batches, SGD)."""
    xtr, ytr, _, _ = _digits()
    x, y = xtr[:64], ytr[:64]
    w = np.tile([1.0, 0.0], 32).astype(np.float32)

    def make():
        keras.utils.set_random_seed(9)
        m = keras.Sequential([keras.Input((64,)), layers.Dense(10, activation="softmax")])
        m.compile(keras.optimizers.SGD(0.5), "sparse_categorical_crossentropy")
        return m

    weighted = make()
    weighted.fit(x, y, sample_weight=w, batch_size=64, epochs=3, shuffle=False, verbose=0)
    half = make()
    # the weighted mean divides by all 64 samples: the same update as half the samples at half the rate
    half.optimizer.learning_rate = 0.25
    half.fit(x[::2], y[::2], batch_size=32, epochs=3, shuffle=False, verbose=0)
    for a, b in zip(weighted.get_weights(), half.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
