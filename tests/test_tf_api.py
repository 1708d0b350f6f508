"""`import aiaas_core as tf`: TensorFlow's names over the ops (values, TF's defaults, gradients), the
namespaces as importable submodules, keras.ops / keras.random, and the TensorFlow beginner
quickstart's tensor steps on small local data."""

from __future__ import annotations

import io

import numpy as np
import pytest

import aiaas_core as tf
from aiaas_core import keras


def grad(fn, x):
    x = tf.constant(np.asarray(x, np.float64))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(fn(x))
    return np.asarray(tape.gradient(y, x))


def test_top_level_names_exist():
    names = """constant convert_to_tensor Variable zeros ones fill range zeros_like ones_like eye linspace reduce_sum
    reduce_mean reduce_max reduce_min reduce_prod reduce_any reduce_all reduce_logsumexp square sqrt exp abs maximum
    minimum concat stack unstack split reshape transpose matmul einsum shape size rank cast clip_by_value squeeze
    expand_dims gather gather_nd where one_hot argmax argmin tile pad reverse sort argsort stop_gradient identity
    add_n add subtract multiply divide pow negative equal not_equal less less_equal greater greater_equal
    GradientTape function TensorShape Tensor is_tensor float32 float64 int32 int64 bool uint8 print""".split()
    missing = [n for n in names if not hasattr(tf, n)]
    assert not missing
    assert tf.newaxis is None
    for ns in ("math", "nn", "random", "linalg", "config", "debugging", "dtypes"):
        assert hasattr(tf, ns)
    assert not hasattr(tf.data, "reduce_sum")  # tf.data is left to aiaas_core.data


def test_namespaces_import_as_submodules():
    from aiaas_core.keras import ops
    from aiaas_core.keras.ops import relu
    from aiaas_core.keras.random import SeedGenerator, normal
    from aiaas_core.linalg import matvec
    from aiaas_core.math import reduce_mean, top_k
    from aiaas_core.nn import softmax
    from aiaas_core.random import set_seed
    assert ops is tf.ops and relu is tf.ops.relu and keras.ops is tf.ops
    assert callable(reduce_mean) and callable(top_k) and callable(softmax) and callable(matvec)
    assert callable(set_seed) and callable(normal) and SeedGenerator is keras.random.SeedGenerator


