"""keras.regularizers (L1, L2, L1L2 and their function names) and keras.constraints on Dense and
Conv2D: penalties in `layer.losses`, added to the training loss and differentiated through the
tape; activity penalties per call; constraints projected after each optimizer update; configs and
saved models keep them. `fit(class_weight=...)` weighs each sample by its class."""

from __future__ import annotations

import numpy as np
import pytest

import aiaas_core as tf
from aiaas_core import keras
from aiaas_core.keras import constraints, layers, regularizers

RNG = np.random.default_rng(5)


def test_regularizer_values_names_and_configs():
    w = RNG.standard_normal((3, 4))
    assert float(regularizers.L1(0.1)(w)) == pytest.approx(0.1 * np.abs(w).sum())
    assert float(regularizers.l2(0.2)(w)) == pytest.approx(0.2 * (w ** 2).sum())
    assert float(regularizers.l1_l2(l1=0.1, l2=0.2)(w)) == pytest.approx(0.1 * np.abs(w).sum() + 0.2 * (w ** 2).sum())
    assert regularizers.get("l2").l2 == 0.01 and regularizers.get("l1").l1 == 0.01
    r = regularizers.deserialize(regularizers.serialize(regularizers.L1L2(0.3, 0.4)))
    assert (type(r), r.l1, r.l2) == (regularizers.L1L2, 0.3, 0.4)
    with pytest.raises(ValueError, match="l2"):
        regularizers.L2(-1)
    with pytest.raises(ValueError, match="unknown regularizer"):
        regularizers.get("l3")


def test_penalties_are_in_losses_and_their_gradient_is_exact():
    keras.utils.set_random_seed(0)
    dense = layers.Dense(3, kernel_regularizer=regularizers.L2(0.1), bias_regularizer="l1",
                         activity_regularizer=regularizers.L1(0.05), bias_initializer="ones")
    x = RNG.standard_normal((4, 5)).astype(np.float32)
    with tf.GradientTape() as tape:
        y = dense(x)
        total = tf.add_n(dense.losses) if hasattr(tf, "add_n") else sum(dense.losses)
    k, b = dense.kernel.value.astype(np.float64), dense.bias.value.astype(np.float64)
    out = x.astype(np.float64) @ k + b
    want = 0.1 * (k ** 2).sum() + 0.01 * np.abs(b).sum() + 0.05 * np.abs(out).sum()
    assert len(dense.losses) == 3 and float(total) == pytest.approx(want, rel=1e-5)
    gk, gb = tape.gradient(total, [dense.kernel, dense.bias])
    want_gk = 0.2 * k + x.T.astype(np.float64) @ (0.05 * np.sign(out))
    want_gb = 0.01 * np.sign(b) + (0.05 * np.sign(out)).sum(0)
    np.testing.assert_allclose(np.asarray(gk), want_gk, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(gb), want_gb, rtol=1e-5, atol=1e-6)
    dense(x)  # a new call replaces the activity penalty of the last one
    assert len(dense.losses) == 3


def test_fit_adds_the_penalty_to_the_loss():
    x = RNG.standard_normal((16, 4)).astype(np.float32)
    y = RNG.standard_normal((16, 2)).astype(np.float32)
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((4,)), layers.Dense(2, kernel_regularizer=regularizers.L2(0.5))])
    model.compile("sgd", "mse")
    k = model.layers[0].kernel.value.astype(np.float64)
    b = model.layers[0].bias.value.astype(np.float64)
    want = ((x @ k + b - y) ** 2).mean() + 0.5 * (k ** 2).sum()
    assert model.evaluate(x, y, verbose=0) == pytest.approx(want, rel=1e-5)
    # one SGD step on the whole batch follows the gradient of loss + penalty
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    grad_k = 2 * x.T.astype(np.float64) @ (x @ k + b - y) / y.size + 1.0 * k
    np.testing.assert_allclose(model.layers[0].kernel.value, k - 0.01 * grad_k, rtol=1e-4, atol=1e-6)


def test_conv2d_regularizers_and_config_round_trip(tmp_path):
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((6, 6, 2)),
                              layers.Conv2D(3, 3, kernel_regularizer="l2", kernel_constraint="non_neg",
                                            activity_regularizer=regularizers.L1(1e-3)),
                              layers.Flatten(), layers.Dense(1, bias_constraint=constraints.MaxNorm(0.1))])
    model.compile("adam", "mse")
    x = RNG.standard_normal((8, 6, 6, 2)).astype(np.float32)
    y = RNG.standard_normal((8, 1)).astype(np.float32)
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert (model.layers[0].kernel.value >= 0).all()
    assert abs(float(model.layers[2].bias.value[0])) <= 0.1 + 1e-6
    cfg = model.layers[0].get_config()
    assert cfg["kernel_regularizer"]["class_name"] == "L2" and cfg["kernel_constraint"]["class_name"] == "NonNeg"
    again = layers.Conv2D.from_config(cfg)
    assert again.kernel_regularizer.l2 == 0.01 and isinstance(again.kernel_constraint, constraints.NonNeg)
    model.save(tmp_path / "m.keras")
    loaded = tf.load_model(tmp_path / "m.keras")
    assert loaded.layers[0].activity_regularizer.l1 == pytest.approx(1e-3)
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)


