"""Keras 3's other losses (Huber, LogCosh, KLDivergence, CosineSimilarity, Poisson, the hinges, MSLE,
MAPE) and label smoothing: values against float64 numpy transcriptions of Keras's formulas,
gradients (through the op tape, in float64) against central finite differences, names and configs
as compile and saving use them."""

from __future__ import annotations

import numpy as np
import pytest

from aiaas_core import keras, ops
from aiaas_core.keras import losses

EPS = 1e-7


def _np_l2n(x, axis):
    return x / np.sqrt(np.maximum((x * x).sum(axis, keepdims=True), EPS))


REF = {  # Keras 3's formulas in float64, one value per sample
    "huber": lambda t, p: np.where(np.abs(p - t) <= 1.0, 0.5 * (p - t) ** 2, np.abs(p - t) - 0.5).mean(-1),
    "log_cosh": lambda t, p: np.log(np.cosh(p - t)).mean(-1),
    "kl_divergence": lambda t, p: (np.clip(t, EPS, 1) * np.log(np.clip(t, EPS, 1) / np.clip(p, EPS, 1))).sum(-1),
    "cosine_similarity": lambda t, p: -(_np_l2n(t, -1) * _np_l2n(p, -1)).sum(-1),
    "poisson": lambda t, p: (p - t * np.log(p + EPS)).mean(-1),
    "hinge": lambda t, p: np.maximum(1 - (2 * t - 1) * p, 0).mean(-1),
    "squared_hinge": lambda t, p: (np.maximum(1 - (2 * t - 1) * p, 0) ** 2).mean(-1),
    "categorical_hinge": lambda t, p: np.maximum(((1 - t) * p).max(-1) - (t * p).sum(-1) + 1, 0),
    "mean_squared_logarithmic_error": lambda t, p: ((np.log(np.maximum(p, EPS) + 1) - np.log(np.maximum(t, EPS) + 1)) ** 2).mean(-1),
    "mean_absolute_percentage_error": lambda t, p: 100 * (np.abs(t - p) / np.maximum(np.abs(t), EPS)).mean(-1),
}
CLASSES = {"huber": losses.Huber, "log_cosh": losses.LogCosh, "kl_divergence": losses.KLDivergence,
           "cosine_similarity": losses.CosineSimilarity, "poisson": losses.Poisson, "hinge": losses.Hinge,
           "squared_hinge": losses.SquaredHinge, "categorical_hinge": losses.CategoricalHinge,
           "mean_squared_logarithmic_error": losses.MeanSquaredLogarithmicError,
           "mean_absolute_percentage_error": losses.MeanAbsolutePercentageError}


def _data(name, seed=0, shape=(6, 4)):
    rng = np.random.default_rng(seed)
    if name in ("hinge", "squared_hinge"):
        t = rng.integers(0, 2, shape).astype(np.float64)
        p = rng.standard_normal(shape) * 0.8
    elif name == "categorical_hinge":
        t = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[0])]
        p = rng.standard_normal(shape)
    elif name in ("kl_divergence", "poisson"):
        t = rng.dirichlet(np.ones(shape[-1]), shape[0])
        p = rng.dirichlet(np.ones(shape[-1]), shape[0])
    elif name == "mean_absolute_percentage_error":
        t = rng.uniform(0.5, 2.0, shape) * rng.choice([-1, 1], shape)
        p = rng.standard_normal(shape)
    else:
        t = rng.standard_normal(shape)
        p = rng.standard_normal(shape) * 1.5
        if name == "mean_squared_logarithmic_error":
            t, p = np.abs(t), np.abs(p)
    return t, p


def _loss64(fn, t, p):
    return float(np.asarray(fn(t, ops.convert_to_tensor(p)), np.float64).mean())


@pytest.mark.parametrize("name", sorted(REF))
def test_values_match_keras_formulas_in_float64(name):
    t, p = _data(name)
    fn = getattr(losses, name)
    got = np.asarray(fn(t, ops.convert_to_tensor(p)), np.float64)
    np.testing.assert_allclose(got, REF[name](t, p), rtol=1e-10, atol=1e-12)
    # the class gives the batch mean, in float32
    val = float(CLASSES[name]()(t.astype(np.float32), p.astype(np.float32)))
    assert val == pytest.approx(REF[name](t, p).mean(), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", sorted(REF))
def test_gradients_match_finite_differences(name):
    t, p = _data(name, seed=3)
    fn = getattr(losses, name)
    var = ops.convert_to_tensor(p)
    with _tape() as tape:
        tape.watch(var)
        loss = ops.mean(fn(t, var))
    grad = np.asarray(tape.gradient(loss, var), np.float64)
    num = np.zeros_like(p)
    h = 1e-6
    for idx in np.ndindex(p.shape):
        hi, lo = p.copy(), p.copy()
        hi[idx] += h
        lo[idx] -= h
        num[idx] = (REF[name](t, hi).mean() - REF[name](t, lo).mean()) / (2 * h)
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-7)