def test_constant_and_convert_to_tensor():
    src = np.array([1.0, 2.0])
    c = tf.constant(src)
    src[0] = 9.0
    assert float(c[0]) == 1.0  # tf.constant copies
    assert tf.constant(1.0).dtype == tf.float32 and tf.constant(1).dtype == tf.int32
    assert tf.constant(2 ** 40).dtype == tf.int64
    assert tf.constant([1, 2], dtype=tf.float32).dtype == tf.float32
    np.testing.assert_array_equal(tf.constant(0.5, shape=[2, 3]).numpy(), np.full((2, 3), 0.5, np.float32))
    np.testing.assert_array_equal(tf.constant([1, 2, 3, 4], shape=(2, 2)).numpy(), [[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="shape"):
        tf.constant([1, 2, 3], shape=(2, 2))
    arr = np.ones(3, np.float32)
    assert np.shares_memory(np.asarray(tf.convert_to_tensor(arr)), arr)
    assert tf.convert_to_tensor(1, dtype_hint=tf.float32).dtype == tf.float32
    assert tf.is_tensor(c) and tf.is_tensor(tf.Variable(1.0)) and not tf.is_tensor(src)
    assert isinstance(c, tf.Tensor)
    with pytest.raises(TypeError, match="constant"):
        tf.constant("text")


def test_tf_defaults_that_differ_from_keras_ops():
    x = tf.constant([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    np.testing.assert_array_equal(tf.argmax(x).numpy(), [1, 0, 1])  # axis 0 by default
    assert tf.argmax(x, axis=1).dtype == tf.int64
    assert tf.argmax(x, output_type=tf.int32).dtype == tf.int32
    np.testing.assert_array_equal(tf.shape(x).numpy(), [2, 3])
    assert tf.shape(x).dtype == tf.int32 and int(tf.size(x)) == 6 and int(tf.rank(x)) == 2
    assert tf.reshape(x, [tf.shape(x)[0], -1]).shape == (2, 3)
    assert tf.zeros([tf.shape(x)[1], 2]).shape == (3, 2)
    assert tf.one_hot([0, 2], 3).dtype == tf.float32
    np.testing.assert_array_equal(tf.range(5).numpy(), np.arange(5))
    np.testing.assert_allclose(tf.range(0.0, 1.0, 0.5).numpy(), [0.0, 0.5])
    np.testing.assert_allclose(tf.nn.gelu(tf.constant([1.0])).numpy(), [0.8413447], rtol=1e-5)  # exact erf form
    values, indices = tf.math.top_k(tf.constant([1.0, 3.0, 2.0]), k=2)
    r = tf.math.top_k(tf.constant([1.0, 3.0, 2.0]), k=2)
    np.testing.assert_array_equal(r.values.numpy(), [3.0, 2.0])
    np.testing.assert_array_equal(r.indices.numpy(), [1, 2])
    assert indices.dtype == tf.int32
    np.testing.assert_allclose(tf.math.cumsum(tf.constant([1.0, 2.0, 3.0]), exclusive=True).numpy(), [0, 1, 3])
    np.testing.assert_allclose(tf.math.cumsum(tf.constant([1.0, 2.0, 3.0]), reverse=True).numpy(), [6, 5, 3])


def test_tf_functions_values_and_gradients():
    xv = np.array([[0.5, -1.2, 2.0], [1.5, 0.3, -0.7]])
    x = tf.constant(xv)
    np.testing.assert_allclose(tf.reduce_mean(x, axis=1).numpy(), xv.mean(1))
    np.testing.assert_allclose(tf.reduce_logsumexp(x).numpy(), np.log(np.exp(xv).sum()))
    np.testing.assert_allclose(tf.math.reduce_std(x, 0).numpy(), xv.std(0))
    np.testing.assert_allclose(tf.math.divide_no_nan(x, tf.constant([[1.0, 0.0, 2.0]])).numpy(),
                               [[0.5, 0.0, 1.0], [1.5, 0.0, -0.35]])
    np.testing.assert_allclose(grad(lambda t: tf.math.divide_no_nan(t, tf.constant([[1.0, 0.0, 2.0]], tf.float64)), xv),
                               np.broadcast_to([1.0, 0.0, 0.5], xv.shape))
    np.testing.assert_allclose(tf.linalg.trace(tf.constant([[1.0, 2.0], [3.0, 4.0]])).numpy(), 5.0)
    np.testing.assert_allclose(grad(lambda t: tf.linalg.trace(t), np.ones((2, 2))), np.eye(2))
    np.testing.assert_allclose(tf.linalg.diag_part(x).numpy(), [0.5, 0.3])
    np.testing.assert_allclose(tf.linalg.matvec(x, tf.constant([1.0, 0.0, 1.0], tf.float64)).numpy(), xv @ [1, 0, 1])
    np.testing.assert_allclose(tf.linalg.transpose(tf.zeros([2, 3, 4])).shape, (2, 4, 3))
    np.testing.assert_allclose(tf.linalg.norm(x, axis=-1).numpy(), np.linalg.norm(xv, axis=-1))
    np.testing.assert_allclose(tf.math.l2_normalize(x).numpy(), xv / np.linalg.norm(xv))
    np.testing.assert_allclose(grad(lambda t: tf.math.log_sigmoid(t), xv), 1 - 1 / (1 + np.exp(-xv)))
    np.testing.assert_allclose(grad(lambda t: tf.nn.bias_add(t, tf.constant([1.0, 2.0, 3.0], tf.float64)) ** 2, xv),
                               2 * (xv + [1, 2, 3]))
    np.testing.assert_allclose(tf.boolean_mask(x, x > 0).numpy(), xv[xv > 0])
    np.testing.assert_allclose(grad(lambda t: tf.boolean_mask(t, xv > 0), xv), (xv > 0).astype(float))
    np.testing.assert_allclose(tf.nn.embedding_lookup(x, [1, 1]).numpy(), xv[[1, 1]])
    m, v = tf.nn.moments(x, axes=[0])
    np.testing.assert_allclose(m.numpy(), xv.mean(0))
    np.testing.assert_allclose(v.numpy(), xv.var(0))
    assert int(tf.math.count_nonzero(tf.constant([0.0, 1.0, 2.0]))) == 2
    assert tf.gather(x, [1, 0]).shape == (2, 3) and tf.gather(x, [2], axis=1).shape == (2, 1)
    np.testing.assert_allclose(tf.einsum("ij,kj->ik", x, x).numpy(), xv @ xv.T)
    np.testing.assert_allclose(grad(lambda t: tf.einsum("ij,ij->i", t, t), xv), 2 * xv)
    np.testing.assert_allclose(tf.math.squared_difference(x, 1.0).numpy(), (xv - 1) ** 2)
    assert tf.math.is_nan(tf.constant([np.nan])).numpy().tolist() == [True]
    with pytest.raises(TypeError, match="logical_and.*bool"):
        tf.logical_and(x, x)


def test_tf_nn_cross_entropies_and_dropout():
    logits = tf.constant([[2.0, 1.0, 0.1]])
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[0], logits=logits)
    p = np.exp([2.0, 1.0, 0.1]) / np.exp([2.0, 1.0, 0.1]).sum()
    np.testing.assert_allclose(ce.numpy(), [-np.log(p[0])], rtol=1e-6)
    np.testing.assert_allclose(tf.nn.softmax_cross_entropy_with_logits(labels=[[1.0, 0, 0]], logits=logits).numpy(),
                               [-np.log(p[0])], rtol=1e-6)
    d = tf.nn.dropout(tf.ones([50, 50]), rate=0.2, seed=1)
    assert d.shape == (50, 50) and set(np.unique(d.numpy()).round(4).tolist()) <= {0.0, 1.25}
    with pytest.raises(ValueError, match="bias"):
        tf.nn.bias_add(tf.ones([2, 3]), tf.ones([4]))


def test_tf_random_seeding_is_tensorflows():
    tf.random.set_seed(5)
    a1, a2 = tf.random.normal([3], seed=1), tf.random.normal([3], seed=1)
    assert not np.array_equal(a1.numpy(), a2.numpy())  # an op seed gives a stream, as in TF
    tf.random.set_seed(5)
    b1 = tf.random.normal([3], seed=1)
    np.testing.assert_array_equal(a1.numpy(), b1.numpy())  # and set_seed restarts it
    tf.random.set_seed(5)
    g1 = tf.random.uniform([4])
    tf.random.set_seed(5)
    np.testing.assert_array_equal(g1.numpy(), tf.random.uniform([4]).numpy())
    assert tf.random.uniform([2], maxval=10, dtype=tf.int32).dtype == tf.int32
    assert tf.random.truncated_normal([5], stddev=0.1).dtype == tf.float32
    assert sorted(tf.random.shuffle(tf.range(6)).numpy().tolist()) == list(range(6))
    assert tf.random.categorical(tf.math.log([[0.5, 0.5]]), 4).shape == (1, 4)
    # keras.random: an int seed gives the same draw every call (Keras 3)
    np.testing.assert_array_equal(keras.random.normal((3,), seed=2).numpy(), keras.random.normal((3,), seed=2).numpy())
    gen = keras.random.SeedGenerator(3)
    assert not np.array_equal(keras.random.uniform((3,), seed=gen).numpy(), keras.random.uniform((3,), seed=gen).numpy())
    s = keras.random.shuffle(np.arange(12).reshape(3, 4), axis=1, seed=4).numpy()
    assert sorted(s[0].tolist()) == [0, 1, 2, 3] and s.shape == (3, 4)
    assert keras.random.randint((5,), 0, 3, seed=1).dtype == np.int32
    assert keras.random.dropout(np.ones((4, 4), np.float32), 0.5, seed=1).shape == (4, 4)


def test_tf_function_decorator_forms():
    @tf.function
    def f(x):
        return x * 2

    @tf.function(jit_compile=True, reduce_retracing=True)
    def g(x):
        return x + 1

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.float32)])
    def h(x):
        return tf.reduce_sum(x)

    class M:
        @tf.function
        def step(self, x):
            return x - 1

    assert float(f(tf.constant(2.0))) == 4.0 and float(g(1.0)) == 2.0 and float(h(tf.ones([3]))) == 3.0
    assert float(M().step(tf.constant(3.0))) == 2.0
    assert f.python_function(3) == 6 and f.__name__ == "f"
    with pytest.raises(TypeError, match="unexpected"):
        tf.function(f, jit=True)
    tf.config.run_functions_eagerly(True)
    assert tf.config.functions_run_eagerly()
    x = tf.Variable(3.0)
    with tf.GradientTape() as tape:
        y = f(x * x)
    assert float(tape.gradient(y, x)) == 12.0


