"""Keras 3's other optimizers (Adagrad, Adadelta, Adamax, Nadam, Lion, Ftrl), Adam's amsgrad, EMA
and LearningRateSchedule objects: updates against float64 transcriptions of Keras 3's update
formulas over several steps; schedules against their documented formulas; configs round-trip; a
model saved mid-training resumes exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest

import aiaas_core as tf
from aiaas_core import keras
from aiaas_core.keras import layers, optimizers
from aiaas_core.keras.optimizers import schedules


def _ref_steps(name, p, grads, **kw):
    """Keras 3's update_step, in float64, applied once per gradient in `grads`."""
    p = p.astype(np.float64).copy()
    lr = kw.get("learning_rate", 0.001)
    st = {}
    for t, g in enumerate(grads, start=1):
        g = g.astype(np.float64)
        if name == "adagrad":
            acc = st.setdefault("acc", np.full_like(p, kw.get("initial_accumulator_value", 0.1)))
            acc += g * g
            p -= lr * g / np.sqrt(acc + 1e-7)
        elif name == "adadelta":
            rho, eps = kw.get("rho", 0.95), 1e-7
            ag = st.setdefault("ag", np.zeros_like(p))
            ad = st.setdefault("ad", np.zeros_like(p))
            ag[:] = rho * ag + (1 - rho) * g * g
            d = -np.sqrt(ad + eps) * g / np.sqrt(ag + eps)
            ad[:] = rho * ad + (1 - rho) * d * d
            p += lr * d
        elif name == "adamax":
            m = st.setdefault("m", np.zeros_like(p))
            u = st.setdefault("u", np.zeros_like(p))
            m += (g - m) * 0.1
            u[:] = np.maximum(0.999 * u, np.abs(g))
            p -= lr * m / ((1 - 0.9 ** t) * (u + 1e-7))
        elif name == "nadam":
            m = st.setdefault("m", np.zeros_like(p))
            v = st.setdefault("v", np.zeros_like(p))
            u_t = 0.9 * (1 - 0.5 * 0.96 ** t)
            u_t1 = 0.9 * (1 - 0.5 * 0.96 ** (t + 1))
            st["up"] = st.get("up", 1.0) * u_t
            up1 = st["up"] * u_t1
            m += (g - m) * 0.1
            v += (g * g - v) * 0.001
            m_hat = u_t1 * m / (1 - up1) + (1 - u_t) * g / (1 - st["up"])
            v_hat = v / (1 - 0.999 ** t)
            p -= lr * m_hat / (np.sqrt(v_hat) + 1e-7)
        elif name == "lion":
            m = st.setdefault("m", np.zeros_like(p))
            p -= lr * np.sign(m * 0.9 + g * 0.1)
            m[:] = m * 0.99 + g * 0.01
        elif name == "ftrl":
            l1, l2, shrink = kw.get("l1_regularization_strength", 0.0), kw.get("l2_regularization_strength", 0.0), \
                kw.get("l2_shrinkage_regularization_strength", 0.0)
            acc = st.setdefault("acc", np.full_like(p, 0.1))
            lin = st.setdefault("lin", np.zeros_like(p))
            gs = g + 2 * shrink * p
            new_acc = acc + g * g
            lin += gs - (new_acc ** 0.5 - acc ** 0.5) / lr * p
            quad = new_acc ** 0.5 / lr + 2 * l2
            p = (np.clip(lin, -l1, l1) - lin) / quad
            acc[:] = new_acc
        elif name == "adam_amsgrad":
            m = st.setdefault("m", np.zeros_like(p))
            v = st.setdefault("v", np.zeros_like(p))
            vh = st.setdefault("vh", np.zeros_like(p))
            m += (g - m) * 0.1
            v += (g * g - v) * 0.001
            vh[:] = np.maximum(vh, v)
            p -= lr * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * m / (np.sqrt(vh) + 1e-7)
    return p


CASES = [
    ("adagrad", optimizers.Adagrad, {"learning_rate": 0.1}),
    ("adadelta", optimizers.Adadelta, {"learning_rate": 1.0}),
    ("adamax", optimizers.Adamax, {"learning_rate": 0.01}),
    ("nadam", optimizers.Nadam, {"learning_rate": 0.01}),
    ("lion", optimizers.Lion, {"learning_rate": 0.01}),
    ("ftrl", optimizers.Ftrl, {"learning_rate": 0.1, "l1_regularization_strength": 0.01,
                               "l2_regularization_strength": 0.02, "l2_shrinkage_regularization_strength": 0.01}),
    ("adam_amsgrad", lambda **kw: optimizers.Adam(amsgrad=True, **kw), {"learning_rate": 0.01}),
]


