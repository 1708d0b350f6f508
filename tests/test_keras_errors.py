"""Bad input: each a clear ValueError/TypeError naming what was wrong, raised before training."""

from __future__ import annotations

import numpy as np
import pytest

from aiaas_core import keras
from aiaas_core.keras import layers

RNG = np.random.default_rng(0)
X = RNG.standard_normal((20, 4)).astype(np.float32)
Y = RNG.integers(0, 3, 20)


def _model():
    m = keras.Sequential([layers.Dense(5, activation="relu", input_dim=4), layers.Dense(3, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def _untouched(model, before):
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("x,y,match", [
    (X, Y[:15], "same number of samples: x has 20, y has 15"),
    (X[:, :3], Y, r"expects x of shape \(None, 4\), got \(20, 3\)"),
    (X, Y + 1, r"class ids must be in \[0, 3\).*\[1, 3\]"),
    (X, Y - 1, r"class ids must be in \[0, 3\)"),
    (X, Y + 0.5, "integer class ids"),
    (np.where(np.arange(80).reshape(20, 4) == 7, np.nan, X), Y, "NaN or infinite"),
    (X, np.where(np.arange(20) == 3, np.inf, Y), "NaN or infinite"),
    (X, np.eye(3)[Y], "one class id per output row"),
    (X[0], Y[:1], "batch axis"),
])
def test_fit_rejects_bad_data_before_training(x, y, match):
    model = _model()
    before = model.get_weights()
    with pytest.raises(ValueError, match=match):
        model.fit(x, y, verbose=0)
    _untouched(model, before)
    assert model.optimizer.iterations == 0


def test_targets_that_do_not_match_the_output():
    m = keras.Sequential([layers.Dense(2, input_dim=4)])
    m.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"expected y of shape \(20, 2\)"):
        m.fit(X, np.zeros((20, 3)), verbose=0)
    m.compile("sgd", "categorical_crossentropy")
    with pytest.raises(ValueError, match="expected y of shape"):
        m.fit(X, Y, verbose=0)
    with pytest.raises(TypeError, match="numeric"):
        m.fit(X, np.array(["a"] * 20), verbose=0)
    with pytest.raises(TypeError, match="x must be a real numeric"):
        m.predict(np.array([["a"]]), verbose=0)


def test_evaluate_and_predict_check_inputs():
    model = _model()
    with pytest.raises(ValueError, match="same number of samples"):
        model.evaluate(X, Y[:3], verbose=0)
    with pytest.raises(ValueError, match=r"expects x of shape \(None, 4\)"):
        model.predict(np.zeros((2, 5)), verbose=0)
    with pytest.raises(ValueError, match="empty"):
        model.predict(np.zeros((0, 4)), verbose=0)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(optimizer="adamx", loss="mse"), ValueError, "unknown optimizer 'adamx'; known optimizers: adam, sgd, rmsprop, adamw"),
    (dict(optimizer="adam", loss="hingee"), ValueError, "unknown loss 'hingee'; known losses: mse"),
    (dict(optimizer="adam", loss="mse", metrics=["f1"]), ValueError, "unknown metric 'f1'; known metrics: accuracy"),
    (dict(optimizer=3, loss="mse"), TypeError, "optimizer must be a name"),
])
def test_compile_rejects_unknown_names(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        _model().compile(**kwargs)


def test_unknown_activation_and_bad_layer_arguments():
    with pytest.raises(ValueError, match="unknown activation 'swishy'; known activations: linear, relu"):
        layers.Dense(3, activation="swishy")
    with pytest.raises(ValueError, match="Dense units must be a positive int"):
        layers.Dense(0)
    with pytest.raises(ValueError, match="Conv2D kernel_size"):
        layers.Conv2D(2, (3, 3, 3))
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        layers.MaxPooling2D(padding="full")
    with pytest.raises(ValueError, match="Dropout rate"):
        layers.Dropout(1.5)
    with pytest.raises(TypeError, match="unexpected argument"):
        layers.Dense(3, unitz=4)
    with pytest.raises(ValueError, match="unknown initializer"):
        layers.Dense(3, kernel_initializer="magic")
    with pytest.raises(TypeError, match="keras layer"):
        keras.Sequential().add("Dense")
    with pytest.raises(ValueError, match=r"layer 0 \(Conv2D.*4-D inputs"):
        keras.Sequential([layers.Conv2D(2, 3, input_shape=(10,))])
    with pytest.raises(ValueError, match="smaller than the window"):
        keras.Sequential([keras.Input((2, 2, 1)), layers.Conv2D(2, 3)])


def test_predict_and_evaluate_before_build():
    # Keras 3 builds an unbuilt model on the data predict / evaluate get; summary() needs it built
    model = keras.Sequential([layers.Dense(2)])
    model.compile("adam", "mse")
    with pytest.raises(ValueError, match="not built yet"):
        model.summary()
    assert model.predict(X, verbose=0).shape == (20, 2)
    fresh = keras.Sequential([layers.Dense(2)])
    fresh.compile("adam", "mse")
    assert np.isfinite(fresh.evaluate(X, np.zeros((20, 2)), verbose=0))
    with pytest.raises(ValueError, match="compile the model first"):
        keras.Sequential([layers.Dense(2, input_dim=4)]).fit(X, np.zeros((20, 2)), verbose=0)


def test_set_weights_checks_count_and_shapes():
    model = _model()
    w = model.get_weights()
    with pytest.raises(ValueError, match="got 3 array"):
        model.set_weights(w[:3])
    with pytest.raises(ValueError, match=r"weight 2 \(kernel\) must have shape \(5, 3\), got \(3, 5\)"):
        model.set_weights(w[:2] + [w[2].T] + w[3:])
    with pytest.raises(ValueError, match="NaN"):
        model.set_weights(w[:3] + [np.full(3, np.nan)])
    _untouched(model, w)


def test_bad_fit_arguments():
    model = _model()
    for kwargs, match in ((dict(batch_size=0), "batch_size"), (dict(epochs=-1), "epochs"),
                          (dict(validation_split=1.0), "validation_split"), (dict(verbose=5), "verbose"),
                          (dict(validation_data=(X,)), "validation_data")):
        with pytest.raises(ValueError, match=match):
            model.fit(X, Y, **kwargs)
    with pytest.raises(TypeError, match="callbacks"):
        model.fit(X, Y, verbose=0, callbacks=[print])


class _NumpyInCall(keras.Model):
    def __init__(self):
        super().__init__()
        self.a = layers.Dense(3)
        self.b = layers.Dense(1)

    def call(self, x):
        h = self.a(x)
        return self.b(np.concatenate([h, h], axis=-1))  # not recorded: a's weights get no gradient


class _ArithmeticInCall(_NumpyInCall):
    def call(self, x):
        return self.b(self.a(x) * 2.0 - 1.0)  # operators on tensors are recorded


def test_subclassed_call_with_unrecorded_numpy_functions_is_a_clear_error():
    model = _NumpyInCall()
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="cannot backpropagate through layer 'dense.*np.concatenate"):
        model.fit(X, np.zeros(20), verbose=0)
    assert model.optimizer.iterations == 0