def test_config_debugging_print_and_dtypes():
    assert tf.config.list_physical_devices("GPU") == []
    cpus = tf.config.list_physical_devices("CPU")
    assert len(cpus) == 1 and cpus[0].device_type == "CPU"
    tf.config.experimental.set_memory_growth(None, True)
    tf.debugging.assert_equal(tf.constant([1, 2]), [1, 2])
    with pytest.raises(tf.errors.InvalidArgumentError, match="shapes differ"):
        tf.debugging.assert_equal(tf.constant([1, 2]), [1, 3], message="shapes differ")
    with pytest.raises(ValueError):
        tf.debugging.assert_all_finite(tf.constant([np.inf]), "bad")
    tf.debugging.assert_near(tf.constant(1.0), 1.0 + 1e-9)
    buf = io.StringIO()
    tf.print("loss:", tf.constant([1.5, 2.0]), output_stream=buf)
    assert buf.getvalue() == "loss: [1.5 2. ]\n"
    assert tf.dtypes.float32 == tf.float32 == np.float32 and tf.as_dtype("int64") == tf.int64
    assert tf.cast(tf.constant([1.7, -1.7]), tf.int32).numpy().tolist() == [1, -1]
    assert tf.TensorShape([None, 3]).as_list() == [None, 3]


def test_tf_ops_on_keras_inputs_build_a_functional_model():
    inputs = keras.Input(shape=(4,))
    h = tf.reduce_mean(tf.square(inputs), axis=-1, keepdims=True)
    assert tuple(h.shape) == (None, 1)
    outputs = keras.layers.Dense(2)(tf.concat([inputs, h], axis=-1))
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    y = model(x)
    assert y.shape == (3, 2)
    assert isinstance(y.numpy(), np.ndarray)