@pytest.mark.parametrize("name,make,kw", CASES, ids=[c[0] for c in CASES])
def test_updates_match_keras_formulas_over_several_steps(name, make, kw):
    rng = np.random.default_rng(1)
    p0 = rng.standard_normal((4, 3)).astype(np.float32)
    # the gradients shrink and change sign so that amsgrad's max, Lion's sign and Ftrl's clip all act
    grads = [(rng.standard_normal((4, 3)) * (1.5 if t < 3 else 0.2)).astype(np.float32) for t in range(6)]
    opt = make(**kw)
    var = tf.Variable(p0.copy())
    for g in grads:
        opt.apply_gradients([(g, var)])
    want = _ref_steps(name, p0, grads, **kw)
    np.testing.assert_allclose(np.asarray(var.value), want, rtol=2e-5, atol=2e-6)
    assert opt.iterations == 6


@pytest.mark.parametrize("name,make,kw", CASES[:-1], ids=[c[0] for c in CASES[:-1]])
def test_defaults_names_and_config_round_trip(name, make, kw):
    opt = optimizers.get(name)
    assert type(opt) is make and opt.learning_rate == pytest.approx(0.001)
    again = optimizers.deserialize(optimizers.serialize(make(**kw)))
    assert again.get_config() == make(**kw).get_config()


def test_keras3_defaults():
    assert optimizers.Adadelta().rho == 0.95 and optimizers.Adagrad().initial_accumulator_value == 0.1
    assert (optimizers.Lion().beta_1, optimizers.Lion().beta_2) == (0.9, 0.99)
    f = optimizers.Ftrl()
    assert (f.learning_rate_power, f.initial_accumulator_value, f.beta) == (-0.5, 0.1, 0.0)


def test_ema_averages_and_overwrites():
    rng = np.random.default_rng(2)
    p0 = rng.standard_normal(5).astype(np.float32)
    grads = [rng.standard_normal(5).astype(np.float32) for _ in range(4)]
    opt = optimizers.SGD(learning_rate=0.1, use_ema=True, ema_momentum=0.9)
    var = tf.Variable(p0.copy())
    p, avg = p0.astype(np.float64), None
    for t, g in enumerate(grads):
        opt.apply_gradients([(g, var)])
        p = p - 0.1 * g
        avg = p.copy() if t == 0 else 0.9 * avg + 0.1 * p  # Keras: momentum 0 on the first step
    np.testing.assert_allclose(opt.variables_dict()["average.0"], avg, rtol=1e-5)
    opt.finalize_variable_values([var])
    np.testing.assert_allclose(np.asarray(var.value), avg, rtol=1e-5)
    o2 = optimizers.SGD(learning_rate=0.1, use_ema=True, ema_overwrite_frequency=2)
    v2 = tf.Variable(p0.copy())
    o2.apply_gradients([(grads[0], v2)])
    o2.apply_gradients([(grads[1], v2)])
    np.testing.assert_array_equal(np.asarray(v2.value), o2.variables_dict()["average.0"])


