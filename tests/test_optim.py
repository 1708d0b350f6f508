"""Optimizer updates (SGD, Adam/AdamW, RMSprop) and gradient clipping against float64 numpy
implementations of Keras 3's formulas over several steps, PyTorch's optimizers (loosely: they put
epsilon elsewhere), and the error cases (hyper-parameters, list and shape mismatches, layouts)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import aiaas_core
from aiaas_core import _core

# ---- float64 references (Keras 3, keras/src/optimizers) ------------------------------------------


def sgd_ref(p, g, v, lr, momentum=0.0, nesterov=False, wd=0.0):
    p = p - p * wd * lr
    if momentum == 0.0:
        return p - lr * g, v
    v = momentum * v - lr * g
    return (p + momentum * v - lr * g if nesterov else p + v), v


def adam_ref(p, g, m, v, lr, t, b1=0.9, b2=0.999, eps=1e-7, wd=0.0):
    p = p - p * wd * lr
    alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
    m = m + (g - m) * (1 - b1)
    v = v + (g * g - v) * (1 - b2)
    return p - alpha * m / (np.sqrt(v) + eps), m, v


def rmsprop_ref(p, g, ms, mg, mo, lr, rho=0.9, momentum=0.0, eps=1e-7, centered=False):
    ms = rho * ms + (1 - rho) * g * g
    if centered:
        mg = rho * mg + (1 - rho) * g
        denom = ms - mg * mg + eps
    else:
        denom = ms + eps
    inc = lr * g / np.sqrt(denom)
    if momentum > 0:
        mo = momentum * mo + inc
        return p - mo, ms, mg, mo
    return p - inc, ms, mg, mo


SHAPES = [(3, 4), (5,), (), (0, 2), (2, 3, 2)]  # several tensors in one call, a scalar and an empty one


def tensors(seed: int, shapes=SHAPES, scale=1.0):
    rng = np.random.default_rng(seed)
    return [np.asarray(rng.standard_normal(s) * scale, dtype=np.float32) for s in shapes]


def f64(arrs):
    return [a.astype(np.float64) for a in arrs]


def assert_close(ours, ref, rtol=2e-5, atol=2e-6):
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


# ---- SGD ---------------------------------------------------------------------------------------


@given(momentum=st.sampled_from([0.0, 0.5, 0.9]), nesterov=st.booleans(), wd=st.sampled_from([0.0, 0.01]),
       lr=st.sampled_from([0.01, 0.1, 1.0]), seed=st.integers(0, 2**31))
def test_sgd_matches_keras_over_steps(momentum, nesterov, wd, lr, seed):
    params = tensors(seed)
    vel = [np.zeros_like(p) for p in params]
    rp, rv = f64(params), f64(vel)
    for step in range(4):
        grads = tensors(seed + 1 + step)
        _core.sgd_update(params, grads, vel, lr, momentum, nesterov, wd)
        for i, g in enumerate(f64(grads)):
            rp[i], rv[i] = sgd_ref(rp[i], g, rv[i], lr, momentum, nesterov, wd)
    assert_close(params, rp)
    if momentum:
        assert_close(vel, rv)


def test_sgd_known_values():
    p = np.array([1.0], np.float32)
    v = np.zeros(1, np.float32)
    g = np.array([2.0], np.float32)
    _core.sgd_update([p], [g], [v], 0.1, momentum=0.5)
    assert v[0] == pytest.approx(-0.2) and p[0] == pytest.approx(0.8)
    _core.sgd_update([p], [g], [v], 0.1, momentum=0.5, nesterov=True)
    # v = 0.5*-0.2 - 0.2 = -0.3; p += 0.5*v - lr*g = -0.15 - 0.2
    assert v[0] == pytest.approx(-0.3) and p[0] == pytest.approx(0.8 - 0.35)


# ---- Adam / AdamW ------------------------------------------------------------------------------


@given(wd=st.sampled_from([0.0, 0.004]), lr=st.sampled_from([1e-3, 0.05]),
       betas=st.sampled_from([(0.9, 0.999), (0.5, 0.9), (0.0, 0.99)]), seed=st.integers(0, 2**31))
def test_adam_matches_keras_over_steps(wd, lr, betas, seed):
    b1, b2 = betas
    params = tensors(seed)
    ms = [np.zeros_like(p) for p in params]
    vs = [np.zeros_like(p) for p in params]
    rp, rm, rv = f64(params), f64(ms), f64(vs)
    for t in range(1, 6):
        grads = tensors(seed + t)
        _core.adam_update(params, grads, ms, vs, lr, t, b1, b2, 1e-7, wd)
        for i, g in enumerate(f64(grads)):
            rp[i], rm[i], rv[i] = adam_ref(rp[i], g, rm[i], rv[i], lr, t, b1, b2, 1e-7, wd)
    assert_close(params, rp)
    assert_close(ms, rm)
    assert_close(vs, rv)


def test_adam_first_step_moves_each_weight_by_about_lr():
    # step 1: m = 0.1 g, v = 0.001 g^2, alpha = lr sqrt(0.001) / 0.1, so
    # dp = -lr sign(g) s|g| / (s|g| + eps) with s = sqrt(0.001): about lr, less for a tiny g
    p = np.array([1.0, -2.0, 3.0], np.float32)
    g = np.array([0.5, -3.0, 1e-3], np.float32)
    m, v = np.zeros(3, np.float32), np.zeros(3, np.float32)
    _core.adam_update([p], [g], [m], [v], 0.1, 1)
    s = np.sqrt(0.001) * np.abs(g.astype(np.float64))
    np.testing.assert_allclose(p, [1.0, -2.0, 3.0] - 0.1 * np.sign(g) * s / (s + 1e-7), rtol=1e-6)
    assert p[2] == pytest.approx(2.90032, abs=1e-5)  # Keras' eps, outside the bias correction


def test_adam_big_tensor_on_the_pool_matches_reference():
    # 200k elements: chunked over threads; same numbers as the reference, thread count notwithstanding
    rng = np.random.default_rng(2)
    p0 = rng.standard_normal(200_000).astype(np.float32)
    g = rng.standard_normal(200_000).astype(np.float32)
    results = []
    before = aiaas_core.get_num_threads()
    try:
        for threads in (1, 2):
            aiaas_core.set_num_threads(threads)
            p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
            for t in (1, 2, 3):
                _core.adam_update([p], [g], [m], [v], 0.01, t, weight_decay=0.01)
            results.append(p)
    finally:
        aiaas_core.set_num_threads(before)
    np.testing.assert_array_equal(results[0], results[1])
    rp, rm, rv = p0.astype(np.float64), np.zeros(200_000), np.zeros(200_000)
    for t in (1, 2, 3):
        rp, rm, rv = adam_ref(rp, g.astype(np.float64), rm, rv, 0.01, t, wd=0.01)
    np.testing.assert_allclose(results[0], rp, rtol=2e-5, atol=2e-6)


# ---- RMSprop -----------------------------------------------------------------------------------


@given(centered=st.booleans(), momentum=st.sampled_from([0.0, 0.9]), rho=st.sampled_from([0.9, 0.5]),
       seed=st.integers(0, 2**31))
def test_rmsprop_matches_keras_over_steps(centered, momentum, rho, seed):
    params = tensors(seed)
    ms, mgs, moms = ([np.zeros_like(p) for p in params] for _ in range(3))
    rp, rs, rg, ro = f64(params), f64(ms), f64(mgs), f64(moms)
    for step in range(4):
        grads = tensors(seed + 1 + step)
        _core.rmsprop_update(params, grads, ms, mgs, moms, 0.01, rho, momentum, 1e-7, centered)
        for i, g in enumerate(f64(grads)):
            rp[i], rs[i], rg[i], ro[i] = rmsprop_ref(rp[i], g, rs[i], rg[i], ro[i], 0.01, rho, momentum, 1e-7, centered)
    assert_close(params, rp)
    assert_close(ms, rs)
    if centered:
        assert_close(mgs, rg)
    if momentum:
        assert_close(moms, ro)


# ---- clipping ----------------------------------------------------------------------------------


@given(seed=st.integers(0, 2**31), max_norm=st.sampled_from([0.0, 0.5, 3.0, 1e3]))
def test_clip_by_global_norm(seed, max_norm):
    grads = tensors(seed)
    before = f64(grads)
    norm = np.sqrt(sum((g**2).sum() for g in before))
    got = _core.clip_by_global_norm(grads, max_norm)
    assert got == pytest.approx(norm, rel=1e-6)
    scale = max_norm / norm if norm > max_norm else 1.0
    assert_close(grads, [g * scale for g in before], rtol=1e-6, atol=1e-7)
    if norm > max_norm:
        assert np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in grads)) == pytest.approx(max_norm, rel=1e-5,
                                                                                             abs=1e-7)


def test_clip_by_global_norm_on_the_pool():
    # 3 x 50k elements: the sum of squares is split over threads; same norm and scale on 1 and 2
    # and 3; fixed chunks summed in order, so the very same bits on any thread count.
    grads0 = tensors(8, [(50_000,), (250, 200), (50_000,)])
    want = np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in grads0))
    before = aiaas_core.get_num_threads()
    runs = []
    try:
        for threads in (1, 2, 3):
            aiaas_core.set_num_threads(threads)
            grads = [g.copy() for g in grads0]
            # f32 partial sums over 1024-blocks, f64 across them: ~1e-7 relative
            norm = _core.clip_by_global_norm(grads, 10.0)
            assert norm == pytest.approx(want, rel=1e-6)
            assert_close(grads, [g * (10.0 / want) for g in f64(grads0)], rtol=1e-6, atol=1e-8)
            runs.append((norm, grads))
    finally:
        aiaas_core.set_num_threads(before)
    for norm, grads in runs[1:]:
        assert norm == runs[0][0]
        assert all(np.array_equal(a, b) for a, b in zip(grads, runs[0][1]))


def test_clip_by_value():
    grads = [np.array([-3.0, -0.5, 0.0, 0.5, 3.0], np.float32), np.array(7.0, np.float32)]
    _core.clip_by_value(grads, 1.0)
    assert grads[0].tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0] and grads[1] == 1.0


def test_empty_lists_are_a_no_op():
    _core.sgd_update([], [], [], 0.1)
    _core.adam_update([], [], [], [], 0.1, 1)
    assert _core.clip_by_global_norm([], 1.0) == 0.0


# ---- PyTorch (loosely: torch adds eps after the bias correction, Keras before) ----------------


def _torch_run(torch, make_opt, params0, grads_steps):
    tps = [torch.tensor(p.copy(), requires_grad=True) for p in params0]
    opt = make_opt(tps)
    for grads in grads_steps:
        for tp, g in zip(tps, grads):
            tp.grad = torch.tensor(g)
        opt.step()
    return [tp.detach().numpy() for tp in tps]


TORCH_CASES = [
    # name, ours(params, grads, states, t), torch optimizer factory, number of state lists
    ("adam", lambda P, G, S, t: _core.adam_update(P, G, S[0], S[1], 0.01, t),
     lambda T, ps: T.optim.Adam(ps, lr=0.01, eps=1e-7, foreach=False), 2),
    ("adamw", lambda P, G, S, t: _core.adam_update(P, G, S[0], S[1], 0.01, t, weight_decay=0.05),
     lambda T, ps: T.optim.AdamW(ps, lr=0.01, eps=1e-7, weight_decay=0.05, foreach=False), 2),
    ("sgd", lambda P, G, S, t: _core.sgd_update(P, G, S[0], 0.1),
     lambda T, ps: T.optim.SGD(ps, lr=0.1), 1),
    ("sgd momentum", lambda P, G, S, t: _core.sgd_update(P, G, S[0], 0.1, 0.9),
     lambda T, ps: T.optim.SGD(ps, lr=0.1, momentum=0.9), 1),
    ("sgd nesterov", lambda P, G, S, t: _core.sgd_update(P, G, S[0], 0.1, 0.9, True),
     lambda T, ps: T.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True), 1),
    ("rmsprop", lambda P, G, S, t: _core.rmsprop_update(P, G, S[0], S[1], S[2], 0.01),
     lambda T, ps: T.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-7), 3),
    ("rmsprop centered momentum",
     lambda P, G, S, t: _core.rmsprop_update(P, G, S[0], S[1], S[2], 0.01, momentum=0.5, centered=True),
     lambda T, ps: T.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-7, momentum=0.5, centered=True), 3),
]


@pytest.mark.parametrize("name,ours,make_torch,n_states", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_matches_torch_optimizers(name, ours, make_torch, n_states):
    torch = pytest.importorskip("torch")
    shapes = [(4, 3), (7,)]
    params = tensors(0, shapes)
    steps = [tensors(10 + t, shapes) for t in range(5)]
    want = _torch_run(torch, lambda ps: make_torch(torch, ps), params, steps)
    states = [[np.zeros_like(p) for p in params] for _ in range(n_states)]
    for t, grads in enumerate(steps, start=1):
        ours(params, grads, states, t)
    assert_close(params, want, rtol=1e-4, atol=1e-5)


def test_clip_matches_torch():
    torch = pytest.importorskip("torch")
    grads = tensors(3, [(4, 3), (7,)], scale=2.0)
    tps = [torch.zeros(g.shape, requires_grad=True) for g in grads]
    for tp, g in zip(tps, grads):
        tp.grad = torch.tensor(g.copy())
    tnorm = torch.nn.utils.clip_grad_norm_(tps, 1.5)
    norm = _core.clip_by_global_norm(grads, 1.5)
    assert norm == pytest.approx(float(tnorm), rel=1e-5)
    assert_close(grads, [tp.grad.numpy() for tp in tps], rtol=1e-5, atol=1e-6)


# ---- errors ------------------------------------------------------------------------------------


def _adam_args(n=3):
    return [np.ones(n, np.float32)], [np.ones(n, np.float32)], [np.zeros(n, np.float32)], [np.zeros(n, np.float32)]


@pytest.mark.parametrize("lr", [float("nan"), float("inf"), -0.1, 1e40])
def test_bad_learning_rates(lr):
    p, g, m, v = _adam_args()
    with pytest.raises(ValueError, match="learning_rate"):
        _core.adam_update(p, g, m, v, lr, 1)
    with pytest.raises(ValueError, match="learning_rate"):
        _core.sgd_update(p, g, m, lr)
    with pytest.raises(ValueError, match="learning_rate"):
        _core.rmsprop_update(p, g, m, v, [np.zeros(3, np.float32)], lr)
    assert p[0].tolist() == [1.0, 1.0, 1.0]  # nothing was written


def test_bad_hyper_parameters():
    p, g, m, v = _adam_args()
    for kwargs, text in (({"beta_1": 1.0}, "beta_1"), ({"beta_2": -0.1}, "beta_2"), ({"epsilon": -1.0}, "epsilon"),
                         ({"weight_decay": float("nan")}, "weight_decay")):
        with pytest.raises(ValueError, match=text):
            _core.adam_update(p, g, m, v, 0.1, 1, **kwargs)
    with pytest.raises(ValueError, match="step must be >= 1"):
        _core.adam_update(p, g, m, v, 0.1, 0)
    with pytest.raises(ValueError, match="momentum"):
        _core.sgd_update(p, g, m, 0.1, momentum=1.5)
    with pytest.raises(ValueError, match="rho"):
        _core.rmsprop_update(p, g, m, v, [np.zeros(3, np.float32)], 0.1, rho=float("nan"))
    with pytest.raises(ValueError, match="max_norm"):
        _core.clip_by_global_norm(g, -1.0)
    with pytest.raises(ValueError, match="clip_value"):
        _core.clip_by_value(g, float("nan"))


def test_mismatched_lists_and_shapes_name_them():
    p, g, m, v = _adam_args()
    with pytest.raises(ValueError, match=r"grads\[0\] has shape \[4\] but params\[0\] has shape \[3\]"):
        _core.adam_update(p, [np.ones(4, np.float32)], m, v, 0.1, 1)
    with pytest.raises(ValueError, match=r"vs\[0\] has shape \[3, 1\]"):
        _core.adam_update(p, g, m, [np.zeros((3, 1), np.float32)], 0.1, 1)
    with pytest.raises(ValueError, match="grads has 0 arrays but params has 1"):
        _core.sgd_update(p, [], m, 0.1)
    with pytest.raises(ValueError, match="moms has 2 arrays"):
        _core.rmsprop_update(p, g, m, v, [np.zeros(3, np.float32)] * 2, 0.1)


def test_wrong_dtype_layout_and_aliasing():
    p, g, m, v = _adam_args()
    with pytest.raises(TypeError):
        _core.adam_update([np.ones(3)], g, m, v, 0.1, 1)
    with pytest.raises(TypeError):
        _core.sgd_update(p, [np.ones(3, np.float16)], m, 0.1)
    # Fortran order has the right shape but the transposed memory; it was once updated element-mixed.
    fp = np.asfortranarray(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"params\[0\] must be a C-contiguous"):
        _core.adam_update([fp], [np.ones((2, 3), np.float32)], [np.zeros((2, 3), np.float32)],
                          [np.zeros((2, 3), np.float32)], 0.1, 1)
    with pytest.raises(ValueError, match=r"grads\[0\] must be a C-contiguous"):
        _core.sgd_update([np.ones(3, np.float32)], [np.ones(6, np.float32)[::2]], [np.zeros(3, np.float32)], 0.1)
    with pytest.raises(ValueError, match="cannot be borrowed"):
        _core.adam_update(p, p, m, v, 0.1, 1)  # the same array as param and grad
    ro = np.ones(3, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="cannot be borrowed"):
        _core.sgd_update([ro], g, m, 0.1)