def test_tf_ops_on_symbolic_tensors_are_recorded():
    from aiaas_core.ops.symbolic import KerasTensor
    inputs = KerasTensor((None, 4))
    h = tf.reduce_mean(tf.square(inputs), axis=-1, keepdims=True)
    assert isinstance(h, KerasTensor) and tuple(h.shape) == (None, 1)
    assert h.node.fn.__name__ == "reduce_mean"


def test_tf_nn_functions_are_layer_activations():
    layer = keras.layers.Dense(4, activation=tf.nn.relu)
    assert layer.activation == "relu"
    assert keras.layers.Dense(2, activation=keras.ops.sigmoid).activation == "sigmoid"
    with pytest.raises(TypeError, match="silu"):
        keras.layers.Dense(2, activation=tf.nn.swish)


def test_errors_name_the_tf_function():
    with pytest.raises(TypeError, match="reduce_mean"):
        tf.reduce_mean("abc")
    with pytest.raises(ValueError, match="sum: axis 3 .* rank 2"):
        tf.reduce_sum(tf.ones([2, 2]), axis=3)
    with pytest.raises(ValueError, match="matmul"):
        tf.matmul(tf.ones([2, 3]), tf.ones([2, 3]))


def test_beginner_quickstart_logic():
    """tensorflow/docs site/en/tutorials/quickstart/beginner.ipynb, on 8x8 digits-like local data."""
    rng = np.random.default_rng(0)
    x_train = rng.random((64, 8, 8)).astype(np.float32)
    y_train = rng.integers(0, 10, 64)
    tf.random.set_seed(0)
    model = tf.keras.models.Sequential([
        tf.keras.layers.Flatten(input_shape=(8, 8)),
        tf.keras.layers.Dense(32, activation="relu"),
        tf.keras.layers.Dropout(0.2),
        tf.keras.layers.Dense(10),
    ])
    predictions = model(x_train[:1]).numpy()
    assert isinstance(predictions, np.ndarray) and predictions.shape == (1, 10)
    probs = tf.nn.softmax(predictions).numpy()
    assert probs.shape == (1, 10) and abs(probs.sum() - 1) < 1e-5
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    loss = loss_fn(y_train[:1], predictions).numpy()
    z = predictions[0].astype(np.float64)
    expect = -(z[y_train[0]] - np.log(np.exp(z - z.max()).sum()) - z.max())
    assert abs(float(loss) - expect) < 1e-4
    model.compile(optimizer="adam", loss=loss_fn, metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    out = model.evaluate(x_train, y_train, verbose=0)
    assert np.isfinite(out).all()


def test_gradient_tape_training_loop_with_tf_names():
    """A hand-written loop in the style of the TF 'advanced' quickstart: tf.function step, tape,
    apply_gradients, trainable_variables."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, 5)).astype(np.float32)
    y = (x @ rng.normal(size=(5,)) > 0).astype(np.int64)
    tf.random.set_seed(1)
    model = tf.keras.Sequential([tf.keras.layers.Dense(16, activation=tf.nn.relu), tf.keras.layers.Dense(2)])
    model(x[:1])
    loss_object = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = tf.keras.optimizers.Adam(0.05)

    @tf.function
    def train_step(xb, yb):
        with tf.GradientTape() as tape:
            logits = model(xb, training=True)
            loss = loss_object(yb, logits) + 1e-4 * tf.add_n([tf.reduce_sum(tf.square(w))
                                                              for w in model.trainable_variables])
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    losses = [float(train_step(x, y)) for _ in range(30)]
    assert losses[-1] < losses[0] * 0.5


def test_tf_module_collects_variables_and_trains():
    """The TF guide's tf.Module pattern: variables found through attributes and sub-modules."""
    class Linear(tf.Module):
        def __init__(self, n_in, n_out, name=None):
            super().__init__(name=name)
            self.w = tf.Variable(tf.random.normal([n_in, n_out], seed=1), name="w")
            self.b = tf.Variable(tf.zeros([n_out]), name="b")
            self.frozen = tf.Variable(1.0, trainable=False)

        def __call__(self, x):
            return tf.matmul(x, self.w) + self.b

    class Stack(tf.Module):
        def __init__(self):
            super().__init__()
            self.layers = [Linear(3, 4), Linear(4, 1)]

        def __call__(self, x):
            return self.layers[1](tf.nn.relu(self.layers[0](x)))

    model = Stack()
    assert model.name == "stack" and len(model.submodules) == 2
    assert len(model.trainable_variables) == 4 and len(model.variables) == 6
    x = tf.constant(np.random.default_rng(0).normal(size=(16, 3)), tf.float32)
    y = tf.reduce_sum(x, axis=1, keepdims=True)
    losses = []
    for _ in range(40):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x) - y))
        grads = tape.gradient(loss, model.trainable_variables)
        for v, g in zip(model.trainable_variables, grads):
            v.assign_sub(0.05 * g)
        losses.append(float(loss))
    assert losses[-1] < losses[0] * 0.5