def test_compile_without_a_loss_fails_at_fit_naming_what_is_missing():
    model = keras.Sequential([layers.Dense(1, input_dim=4)])
    model.compile("adam")  # allowed: a model may compute its own loss (add_loss, train_step)
    with pytest.raises(ValueError, match="has no loss: compile it with loss="):
        model.fit(X, np.zeros(20), verbose=0)


def test_operators_between_layers_train_with_exact_gradients():
    model = _ArithmeticInCall()
    model(X[:1])
    from aiaas_core import ops
    with ops.GradientTape() as tape:
        loss = ops.mean(ops.square(model(X)[:, 0]))
    grads = tape.gradient(loss, model.trainable_variables)
    # finite differences on the first kernel entry, in float64
    w = model.a.kernel
    base = w.numpy()

    def f(v):
        w.assign(v)
        out = np.asarray(model(X), np.float64)[:, 0]
        return float(np.mean(out ** 2))
    eps = 1e-2
    bumped = base.copy(); bumped[0, 0] += eps
    lowered = base.copy(); lowered[0, 0] -= eps
    fd = (f(bumped) - f(lowered)) / (2 * eps)
    w.assign(base)
    assert abs(float(np.asarray(grads[0])[0, 0]) - fd) < 1e-3 * max(1.0, abs(fd))


def test_optimizer_and_seed_arguments():
    with pytest.raises(ValueError, match="learning_rate"):
        keras.optimizers.Adam(learning_rate=-1)
    with pytest.raises(ValueError, match="at most one of"):
        keras.optimizers.SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(TypeError, match="seed must be an int"):
        keras.utils.set_random_seed("1")
    with pytest.raises(ValueError, match="out of range"):
        keras.utils.to_categorical([0, 3], num_classes=3)