def _tape():
    import aiaas_core as tf
    return tf.GradientTape()


def test_huber_delta_and_cosine_axis():
    t, p = _data("huber")
    got = np.asarray(losses.huber(t, ops.convert_to_tensor(p), delta=0.3), np.float64)
    e = np.abs(p - t)
    np.testing.assert_allclose(got, np.where(e <= 0.3, 0.5 * e * e, 0.3 * e - 0.045).mean(-1), rtol=1e-10)
    got = np.asarray(losses.cosine_similarity(t, ops.convert_to_tensor(p), axis=0), np.float64)
    np.testing.assert_allclose(got, -(_np_l2n(t, 0) * _np_l2n(p, 0)).sum(0), rtol=1e-10)
    assert losses.Huber(delta=0.3).get_config() == {"name": "huber_loss", "delta": 0.3}


@pytest.mark.parametrize("smoothing", [0.1, 0.3])
def test_label_smoothing(smoothing):
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((5, 3))
    t = np.eye(3)[rng.integers(0, 3, 5)]
    ts = t * (1 - smoothing) + smoothing / 3
    ls = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    cce = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smoothing)
    assert float(cce(t.astype(np.float32), logits.astype(np.float32))) == pytest.approx(-(ts * ls).sum(-1).mean(), rel=1e-5)
    tb = rng.integers(0, 2, (5, 3)).astype(np.float64)
    tbs = tb * (1 - smoothing) + 0.5 * smoothing
    pb = 1 / (1 + np.exp(-logits))
    want = -(tbs * np.log(pb) + (1 - tbs) * np.log(1 - pb)).mean()
    bce = losses.BinaryCrossentropy(label_smoothing=smoothing)
    assert float(bce(tb.astype(np.float32), pb.astype(np.float32))) == pytest.approx(want, rel=1e-5)
    assert losses.deserialize(losses.serialize(bce)).label_smoothing == smoothing
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.BinaryCrossentropy(label_smoothing=1.5)


def test_label_smoothing_trains_through_the_tape_and_differs_from_hard_targets():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 32)]

    def hist(loss):
        keras.utils.set_random_seed(1)
        m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
        m.compile("sgd", loss=loss)
        return m.fit(x, y, epochs=2, batch_size=8, verbose=0).history["loss"]

    smooth = hist(losses.CategoricalCrossentropy(label_smoothing=0.2))
    hard = hist(losses.CategoricalCrossentropy())
    assert np.isfinite(smooth).all() and smooth != hard


@pytest.mark.parametrize("name,alias", [("huber", losses.huber), ("log_cosh", "logcosh"), ("kld", losses.kld),
                                        ("msle", losses.MSLE), ("mape", "MAPE"), ("poisson", losses.Poisson()),
                                        ("cosine_similarity", losses.CosineSimilarity(axis=-1)),
                                        ("hinge", "Hinge"), ("squared_hinge", losses.squared_hinge),
                                        ("categorical_hinge", "categorical_hinge"),
                                        ("kl_divergence", losses.KLDivergence())])
def test_compile_by_name_and_object_trains_and_saves(tmp_path, name, alias):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((24, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 24)]
    results = []
    for spec in (name, alias):
        keras.utils.set_random_seed(3)
        m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
        m.compile("adam", loss=spec)
        results.append(m.fit(x, y, epochs=2, batch_size=8, verbose=0).history["loss"])
    assert results[0] == results[1] and np.isfinite(results[0]).all()
    m.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.loss) is type(m.loss)
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(m.evaluate(x, y, verbose=0), rel=1e-6)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="delta"):
        losses.Huber(delta=-1)
    with pytest.raises(TypeError, match="axis"):
        losses.CosineSimilarity(axis="x")
    with pytest.raises(ValueError, match="same shape"):
        losses.huber(np.zeros((2, 3)), ops.convert_to_tensor(np.zeros((2, 4))))
    with pytest.raises(ValueError, match="unknown loss"):
        losses.get("hubber")