def test_constraints_match_keras_formulas():
    w = RNG.standard_normal((4, 3)) * 3
    norms = np.sqrt((w ** 2).sum(0, keepdims=True))
    np.testing.assert_allclose(constraints.MaxNorm(2.0)(w), w * np.clip(norms, 0, 2) / (1e-7 + norms))
    np.testing.assert_allclose(constraints.NonNeg()(w), np.where(w >= 0, w, 0))
    np.testing.assert_allclose(constraints.UnitNorm(axis=1)(w), w / (1e-7 + np.sqrt((w ** 2).sum(1, keepdims=True))))
    c = constraints.deserialize(constraints.serialize(constraints.MaxNorm(3, axis=[0, 1])))
    assert c.get_config() == {"max_value": 3, "axis": [0, 1]}
    with pytest.raises(ValueError, match="unknown constraint"):
        constraints.get("positive")


def test_other_layers_still_refuse_regularizers_with_a_clear_error():
    with pytest.raises(ValueError, match="LSTM: kernel_regularizer not supported"):
        layers.LSTM(2, kernel_regularizer="l2")
    with pytest.raises(ValueError, match="Dense: kernel_regularizer: unknown regularizer"):
        layers.Dense(2, kernel_regularizer="l3")


@pytest.mark.parametrize("one_hot", [False, True])
def test_class_weight_equals_the_matching_sample_weight(one_hot):
    x = RNG.standard_normal((30, 4)).astype(np.float32)
    ids = RNG.integers(0, 3, 30)
    y = np.eye(3, dtype=np.float32)[ids] if one_hot else ids
    loss = "categorical_crossentropy" if one_hot else "sparse_categorical_crossentropy"
    cw = {0: 1.0, 1: 3.0, 2: 0.5}

    def run(**kw):
        keras.utils.set_random_seed(4)
        model = keras.Sequential([keras.Input((4,)), layers.Dense(3, activation="softmax")])
        model.compile("adam", loss, ["accuracy"])
        return model.fit(x, y, epochs=2, batch_size=10, verbose=0, **kw).history, model.get_weights()

    by_class, w1 = run(class_weight=cw)
    by_sample, w2 = run(sample_weight=np.array([cw[i] for i in ids], np.float32))
    assert by_class == by_sample
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    plain, _ = run()
    assert plain["loss"] != by_class["loss"]
    # with sample weights too, the two multiply; a class not in the dict weighs 1
    sw = RNG.uniform(0.5, 1.5, 30).astype(np.float32)
    both, _ = run(class_weight={1: 3.0}, sample_weight=sw)
    manual, _ = run(sample_weight=sw * np.where(ids == 1, 3.0, 1.0).astype(np.float32))
    assert both == manual


def test_class_weight_errors_name_the_problem():
    x = RNG.standard_normal((6, 4)).astype(np.float32)
    y = RNG.integers(0, 2, 6).astype(np.float32)
    model = keras.Sequential([keras.Input((4,)), layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    with pytest.raises(TypeError, match="class_weight must be a dict"):
        model.fit(x, y, class_weight=[1, 2], verbose=0)
    with pytest.raises(ValueError, match="class_weight\\[1\\]"):
        model.fit(x, y, class_weight={0: 1.0, 1: -2.0}, verbose=0)
    model.fit(x, y, class_weight={0: 1.0, 1: 2.0}, verbose=0)  # binary labels in a (n, 1) output


def test_class_weight_with_a_dataset_weighs_each_batch():
    x = RNG.standard_normal((24, 4)).astype(np.float32)
    ids = RNG.integers(0, 2, 24)
    cw = {0: 0.5, 1: 2.0}

    def run(data, **kw):
        keras.utils.set_random_seed(4)
        model = keras.Sequential([keras.Input((4,)), layers.Dense(2, activation="softmax")])
        model.compile("sgd", "sparse_categorical_crossentropy")
        return model.fit(data, epochs=2, verbose=0, **kw).history

    by_class = run(tf.data.Dataset.from_tensor_slices((x, ids)).batch(8), class_weight=cw)
    w = np.array([cw[i] for i in ids], np.float32)
    by_sample = run(tf.data.Dataset.from_tensor_slices((x, ids, w)).batch(8))
    assert by_class == by_sample
