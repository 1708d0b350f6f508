"""Batch normalization (channels-last, statistics over every axis but the last): training and
inference forwards against float64 numpy, the backward against central finite differences of the
training forward (batch statistics depend on x), PyTorch where importable, and the error cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiaas_core import _core
from kernel_refs import central_diff, on_threads

EPS = 1e-3  # Keras BatchNormalization default


def bn_train_ref(x, gamma, beta, eps=EPS):
    """float64: (y, mean, biased var) over all axes but the last."""
    x = x.astype(np.float64)
    axes = tuple(range(x.ndim - 1))
    mean = x.mean(axis=axes)
    var = ((x - mean) ** 2).mean(axis=axes)
    y = (x - mean) / np.sqrt(var + eps) * gamma + beta
    return y, mean, var


def make(shape, seed, loc=0.0, scale=1.0):
    rng = np.random.default_rng(seed)
    c = shape[-1]
    x = (rng.standard_normal(shape) * scale + loc).astype(np.float32)
    gamma = rng.uniform(0.5, 2.0, c).astype(np.float32)
    beta = rng.standard_normal(c).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    return x, gamma, beta, dy


shapes = st.lists(st.integers(1, 5), min_size=2, max_size=4).map(tuple)


@given(shape=shapes, seed=st.integers(0, 2**31), loc=st.sampled_from([0.0, 3.0]), scale=st.sampled_from([0.1, 1.0, 5.0]))
def test_train_forward_matches_float64(shape, seed, loc, scale):
    x, gamma, beta, _ = make(shape, seed, loc, scale)
    y, mean, var = _core.batchnorm_forward_train(x, gamma, beta, EPS)
    ry, rmean, rvar = bn_train_ref(x, gamma, beta)
    assert y.shape == x.shape and mean.shape == var.shape == (shape[-1],)
    np.testing.assert_allclose(mean, rmean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(var, rvar, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(y, ry, rtol=1e-5, atol=1e-5)


@given(shape=shapes, seed=st.integers(0, 2**31))
def test_infer_forward_uses_the_moving_statistics(shape, seed):
    x, gamma, beta, _ = make(shape, seed)
    rng = np.random.default_rng(seed + 1)
    mm = rng.standard_normal(shape[-1]).astype(np.float32)
    mv = rng.uniform(0.1, 3.0, shape[-1]).astype(np.float32)
    y = _core.batchnorm_forward_infer(x, gamma, beta, mm, mv, EPS)
    want = (x.astype(np.float64) - mm) / np.sqrt(mv.astype(np.float64) + EPS) * gamma + beta
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)


@given(shape=shapes, seed=st.integers(0, 2**31), eps=st.sampled_from([EPS, 1e-5]))
def test_backward_matches_finite_differences(shape, seed, eps):
    x, gamma, beta, dy = make(shape, seed)
    _, mean, var = _core.batchnorm_forward_train(x, gamma, beta, eps)
    dx, dgamma, dbeta = _core.batchnorm_backward(x, dy, gamma, mean, var, eps)
    dy64 = dy.astype(np.float64)

    def loss(xx=x, gg=gamma, bb=beta):
        return float((bn_train_ref(xx, gg, bb, eps)[0] * dy64).sum())

    # tolerances: float32 kernel vs float64 differences; a channel with tiny variance amplifies dx
    np.testing.assert_allclose(dx, central_diff(lambda a: loss(xx=a), x), rtol=1e-3, atol=2e-4)
    np.testing.assert_allclose(dgamma, central_diff(lambda a: loss(gg=a), gamma), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dbeta, central_diff(lambda a: loss(bb=a), beta), rtol=1e-4, atol=1e-5)


def test_batch_of_one_normalizes_to_beta_and_passes_no_gradient_to_x():
    x, gamma, beta, dy = make((1, 4), 0)
    y, mean, var = _core.batchnorm_forward_train(x, gamma, beta, EPS)
    np.testing.assert_array_equal(mean, x[0])
    np.testing.assert_array_equal(var, np.zeros(4))
    np.testing.assert_allclose(y[0], beta, atol=1e-6)
    dx, dgamma, dbeta = _core.batchnorm_backward(x, dy, gamma, mean, var, EPS)
    np.testing.assert_allclose(dx, 0.0, atol=1e-6)
    np.testing.assert_allclose(dgamma, 0.0, atol=1e-6)
    np.testing.assert_array_equal(dbeta, dy[0])


def test_one_channel_and_a_1d_input():
    x = np.array([1.0, 2.0, 3.0, 6.0], np.float32)[:, None]  # (4, 1)
    y, mean, var = _core.batchnorm_forward_train(x, np.ones(1, np.float32), np.zeros(1, np.float32), EPS)
    assert mean.tolist() == [3.0] and var.tolist() == [3.5]
    np.testing.assert_allclose(y[:, 0], (x[:, 0] - 3.0) / np.sqrt(3.5 + EPS), rtol=1e-6)
    # a 1-D x is one row of C channels
    y1, m1, v1 = _core.batchnorm_forward_train(x[:, 0], np.ones(4, np.float32), np.zeros(4, np.float32), EPS)
    np.testing.assert_array_equal(m1, x[:, 0])
    # x - mean is exactly 0: centring before scaling leaves no float32 cancellation residue
    np.testing.assert_array_equal(y1, np.zeros(4))


def test_large_mean_does_not_swallow_the_variance():
    # 1e4 + N(0, 0.1^2): a one-pass E[x^2] - E[x]^2 in float32 would lose every digit here
    x, gamma, beta, _ = make((256, 3), 5, loc=1e4, scale=0.1)
    y, mean, var = _core.batchnorm_forward_train(x, gamma, beta, EPS)
    ry, rmean, rvar = bn_train_ref(x, gamma, beta)
    np.testing.assert_allclose(var, rvar, rtol=1e-5)
    np.testing.assert_allclose(mean, rmean, rtol=1e-7)
    # y is limited by the mean's float32 rounding (half an ulp of 1e4 = 5e-4, over a std of 0.1
    # and times gamma <= 2): about 1e-2 at worst, far below the O(1) spread of y
    np.testing.assert_allclose(y, ry, atol=1e-2)


def test_empty_batch_backward_is_zero():
    x = np.zeros((0, 3), np.float32)
    dx, dgamma, dbeta = _core.batchnorm_backward(x, x, np.ones(3, np.float32), np.zeros(3, np.float32),
                                                 np.ones(3, np.float32), EPS)
    assert dx.shape == (0, 3) and dgamma.tolist() == [0, 0, 0] and dbeta.tolist() == [0, 0, 0]


def test_matches_torch():
    torch = pytest.importorskip("torch")
    x, gamma, beta, dy = make((4, 3, 3, 5), 7)  # NHWC
    tx = torch.tensor(x.transpose(0, 3, 1, 2).copy(), requires_grad=True)  # NCHW
    tg = torch.tensor(gamma, requires_grad=True)
    tb = torch.tensor(beta, requires_grad=True)
    ty = torch.nn.functional.batch_norm(tx, None, None, tg, tb, training=True, eps=EPS)
    ty.backward(torch.tensor(dy.transpose(0, 3, 1, 2).copy()))
    y, mean, var = _core.batchnorm_forward_train(x, gamma, beta, EPS)
    dx, dgamma, dbeta = _core.batchnorm_backward(x, dy, gamma, mean, var, EPS)
    np.testing.assert_allclose(y, ty.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, tx.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dgamma, tg.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dbeta, tb.grad.numpy(), rtol=1e-4, atol=1e-5)


# ---- errors ------------------------------------------------------------------------------------


def test_mismatched_shapes_name_both():
    x, gamma, beta, dy = make((4, 3), 0)
    with pytest.raises(ValueError, match=r"gamma has shape \[4\].*\[3\]"):
        _core.batchnorm_forward_train(x, np.ones(4, np.float32), beta)
    with pytest.raises(ValueError, match=r"beta has shape \[1, 3\]"):
        _core.batchnorm_forward_train(x, gamma, beta[None])
    with pytest.raises(ValueError, match=r"moving_var has shape \[2\]"):
        _core.batchnorm_forward_infer(x, gamma, beta, beta, np.ones(2, np.float32))
    _, mean, var = _core.batchnorm_forward_train(x, gamma, beta)
    with pytest.raises(ValueError, match=r"dy has shape \[3, 4\].*\[4, 3\]"):
        _core.batchnorm_backward(x, dy.T.copy(), gamma, mean, var)
    with pytest.raises(ValueError, match=r"batch_var has shape \[2\]"):
        _core.batchnorm_backward(x, dy, gamma, mean, var[:2].copy())
    with pytest.raises(ValueError, match="scalar"):
        _core.batchnorm_forward_train(np.ones((), np.float32), gamma[:1], beta[:1])


def test_bad_values_dtypes_and_layouts():
    x, gamma, beta, dy = make((4, 3), 0)
    for eps in (0.0, -1e-3, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="epsilon"):
            _core.batchnorm_forward_train(x, gamma, beta, eps)
    with pytest.raises(ValueError, match="at least one row"):
        _core.batchnorm_forward_train(np.zeros((0, 3), np.float32), gamma, beta)
    with pytest.raises(TypeError):
        _core.batchnorm_forward_train(x.astype(np.float64), gamma, beta)
    with pytest.raises(ValueError, match="x must be a C-contiguous"):
        _core.batchnorm_forward_train(np.asfortranarray(x), gamma, beta)
    with pytest.raises(ValueError, match="gamma must be a C-contiguous"):
        _core.batchnorm_forward_train(x, np.ones(6, np.float32)[::2], beta)


def test_large_batch_matches_float64_and_is_identical_on_any_thread_count():
    # 8 x 24 x 24 = 4,608 rows of 48 channels: 18 row blocks, summed on 1, 2 or 3 threads.
    x, gamma, beta, dy = make((8, 24, 24, 48), seed=21, loc=3.0, scale=2.0)

    def run():
        y, mean, var = _core.batchnorm_forward_train(x, gamma, beta, EPS)
        return (y, mean, var, *_core.batchnorm_backward(x, dy, gamma, mean, var, EPS))

    runs = [on_threads(n, run) for n in (1, 2, 3)]
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            assert np.array_equal(a, b)
    y, mean, var, dx, dgamma, dbeta = runs[0]
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    ry, rmean, rvar = bn_train_ref(x, gamma, beta)
    np.testing.assert_allclose(mean, rmean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(var, rvar, rtol=1e-5)
    np.testing.assert_allclose(y, ry, rtol=1e-4, atol=1e-4)
    xhat = (x64 - rmean) / np.sqrt(rvar + EPS)
    axes = (0, 1, 2)
    np.testing.assert_allclose(dbeta, dy64.sum(axis=axes), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(dgamma, (dy64 * xhat).sum(axis=axes), rtol=1e-4, atol=1e-3)
    m = x.size // x.shape[-1]
    want_dx = gamma / np.sqrt(rvar + EPS) / m * (m * dy64 - dy64.sum(axis=axes) - xhat * (dy64 * xhat).sum(axis=axes))
    np.testing.assert_allclose(dx, want_dx, rtol=1e-3, atol=1e-4)