def test_schedules_follow_keras_formulas():
    e = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert e(5) == pytest.approx(0.1 * 0.5 ** 0.5)
    assert schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True)(15) == pytest.approx(0.05)
    pc = schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert [pc(s) for s in (0, 10, 11, 20, 21)] == [1.0, 1.0, 0.5, 0.5, 0.1]
    assert schedules.InverseTimeDecay(0.1, 10, 0.5)(20) == pytest.approx(0.1 / 2)
    pd = schedules.PolynomialDecay(0.1, 10, end_learning_rate=0.01, power=2.0)
    assert pd(5) == pytest.approx(0.09 * 0.25 + 0.01) and pd(50) == pytest.approx(0.01)
    assert schedules.PolynomialDecay(0.1, 10, 0.0, cycle=True)(15) == pytest.approx(0.1 * (1 - 15 / 20))
    c = schedules.CosineDecay(0.1, 100, alpha=0.1)
    assert c(0) == pytest.approx(0.1) and c(100) == pytest.approx(0.01) and c(500) == pytest.approx(0.01)
    assert c(50) == pytest.approx(0.1 * (0.9 * 0.5 + 0.1))
    w = schedules.CosineDecay(0.0, 100, warmup_target=0.2, warmup_steps=10)
    assert w(5) == pytest.approx(0.1) and w(10) == pytest.approx(0.2) and w(60) == pytest.approx(0.1)
    r = schedules.CosineDecayRestarts(0.1, 10, t_mul=2.0, m_mul=0.5)
    assert r(0) == pytest.approx(0.1) and r(10) == pytest.approx(0.05)  # second period starts at half the peak
    assert r(20) == pytest.approx(0.05 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    r1 = schedules.CosineDecayRestarts(0.1, 10, t_mul=1.0)
    assert r1(15) == pytest.approx(r1(5))
    for s in (e, pc, pd, c, w, r):
        back = schedules.deserialize(schedules.serialize(s))
        assert type(back) is type(s) and back(7) == pytest.approx(s(7))


def test_a_schedule_is_read_at_the_iteration_of_each_step():
    sched = schedules.PiecewiseConstantDecay([0, 1], [0.5, 0.25, 0.125])  # steps 0, 1, then 2+
    opt = optimizers.SGD(learning_rate=sched)
    var = tf.Variable(np.zeros(1, np.float32))
    for _ in range(3):
        opt.apply_gradients([(np.ones(1, np.float32), var)])
    assert float(var.value[0]) == pytest.approx(-(0.5 + 0.25 + 0.125))
    assert opt.learning_rate == pytest.approx(0.125)
    with pytest.raises(TypeError, match="not settable"):
        opt.learning_rate = 0.1


def _resume_matches(tmp_path, make_opt):
    x = np.random.default_rng(3).normal(size=(40, 4)).astype(np.float32)
    y = (x @ np.array([[1.0], [-1.0], [0.5], [2.0]], np.float32)).astype(np.float32)

    def fresh():
        keras.utils.set_random_seed(11)
        model = keras.Sequential([keras.Input((4,)), layers.Dense(5, activation="tanh"), layers.Dense(1)])
        model.compile(make_opt(), "mse", ["mae"])
        return model

    straight = fresh()
    want = straight.fit(x, y, epochs=3, batch_size=8, verbose=0).history
    first = fresh()
    got = first.fit(x, y, epochs=2, batch_size=8, verbose=0).history
    first.save(tmp_path / "ckpt.keras")
    resumed = tf.load_model(tmp_path / "ckpt.keras")
    assert type(resumed.optimizer) is type(first.optimizer)
    more = resumed.fit(x, y, epochs=3, initial_epoch=2, batch_size=8, verbose=0).history
    assert {k: got[k] + more[k] for k in got} == want
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("make_opt", [
    lambda: optimizers.Adagrad(learning_rate=0.05),
    lambda: optimizers.Adadelta(learning_rate=1.0),
    lambda: optimizers.Adamax(learning_rate=0.01),
    lambda: optimizers.Nadam(learning_rate=0.01),
    lambda: optimizers.Lion(learning_rate=0.003),
    lambda: optimizers.Ftrl(learning_rate=0.05, l1_regularization_strength=0.001),
    lambda: optimizers.Adam(learning_rate=0.01, amsgrad=True),
    lambda: optimizers.Adam(learning_rate=schedules.CosineDecay(0.0, 20, warmup_target=0.02, warmup_steps=5)),
    lambda: optimizers.SGD(learning_rate=schedules.ExponentialDecay(0.05, 4, 0.8, staircase=True), momentum=0.9),
], ids=["adagrad", "adadelta", "adamax", "nadam", "lion", "ftrl", "amsgrad", "cosine_warmup", "exp_decay"])
def test_fit_2_save_load_fit_1_equals_fit_3(tmp_path, make_opt):
    _resume_matches(tmp_path, make_opt)


def test_ema_model_saves_its_averages_and_finalizes_at_the_end_of_fit(tmp_path):
    x = np.random.default_rng(3).normal(size=(40, 4)).astype(np.float32)
    y = x[:, :1] * 2
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((4,)), layers.Dense(1)])
    model.compile(optimizers.Adam(0.01, use_ema=True), "mse")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    avg = model.optimizer.variables_dict()
    np.testing.assert_array_equal(model.get_weights()[0], avg["average.0"])
    model.save(tmp_path / "m.keras")
    loaded = tf.load_model(tmp_path / "m.keras")
    assert loaded.optimizer.use_ema and set(loaded.optimizer.variables_dict()) == set(avg)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="rho"):
        optimizers.Adadelta(rho=2)
    with pytest.raises(ValueError, match="beta_1"):
        optimizers.Lion(beta_1=0.0)
    with pytest.raises(ValueError, match="learning_rate_power"):
        optimizers.Ftrl(learning_rate_power=0.5)
    with pytest.raises(TypeError, match="amsgrad"):
        optimizers.Adam(amsgrad="yes")
    with pytest.raises(ValueError, match="ema_overwrite_frequency"):
        optimizers.SGD(use_ema=True, ema_overwrite_frequency=0)
    with pytest.raises(ValueError, match="one more entry"):
        schedules.PiecewiseConstantDecay([1, 2], [0.1])
    with pytest.raises(ValueError, match="warmup_steps"):
        schedules.CosineDecay(0.1, 10, warmup_target=0.2)
    with pytest.raises(ValueError, match="unknown learning rate schedule"):
        schedules.deserialize({"class_name": "Nope", "config": {}})