# ---- every TF spelling: value against numpy, gradient against finite differences (float64) -------
from test_ops import _erf, _np_elu, _np_gelu_tanh, _np_sigmoid, _np_softmax, check_grad, check_value, rand  # noqa: E402

TF_UNARY = [
    ("math.log", tf.math.log, np.log, (0.2, 3)), ("math.log1p", tf.math.log1p, np.log1p, (-0.5, 2)),
    ("exp", tf.exp, np.exp, (-2, 2)), ("math.expm1", tf.math.expm1, np.expm1, (-2, 2)),
    ("sqrt", tf.sqrt, np.sqrt, (0.2, 3)), ("math.rsqrt", tf.math.rsqrt, lambda x: 1 / np.sqrt(x), (0.2, 3)),
    ("square", tf.square, np.square, (-2, 2)), ("abs", tf.abs, np.abs, (0.1, 2)),
    ("math.reciprocal", tf.math.reciprocal, lambda x: 1 / x, (0.3, 2)), ("negative", tf.negative, np.negative, (-2, 2)),
    ("sin", tf.sin, np.sin, (-3, 3)), ("cos", tf.cos, np.cos, (-3, 3)), ("math.tan", tf.math.tan, np.tan, (-1, 1)),
    ("math.erf", tf.math.erf, _erf, (-2, 2)), ("sigmoid", tf.sigmoid, _np_sigmoid, (-4, 4)),
    ("tanh", tf.tanh, np.tanh, (-3, 3)), ("math.softplus", tf.math.softplus, lambda x: np.logaddexp(0, x), (-4, 4)),
    ("math.log_sigmoid", tf.math.log_sigmoid, lambda x: -np.logaddexp(0, -x), (-4, 4)),
    ("nn.relu", tf.nn.relu, lambda x: np.maximum(x, 0), (0.1, 2)), ("nn.relu6", tf.nn.relu6, lambda x: np.clip(x, 0, 6), (0.1, 5)),
    ("nn.leaky_relu", tf.nn.leaky_relu, lambda x: np.where(x > 0, x, 0.2 * x), (-2, -0.1)),
    ("nn.elu", tf.nn.elu, _np_elu, (-2, -0.1)), ("nn.selu", tf.nn.selu, lambda x: 1.0507009873554805 * _np_elu(x, 1.6732632423543772), (-2, -0.1)),
    ("nn.gelu", tf.nn.gelu, lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2))), (-3, 3)),
    ("nn.gelu_tanh", lambda x: tf.nn.gelu(x, approximate=True), _np_gelu_tanh, (-3, 3)),
    ("nn.silu", tf.nn.silu, lambda x: x * _np_sigmoid(x), (-3, 3)), ("nn.swish", tf.nn.swish, lambda x: x * _np_sigmoid(x), (-3, 3)),
    ("nn.softsign", tf.nn.softsign, lambda x: x / (1 + np.abs(x)), (0.1, 2)),
    ("nn.softmax", tf.nn.softmax, _np_softmax, (-2, 2)), ("nn.log_softmax", tf.nn.log_softmax, lambda x: np.log(_np_softmax(x)), (-2, 2)),
    ("math.l2_normalize", lambda x: tf.math.l2_normalize(x, axis=-1),
     lambda x: x / np.sqrt(np.maximum((x * x).sum(-1, keepdims=True), 1e-12)), (-2, 2)),
    ("nn.l2_normalize", lambda x: tf.nn.l2_normalize(x, axis=-1),
     lambda x: x / np.sqrt(np.maximum((x * x).sum(-1, keepdims=True), 1e-12)), (-2, 2)),
    ("math.sinh", tf.math.sinh, np.sinh, (-2, 2)), ("math.cosh", tf.math.cosh, np.cosh, (-2, 2)),
    ("math.atan", tf.math.atan, np.arctan, (-2, 2)),
    ("identity", tf.identity, lambda x: x, (-2, 2)), ("cast", lambda x: tf.cast(x, tf.float64), lambda x: x, (-2, 2)),
    ("clip_by_value", lambda x: tf.clip_by_value(x, -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5), (0.6, 2)),
    ("math.cumsum", lambda x: tf.math.cumsum(x, axis=1), lambda x: np.cumsum(x, axis=1), (-2, 2)),
    ("reverse", lambda x: tf.reverse(x, [0]), lambda x: x[::-1], (-2, 2)),
    ("transpose", tf.transpose, np.transpose, (-2, 2)),
    ("reshape", lambda x: tf.reshape(x, [-1]), lambda x: x.reshape(-1), (-2, 2)),
    ("expand_dims", lambda x: tf.expand_dims(x, 1), lambda x: x[:, None], (-2, 2)),
    ("tile", lambda x: tf.tile(x, [2, 1]), lambda x: np.tile(x, [2, 1]), (-2, 2)),
    ("pad", lambda x: tf.pad(x, [[1, 0], [0, 2]]), lambda x: np.pad(x, [[1, 0], [0, 2]]), (-2, 2)),
    ("gather", lambda x: tf.gather(x, [1, 1, 0]), lambda x: x[[1, 1, 0]], (-2, 2)),
    ("gather_nd", lambda x: tf.gather_nd(x, [[0, 1], [1, 2]]), lambda x: x[[0, 1], [1, 2]], (-2, 2)),
    ("sort", lambda x: tf.sort(x, direction="DESCENDING"), lambda x: -np.sort(-x, axis=-1), (-2, 2)),
    ("linalg.matrix_transpose", tf.linalg.matrix_transpose, lambda x: x.T, (-2, 2)),
    ("linalg.diag_part", tf.linalg.diag_part, np.diagonal, (-2, 2)),
    ("linalg.norm", tf.linalg.norm, np.linalg.norm, (-2, 2)),
    ("norm_1", lambda x: tf.norm(x, ord=1, axis=-1), lambda x: np.abs(x).sum(-1), (0.1, 2)),
    ("unstack", lambda x: tf.unstack(x, axis=1), lambda x: [x[:, i] for i in range(x.shape[1])], (-2, 2)),
    ("split", lambda x: tf.split(x, [1, 2], axis=1), lambda x: [x[:, :1], x[:, 1:]], (-2, 2)),
    ("stop_gradient_mix", lambda x: x * tf.stop_gradient(x), lambda x: x * x, (-2, 2)),
]


