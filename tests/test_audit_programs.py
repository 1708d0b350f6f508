"""Behaviours that real Keras programs rely on, found by running such programs with only their import
lines changed. Each test is a small program of our own exercising the same API."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

import aiaas_core as tf
from aiaas_core import keras, ops
from aiaas_core.keras import layers as L


def _digit_images(n=256):
    x, y = load_digits(return_X_y=True)
    return (x[:n] / 16.0).astype(np.float32).reshape(-1, 8, 8), y[:n]


def test_functional_input_with_trailing_channel_takes_images_without_it():
    # Keras 3: an Input of shape (8, 8, 1) called on [n, 8, 8] gets the channel axis added (and an
    # Input of shape (8, 8) called on [n, 8, 8, 1] gets it squeezed); other shapes are an error
    x, y = _digit_images()
    inp = keras.Input(shape=(8, 8, 1))
    out = L.Dense(10, activation="softmax")(L.Flatten()(inp))
    model = keras.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), model.predict(x[..., None], verbose=0), rtol=1e-6)
    inp2 = keras.Input(shape=(8, 8))
    m2 = keras.Model(inp2, L.Flatten()(inp2))
    assert m2(x[:3, :, :, None]).shape == (3, 64)
    with pytest.raises(ValueError, match=r"shape \(None, 8, 8, 1\).*\(3, 8, 7\)"):
        model(x[:3, :, :7])


def test_layer_inputs_may_be_passed_by_the_name_of_calls_first_argument():
    class Scale(keras.layers.Layer):
        def call(self, logits, factor=None):
            return logits * factor

    x = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(Scale()(logits=x, factor=2.0).numpy(), 2 * x)
    inp = keras.Input((3,))
    m = keras.Model(inp, Scale()(logits=L.Dense(2)(inp), factor=3.0))
    assert m.predict(x, verbose=0).shape == (2, 2)
    with pytest.raises(TypeError, match="without its inputs: pass them first or as logits="):
        Scale()(factor=2.0)


def test_keras_namespaces_that_share_a_name_with_tensorflow_ones_serve_both():
    import aiaas_core as keras_or_tf
    from aiaas_core import backend, config, random
    # keras.config and tf.config are one module here
    keras_or_tf.config.disable_traceback_filtering()
    assert config.floatx() == "float32" and config.image_data_format() == "channels_last"
    assert config.list_physical_devices("CPU")
    with pytest.raises(ValueError, match="only float32"):
        config.set_floatx("float16")
    # keras.random and tf.random: a SeedGenerator seeds both spellings
    gen = random.SeedGenerator(7)
    a, b = random.normal((2, 3), seed=gen), random.normal((2, 3), seed=gen)
    assert a.shape == (2, 3) and not np.allclose(a.numpy(), b.numpy())
    assert random.randint((4,), 0, 3, seed=gen).numpy().max() < 3
    assert random.dropout(np.ones((100,), np.float32), 0.5, seed=gen).numpy().max() == pytest.approx(2.0)
    # keras.backend (tf.keras 2's random_normal too) and Keras 3's top-level classes
    v = backend.Variable(np.zeros((2,), np.float32), name="kernel")
    assert backend.int_shape(v) == (2,) and backend.random_normal((3, 2)).shape == (3, 2)
    assert keras_or_tf.Layer is L.Layer and issubclass(keras_or_tf.losses.MeanSquaredError, keras_or_tf.Loss)
    assert isinstance(keras_or_tf.metrics.Mean(), keras_or_tf.Metric)
    assert isinstance(keras_or_tf.optimizers.Adam(), keras_or_tf.Optimizer)
    assert isinstance(keras_or_tf.Input((2,)), keras_or_tf.KerasTensor)
    assert keras_or_tf.saving.register_keras_serializable


def test_variables_held_as_attributes_are_the_layers_weights_and_train():
    # Keras 3 tracks `self.w = keras.Variable(...)` (and lists of them) as a layer's weights; an
    # untracked weight would silently never train
    class Affine(keras.layers.Layer):
        def build(self, input_shape):
            self.w = keras.backend.Variable(np.full((input_shape[-1], 2), 0.1, np.float32), name="kernel")
            self.extra = [tf.Variable(np.zeros((2,), np.float32), name=f"b{i}") for i in range(2)]

        def call(self, x):
            return ops.matmul(x, self.w) + self.extra[0] + self.extra[1]

    layer = Affine()
    x = np.ones((4, 3), np.float32)
    y = np.zeros((4, 2), np.float32)
    layer(x)
    assert [v.name for v in layer.trainable_weights] == ["kernel", "b0", "b1"]
    opt = keras.optimizers.SGD(0.1)
    losses = []
    for _ in range(3):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(layer(x) - y))
        grads = tape.gradient(loss, layer.trainable_variables)
        opt.apply_gradients(zip(grads, layer.trainable_variables))
        losses.append(float(loss))
    assert losses[2] < losses[0]
    layer.w = keras.backend.Variable(np.zeros((3, 2), np.float32), name="kernel2")  # rebinding replaces it
    assert [v.name for v in layer.weights] == ["b0", "b1", "kernel2"]


def test_apply_gradients_with_no_pairs_says_why():
    model = keras.Sequential([L.Dense(2)])  # not built: no variables yet
    with pytest.raises(ValueError, match="no \\(gradient, variable\\) pairs.*built"):
        keras.optimizers.SGD().apply_gradients(zip([], model.trainable_variables))


def test_metrics_held_by_layers_are_reported_and_reset_by_fit():
    # Keras 3: a metric a layer (or the model) holds as an attribute is in model.metrics, so fit logs
    # it and resets it every epoch
    class Endpoint(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.hits = keras.metrics.BinaryAccuracy(name="hits")

        def call(self, logits, targets=None):
            if targets is not None:
                self.add_loss(tf.reduce_mean(keras.losses.binary_crossentropy(targets, logits, from_logits=True)))
                self.hits.update_state(targets, tf.sigmoid(logits))
            return tf.sigmoid(logits)

    keras.utils.set_random_seed(0)
    x, y = _digit_images()
    x, t = x.reshape(len(x), -1), (y >= 5).astype(np.float32)[:, None]
    inp, tgt = keras.Input((64,), name="x"), keras.Input((1,), name="t")
    model = keras.Model([inp, tgt], Endpoint()(L.Dense(1)(inp), tgt))
    model.compile(keras.optimizers.Adam(0.05))
    hist = model.fit({"x": x, "t": t}, epochs=5, batch_size=64, verbose=0)
    assert "hits" in hist.history and hist.history["hits"][-1] > hist.history["hits"][0]  # reset each epoch
    assert [m.name for m in model.metrics] == ["loss", "hits"]


def test_optimizer_apply_takes_variables_as_keras_3():
    model = keras.Sequential([keras.Input((64,)), L.Dense(10)])
    x, y = _digit_images()
    x = x.reshape(len(x), -1)
    opt = keras.optimizers.Adam(1e-2)
    opt.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    losses = []
    for _ in range(5):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        opt.apply(tape.gradient(loss, model.trainable_weights), model.trainable_weights)
        losses.append(float(loss))
    assert losses[-1] < losses[0] and int(opt.iterations) == 5
    with pytest.raises(ValueError, match="1 gradients for 2 variables"):
        opt.apply([None], model.trainable_weights)


def test_array_to_img_and_save_img_write_a_png(tmp_path):
    import zlib
    x = np.linspace(0, 1, 4 * 5, dtype=np.float32).reshape(4, 5, 1)
    img = keras.utils.array_to_img(x * 255.0, scale=False)
    assert img.size == (5, 4)
    np.testing.assert_array_equal(keras.utils.img_to_array(img)[..., 0], np.round(x[..., 0] * 255))
    path = tmp_path / "digit.png"
    img.save(path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    if type(img).__name__ == "_PNGImage":  # our writer: the pixel rows decode back (filter byte 0 each)
        idat = data[data.index(b"IDAT") + 4:data.index(b"IEND") - 8]
        rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(4, 6)
        np.testing.assert_array_equal(rows[:, 1:], np.asarray(img))
    keras.utils.save_img(tmp_path / "rgb.png", np.random.rand(3, 3, 3))
    with pytest.raises(ValueError, match=r"shape \(height, width, 1\|3\|4\)"):
        keras.utils.array_to_img(np.zeros((4, 4)))


def test_a_model_subclass_built_from_inputs_and_outputs_is_functional_with_its_overrides(tmp_path):
    # keras.io's "customizing fit" pattern: class M(keras.Model) overriding train_step, then
    # M(inputs, outputs); fit must call the override
    calls = []

    class Custom(keras.Model):
        def train_step(self, data):
            calls.append(1)
            x, y = data
            with tf.GradientTape() as tape:
                loss = keras.losses.mean_squared_error(y, self(x, training=True))
                loss = tf.reduce_mean(loss)
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            return {"loss": loss}

    inp = keras.Input((4,))
    model = Custom(inp, L.Dense(1)(inp))
    assert isinstance(model, Custom) and model.layers[-1].__class__ is L.Dense
    model.compile("adam")
    x = np.random.rand(64, 4).astype(np.float32)
    model.fit(x, x.sum(1, keepdims=True), batch_size=16, epochs=1, verbose=0)
    assert len(calls) == 4
    assert model.predict(x, verbose=0).shape == (64, 1)
    other = keras.Model(inp, L.Dense(2)(inp))  # plain Model is untouched
    assert type(other).__name__ == "Functional"


def test_fit_on_a_model_without_call_runs_its_train_step():
    # keras.io's GAN: a Model with no call() whose train_step trains two built sub-models
    class Pair(keras.Model):
        def __init__(self, a, b):
            super().__init__()
            self.a, self.b = a, b
            self.tracker = keras.metrics.Mean(name="gap")

        @property
        def metrics(self):
            return [self.tracker]

        def train_step(self, data):
            x = data[0] if isinstance(data, tuple) else data
            with tf.GradientTape() as tape:
                gap = tf.reduce_mean(tf.square(self.a(x) - self.b(x)))
            grads = tape.gradient(gap, self.a.trainable_weights)
            self.optimizer.apply(grads, self.a.trainable_weights)
            self.tracker.update_state(gap)
            return {"gap": self.tracker.result()}

    keras.utils.set_random_seed(0)
    a = keras.Sequential([keras.Input((3,)), L.Dense(2)])
    b = keras.Sequential([keras.Input((3,)), L.Dense(2)])
    pair = Pair(a, b)
    pair.compile(keras.optimizers.SGD(0.1))
    x = np.random.rand(64, 3).astype(np.float32)
    h1 = pair.fit(tf.data.Dataset.from_tensor_slices(x).batch(16), epochs=3, verbose=0).history["gap"]
    h2 = pair.fit(x, epochs=1, batch_size=16, verbose=0).history["gap"]
    assert h1[-1] < h1[0] and h2[0] < h1[0]


def test_compiled_metrics_are_in_self_metrics_from_a_custom_steps_first_batch():
    # keras.io: a custom train_step / test_step loops over self.metrics, updating "loss" by hand and
    # the others with (y, y_pred); the compiled "mae" must be there from the first batch
    class Custom(keras.Model):
        def train_step(self, data):
            x, y, sw = data if len(data) == 3 else (*data, None)
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sw)
            self.optimizer.apply(tape.gradient(loss, self.trainable_variables), self.trainable_variables)
            for m in self.metrics:
                m.update_state(loss) if m.name == "loss" else m.update_state(y, y_pred, sample_weight=sw)
            return {m.name: m.result() for m in self.metrics}

        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            for m in self.metrics:
                m.update_state(loss) if m.name == "loss" else m.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    inp = keras.Input((8,))
    model = Custom(inp, L.Dense(1)(inp))
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    x, y = np.random.rand(64, 8), np.random.rand(64, 1)
    hist = model.fit(x, y, sample_weight=np.random.rand(64, 1), epochs=1, batch_size=64, verbose=0).history
    assert sorted(hist) == ["loss", "mae"]
    fresh = Custom(inp, L.Dense(1)(inp))
    fresh.compile(loss="mse", metrics=["mae"])
    res = fresh.evaluate(tf.data.Dataset.from_tensor_slices((x, y)).batch(16), verbose=0, return_dict=True)
    pred = fresh.predict(x, verbose=0)
    assert res["mae"] == pytest.approx(float(np.mean(np.abs(pred - y))), rel=1e-5)
    assert res["loss"] == pytest.approx(float(np.mean((pred - y) ** 2)), rel=1e-5)


def test_functional_model_compiled_with_a_loss_object_saves_and_loads(tmp_path):
    x, y = _digit_images()
    x = x.reshape(len(x), -1)
    inp = keras.Input((64,))
    model = keras.Model(inp, L.Dense(10)(L.Dense(16, activation="relu")(inp)))
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  optimizer=keras.optimizers.RMSprop(), metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.loss.from_logits
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-6)


def test_layer_input_and_output_give_the_graph_tensors_for_feature_extraction():
    inp = keras.Input((8, 8, 1))
    conv = L.Conv2D(4, 3, activation="relu")
    h = conv(inp)
    out = L.Dense(10)(L.Flatten()(h))
    model = keras.Model(inp, out)
    assert model.layers[0].output is inp and conv.input is inp and conv.output is h
    features = keras.Model(inputs=model.input, outputs=[layer.output for layer in model.layers])
    x, _ = _digit_images(4)
    got = features(x[..., None])
    assert [tuple(t.shape) for t in got] == [(4, 8, 8, 1), (4, 6, 6, 4), (4, 144), (4, 10)]
    np.testing.assert_allclose(np.asarray(got[-1]), model.predict(x[..., None], verbose=0), rtol=1e-6)
    with pytest.raises(ValueError, match="never been called on symbolic tensors"):
        L.Dense(3).output


def test_a_sequential_with_a_known_input_shape_has_graph_tensors():
    # Keras 3: keras.Model(seq.inputs, seq.layers[-2].output) makes a feature extractor
    seq = keras.Sequential([keras.Input((64,)), L.Dense(16, activation="relu", name="hidden"), L.Dense(10)])
    x, _ = _digit_images(8)
    x = x.reshape(8, -1)
    feats = keras.Model(inputs=seq.inputs, outputs=seq.layers[-2].output)
    want = np.maximum(x @ seq.layers[0].kernel.numpy() + seq.layers[0].bias.numpy(), 0)
    np.testing.assert_allclose(feats.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    built_later = keras.Sequential([L.Dense(4)])
    built_later.build((None, 3))
    assert tuple(built_later.output.shape) == (None, 4)
    with pytest.raises(ValueError, match="no input shape yet"):
        keras.Sequential([L.Dense(4)]).input


def test_a_custom_layer_whose_get_config_omits_the_name_round_trips_in_a_functional_config():
    class Scaled(keras.layers.Layer):
        def __init__(self, units=3):  # takes no name=: Keras calls cls(**get_config())
            super().__init__()
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal")

        def call(self, x):
            return ops.matmul(x, self.w)

        def get_config(self):
            return {"units": self.units}

    inp = keras.Input((4,))
    model = keras.Model(inp, Scaled(5)(inp))
    new = keras.Model.from_config(model.get_config(), custom_objects={"Scaled": Scaled})
    assert new.layers[1].units == 5 and new.layers[1].name == model.layers[1].name
    assert new.predict(np.ones((2, 4)), verbose=0).shape == (2, 5)


def test_a_subclassed_model_may_take_one_value_per_sample():
    # TensorFlow's "basic training loops": y = w * x + b on a vector x, by hand and with fit
    class Line(keras.Model):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(5.0)
            self.b = tf.Variable(0.0)

        def call(self, x):
            return self.w * x + self.b

    x = np.linspace(-2, 2, 201).astype(np.float32)
    y = 3.0 * x + 2.0
    model = Line()
    assert model(x).shape == (201,)
    assert [v.name for v in model.trainable_variables] == ["Variable", "Variable"]
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss=keras.losses.mean_squared_error)
    model.fit(x, y, epochs=20, batch_size=1000, verbose=0)
    assert float(model.w.numpy()) == pytest.approx(3.0, abs=0.05) and float(model.b.numpy()) == pytest.approx(2.0, abs=0.05)
    seq = keras.Sequential([L.Dense(1)])
    seq.compile("sgd", "mse")
    with pytest.raises(ValueError, match="batch axis"):
        seq.fit(x, y, verbose=0)


def test_a_sequential_takes_dimensions_of_any_size():
    # variable-length sequences: keras.Input((None, 3)) or input_shape=(None, 5) in a Sequential
    m = keras.Sequential([keras.Input((None, 3)), L.LSTM(4, return_sequences=True), L.Dense(2)])
    assert m.output_shape == (None, None, 2)
    x = np.random.rand(4, 7, 3).astype(np.float32)
    m.compile("adam", "mse")
    hist = m.fit(x, np.random.rand(4, 7, 2), epochs=2, verbose=0).history
    assert len(hist["loss"]) == 2 and m.predict(np.random.rand(2, 5, 3), verbose=0).shape == (2, 5, 2)
    with pytest.raises(ValueError, match=r"expected y of shape \(None, None, 2\)"):
        m.fit(x, np.random.rand(4, 7, 3), verbose=0)
    d = keras.Sequential([L.Dense(3, input_shape=(None, 5))])
    assert d(np.ones((2, 4, 5), np.float32)).shape == (2, 4, 3)
    with pytest.raises(ValueError, match=r"positive ints \(None for any size\)"):
        L.Dense(3, input_shape=(0, 5))


def test_convolutions_take_images_of_any_size():
    seq = keras.Sequential([L.Conv2D(2, 3, input_shape=(None, None, 3), padding="same"), L.BatchNormalization(),
                            L.MaxPooling2D(), L.Conv2D(4, 1)])
    assert seq.output_shape == (None, None, None, 4)
    assert seq(np.zeros((1, 6, 8, 3), np.float32)).shape == (1, 3, 4, 4)
    assert seq(np.zeros((2, 4, 4, 3), np.float32)).shape == (2, 2, 2, 4)


def test_unconnected_gradients_enum():
    x, y = tf.Variable([2.0, 2.0]), tf.Variable(3.0)
    with tf.GradientTape(persistent=True) as tape:
        z = y ** 2
    assert tape.gradient(z, x) is None
    np.testing.assert_array_equal(tape.gradient(z, x, unconnected_gradients=tf.UnconnectedGradients.ZERO).numpy(), [0, 0])


def test_integer_tensors_have_no_gradient_as_in_tensorflow():
    x = tf.constant(10)
    with tf.GradientTape() as g:
        with pytest.warns(UserWarning, match="only floating tensors have gradients"):
            g.watch(x)
        y = x * x
    assert g.gradient(y, x) is None


def test_tnp_and_mean_absolute_percentage_error():
    # keras-io's "TensorFlow NumPy models": tf.experimental.numpy ops in a custom model, MAPE metric
    import aiaas_core.experimental.numpy as tnp

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.w = self.add_weight(shape=(3, 1), initializer="glorot_normal", name="w")

        def call(self, x):
            return tnp.maximum(tnp.matmul(x, self.w), 0.0)

    keras.utils.set_random_seed(0)
    x = np.random.rand(64, 3).astype(np.float32)
    y = x @ np.array([[1.0], [2.0], [3.0]], np.float32) + 1
    model = Net()
    model.compile("adam", loss=lambda t, p: tnp.mean(tnp.square(t - p), axis=0),
                  metrics=[keras.metrics.MeanAbsolutePercentageError()])
    before = model.evaluate(x, y, verbose=0)[1]
    model.fit(x, y, epochs=30, verbose=0)
    after = model.evaluate(x, y, verbose=0)[1]
    assert after < before
    pred = model.predict(x, verbose=0)
    assert after == pytest.approx(float(np.mean(np.abs(y - pred) / np.abs(y))) * 100, rel=1e-4)


def test_evaluate_and_predict_build_an_unbuilt_model():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(1)

        def call(self, x):
            return self.dense(x)

    x, y = np.random.rand(8, 3).astype(np.float32), np.random.rand(8, 1).astype(np.float32)
    m = Net()
    m.compile("adam", "mse", metrics=["mae"])
    loss, mae = m.evaluate(x, y, verbose=0)
    assert loss == pytest.approx(float(np.mean((m.predict(x, verbose=0) - y) ** 2)), rel=1e-5)
    seq = keras.Sequential([L.Dense(2)])
    assert seq.predict(x, verbose=0).shape == (8, 2)
    ds_model = Net()
    ds_model.compile("adam", "mse")
    assert np.isfinite(ds_model.evaluate(tf.data.Dataset.from_tensor_slices((x, y)).batch(4), verbose=0))


def test_distribute_strategies_run_as_one_replica():
    for strategy in (tf.distribute.get_strategy(), tf.distribute.MirroredStrategy()):
        with strategy.scope():
            model = keras.Sequential([keras.Input((3,)), L.Dense(1)])
            model.compile("adam", "mse")
        assert strategy.num_replicas_in_sync == 1
        model.fit(np.zeros((4, 3)), np.zeros((4, 1)), verbose=0)


def test_validation_split_cuts_where_keras_does():
    x, y = np.random.rand(3601, 2).astype(np.float32), np.random.rand(3601, 1).astype(np.float32)
    model = keras.Sequential([keras.Input((2,)), L.Dense(1)])
    model.compile("sgd", "mse")
    seen = []
    cb = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(b))
    model.fit(x, y, batch_size=32, validation_split=0.2, epochs=1, verbose=0, callbacks=[cb])
    assert len(seen) == 90  # floor(3601 * 0.8) = 2880 training samples, as Keras 3


def test_model_checkpoint_creates_its_folder(tmp_path):
    model = keras.Sequential([keras.Input((3,)), L.Dense(1)])
    model.compile("sgd", "mse")
    path = tmp_path / "training_1" / "cp.weights.h5"
    cb = keras.callbacks.ModelCheckpoint(filepath=str(path), save_weights_only=True)
    model.fit(np.zeros((4, 3)), np.zeros((4, 1)), epochs=1, verbose=0, callbacks=[cb])
    assert path.is_file() and tf.version.VERSION == tf.version()


def test_model_checkpoint_every_n_batches(tmp_path):
    model = keras.Sequential([keras.Input((3,)), L.Dense(1)])
    model.compile("sgd", "mse")
    cb = keras.callbacks.ModelCheckpoint(filepath=str(tmp_path / "cp-{epoch:04d}.weights.h5"), save_weights_only=True,
                                         save_freq=4)
    model.fit(np.zeros((8, 3)), np.zeros((8, 1)), batch_size=2, epochs=3, verbose=0, callbacks=[cb])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cp-0001.weights.h5", "cp-0002.weights.h5", "cp-0003.weights.h5"]
    with pytest.raises(ValueError, match="positive number of batches"):
        keras.callbacks.ModelCheckpoint("x.keras", save_freq=0)


def test_layer_sizes_may_be_0d_integer_arrays_or_tensors():
    n = tf.math.reduce_prod(tf.constant([28, 28]))
    assert L.Dense(n.numpy()).units == 784 and L.Dense(n).units == 784
    with pytest.raises(ValueError, match="positive int"):
        L.Dense(np.array(2.5))


def test_a_step_without_targets_receives_x_itself():
    # Keras packs (x, y, sample_weight) and gives x alone when there is nothing else
    seen = []

    class M(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = L.Dense(1)

        def call(self, x):
            return self.d(x)

        def train_step(self, data):
            seen.append(type(data).__name__ if isinstance(data, tuple) else tuple(data.shape))
            return {}

        def test_step(self, data):
            seen.append(type(data).__name__ if isinstance(data, tuple) else tuple(data.shape))
            return {}

    m = M()
    m.compile("sgd")
    x = np.zeros((4, 3), np.float32)
    m.fit(x, epochs=1, batch_size=4, verbose=0)
    m.fit(tf.data.Dataset.from_tensor_slices(x).batch(4), epochs=1, verbose=0)
    m.fit(x, x[:, :1], epochs=1, batch_size=4, verbose=0)
    m.evaluate(x, batch_size=4, verbose=0)
    assert seen == [(4, 3), (4, 3), "tuple", (4, 3)]
    assert m.predict(x, verbose=0).shape == (4, 1)


def test_confusion_metrics_count_as_keras():
    y_true = np.array([[1], [0], [1], [1], [0], [0]])
    y_pred = np.array([[0.9], [0.8], [0.3], [0.6], [0.1], [0.4]], np.float32)
    got = {}
    for cls in (keras.metrics.TruePositives, keras.metrics.FalsePositives, keras.metrics.TrueNegatives,
                keras.metrics.FalseNegatives, keras.metrics.Precision, keras.metrics.Recall):
        m = cls()
        m.update_state(y_true, y_pred)
        got[m.name] = float(m.result())
    assert got == {"true_positives": 2, "false_positives": 1, "true_negatives": 2, "false_negatives": 1,
                   "precision": pytest.approx(2 / 3), "recall": pytest.approx(2 / 3)}
    w = keras.metrics.Precision(thresholds=0.5)
    w.update_state(y_true, y_pred, sample_weight=np.array([1, 3, 1, 1, 1, 1]))
    assert float(w.result()) == pytest.approx(2 / 5)
    x, y = np.random.rand(64, 4).astype(np.float32), (np.random.rand(64, 1) > 0.5).astype(np.float32)
    model = keras.Sequential([keras.Input((4,)), L.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=[keras.metrics.Recall(name="recall"),
                                                          keras.metrics.FalseNegatives(name="fn")])
    hist = model.fit(x, y, epochs=1, verbose=0).history
    assert sorted(hist) == ["fn", "loss", "recall"]
    several = keras.metrics.Precision(thresholds=[0.3, 0.7])  # one result per threshold, as Keras
    several.update_state(y_true, y_pred)
    np.testing.assert_allclose(np.asarray(several.result(), np.float64), [3 / 5, 1 / 2])  # 0.3f > 0.3


def test_class_weight_weights_each_sample_by_its_class():
    keras.utils.set_random_seed(0)
    x = np.random.rand(40, 3).astype(np.float32)
    y = (np.arange(40) < 4).astype(np.float32)[:, None]  # 4 positives, 36 negatives
    model = keras.Sequential([keras.Input((3,)), L.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.SGD(1e-12), "binary_crossentropy")  # the loss of (nearly) the same weights
    plain = model.fit(x, y, epochs=1, batch_size=40, verbose=0).history["loss"][0]
    weighted = model.fit(x, y, epochs=1, batch_size=40, verbose=0, class_weight={0: 0.5, 1: 2.0}).history["loss"][0]
    p = model.predict(x, verbose=0)
    per_sample = -(y * np.log(p) + (1 - y) * np.log(1 - p))[:, 0]
    w = np.where(y[:, 0] == 1, 2.0, 0.5)
    assert plain == pytest.approx(per_sample.mean(), rel=1e-4)
    assert weighted == pytest.approx((per_sample * w).mean(), rel=1e-4)


def test_random_fourier_features_and_hinge_make_a_quasi_svm():
    from aiaas_core.keras.layers.experimental import RandomFourierFeatures
    keras.utils.set_random_seed(0)
    rff = RandomFourierFeatures(output_dim=64, scale=2.0, kernel_initializer="gaussian")
    x = np.random.rand(5, 8).astype(np.float32)
    out = rff(x).numpy()
    w = [v.numpy() for v in rff.weights]
    np.testing.assert_allclose(out, np.cos(x @ (w[0] / w[2]) + w[1]), rtol=1e-5, atol=1e-6)
    assert rff.trainable_weights == [] and len(rff.non_trainable_weights) == 3
    y = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    p = np.array([[0.3, -2.0], [0.5, 0.2]], np.float32)
    want = np.maximum(1 - (2 * y - 1) * p, 0).mean(-1).mean()
    assert float(keras.losses.Hinge()(y, p)) == pytest.approx(want) and keras.losses.hinge(y, p).shape == (2,)
    xd, yd = _digit_images()
    model = keras.Sequential([keras.Input((64,)), RandomFourierFeatures(256, scale=4.0), L.Dense(10)])
    model.compile("adam", loss=keras.losses.hinge, metrics=[keras.metrics.CategoricalAccuracy(name="acc")])
    hist = model.fit(xd.reshape(len(xd), -1), keras.utils.to_categorical(yd, 10), epochs=30, verbose=0).history
    assert hist["loss"][-1] < hist["loss"][0] and hist["acc"][-1] > 0.5