@pytest.mark.parametrize("name,fn,ref,domain", TF_UNARY, ids=[t[0] for t in TF_UNARY])
@pytest.mark.parametrize("shape", [(2, 3), (1, 3), (3, 3)])
def test_tf_unary_spellings(name, fn, ref, domain, shape):
    if name == "gather_nd" and shape[0] < 2 or name == "gather" and shape[0] < 2:
        pytest.skip("indices past the first axis")
    x = rand(shape, 3, *domain)
    out = fn(tf.constant(x))
    expect = ref(x)
    if isinstance(expect, list):
        assert len(out) == len(expect)
        for o, e in zip(out, expect):
            check_value(o, e, rtol=1e-9)
    else:
        check_value(out, expect, rtol=1e-9)
    if name == "stop_gradient_mix":
        x_t = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x_t)
            y = tf.reduce_sum(fn(x_t))
        np.testing.assert_allclose(tape.gradient(y, x_t).numpy(), x)
        return
    check_grad(fn, x)


TF_BINARY = [
    ("add", tf.add, np.add, (-2, 2)), ("subtract", tf.subtract, np.subtract, (-2, 2)),
    ("multiply", tf.multiply, np.multiply, (-2, 2)), ("divide", tf.divide, np.divide, (0.5, 2)),
    ("truediv", tf.truediv, np.divide, (0.5, 2)), ("pow", tf.pow, np.power, (0.5, 2)),
    ("maximum", tf.maximum, np.maximum, (-2, 2)), ("minimum", tf.minimum, np.minimum, (-2, 2)),
    ("math.squared_difference", tf.math.squared_difference, lambda a, b: (a - b) ** 2, (-2, 2)),
    ("math.divide_no_nan", tf.math.divide_no_nan, np.divide, (0.5, 2)),
    ("matmul", lambda a, b: tf.matmul(a, b, transpose_b=True), lambda a, b: a @ np.swapaxes(b, -1, -2), (-2, 2)),
    ("tensordot", lambda a, b: tf.tensordot(a, b, [[1], [1]]), lambda a, b: a @ b.T, (-2, 2)),
    ("linalg.matmul", lambda a, b: tf.linalg.matmul(a, b, transpose_b=True), lambda a, b: a @ b.T, (-2, 2)),
    ("einsum", lambda a, b: tf.einsum("ij,ij->j", a, b), lambda a, b: (a * b).sum(0), (-2, 2)),
    ("concat", lambda a, b: tf.concat([a, b], axis=0), lambda a, b: np.concatenate([a, b], 0), (-2, 2)),
    ("stack", lambda a, b: tf.stack([a, b], axis=1), lambda a, b: np.stack([a, b], 1), (-2, 2)),
    ("add_n", lambda a, b: tf.add_n([a, b, a]), lambda a, b: 2 * a + b, (-2, 2)),
    ("where", lambda a, b: tf.where(a > 0, a, b), lambda a, b: np.where(a > 0, a, b), (-2, 2)),
    ("nn.bias_add", lambda a, b: tf.nn.bias_add(a, b[0]), lambda a, b: a + b[0], (-2, 2)),
    ("nn.softmax_ce", lambda a, b: tf.nn.softmax_cross_entropy_with_logits(labels=tf.nn.softmax(b), logits=a),
     lambda a, b: -(_np_softmax(b) * np.log(_np_softmax(a))).sum(-1), (-2, 2)),
    ("nn.sigmoid_ce", lambda a, b: tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.sigmoid(b), logits=a),
     lambda a, b: -(_np_sigmoid(b) * np.log(_np_sigmoid(a)) + (1 - _np_sigmoid(b)) * np.log(1 - _np_sigmoid(a))), (-2, 2)),
]


@pytest.mark.parametrize("name,fn,ref,domain", TF_BINARY, ids=[t[0] for t in TF_BINARY])
def test_tf_binary_spellings(name, fn, ref, domain):
    a, b = rand((2, 3), 4, *domain), rand((2, 3), 5, *domain)
    check_value(fn(tf.constant(a), tf.constant(b)), ref(a, b), rtol=1e-9)
    wrt = [0] if name == "where" else None
    check_grad(fn, a, b, wrt=wrt)


@pytest.mark.parametrize("name", ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod",
                                  "reduce_logsumexp", "math.reduce_variance", "math.reduce_std",
                                  "math.reduce_euclidean_norm"])
@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, True), (-1, False), ([0, 1], True)])
def test_tf_reductions(name, axis, keepdims):
    fn = tf.math.__dict__[name.split(".")[-1]] if name.startswith("math.") else getattr(tf, name)
    ref = {"reduce_sum": np.sum, "reduce_mean": np.mean, "reduce_max": np.max, "reduce_min": np.min,
           "reduce_prod": np.prod, "math.reduce_variance": np.var, "math.reduce_std": np.std,
           "reduce_logsumexp": lambda x, axis, keepdims: np.log(np.exp(x).sum(axis=axis, keepdims=keepdims)),
           "math.reduce_euclidean_norm": lambda x, axis, keepdims: np.sqrt((x * x).sum(axis=axis, keepdims=keepdims))}[name]
    x = rand((2, 3), 6, 0.2, 2)
    ax = tuple(axis) if isinstance(axis, list) else axis
    check_value(fn(tf.constant(x), axis=axis, keepdims=keepdims), ref(x, axis=ax, keepdims=keepdims), rtol=1e-9)
    check_grad(lambda t: fn(t, axis=axis, keepdims=keepdims), x)
