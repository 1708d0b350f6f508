"""activation_forward / activation_backward against float64 numpy and finite differences."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiaas_core import _core
from kernel_refs import act64, on_threads

NAMES = ["linear", "relu", "sigmoid", "tanh", "softmax", "leaky_relu", "elu", "gelu"]
ALPHA = {"leaky_relu": 0.2, "elu": 1.3}


shapes = st.lists(st.integers(1, 7), min_size=1, max_size=3)


@given(shape=shapes, seed=st.integers(0, 2**31), name=st.sampled_from(NAMES), scale=st.sampled_from([0.5, 3.0, 30.0]))
def test_forward_matches_float64(shape, seed, name, scale):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * scale).astype(np.float32)
    alpha = ALPHA.get(name, 0.0)
    y = _core.activation_forward(x, name, alpha)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, act64(x, name, alpha), rtol=2e-6, atol=1e-6)


@given(shape=shapes, seed=st.integers(0, 2**31), name=st.sampled_from(NAMES))
def test_backward_matches_finite_differences(shape, seed, name):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    # keep relu-like kinks away from the finite-difference stencil
    x = np.where(np.abs(x) < 0.05, 0.3, x).astype(np.float32)
    alpha = ALPHA.get(name, 0.0)
    dy = rng.standard_normal(shape).astype(np.float32)
    y = _core.activation_forward(x, name, alpha)
    dx = _core.activation_backward(x, y, dy, name, alpha)
    # d/dx of sum(dy * f(x)), central differences on the float64 reference
    h = 1e-4
    x64 = x.astype(np.float64)
    fd = np.zeros_like(x64)
    for i in np.ndindex(*x.shape):
        xp, xm = x64.copy(), x64.copy()
        xp[i] += h
        xm[i] -= h
        fd[i] = ((act64(xp, name, alpha) - act64(xm, name, alpha)) * dy).sum() / (2 * h)
    np.testing.assert_allclose(dx, fd, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["sigmoid", "softmax", "tanh", "elu"])
def test_huge_inputs_stay_finite(name):
    x = np.array([[1e4, -1e4, 0.0, 88.0, -88.0, 1e30, -1e30]], dtype=np.float32)
    y = _core.activation_forward(x, name, 1.0)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y, act64(x, name, 1.0), atol=1e-7)
    dx = _core.activation_backward(x, y, np.ones_like(x), name, 1.0)
    assert np.isfinite(dx).all()


def test_softmax_rows_sum_to_one_large_array():
    # above the threading threshold
    x = (np.random.default_rng(0).standard_normal((3000, 33)) * 20).astype(np.float32)
    y = _core.activation_forward(x, "softmax")
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(y, act64(x, "softmax", 0.0), atol=1e-6)
    dy = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    dx = _core.activation_backward(x, y, dy, "softmax")
    y64 = y.astype(np.float64)
    want = y64 * (dy - (dy * y64).sum(-1, keepdims=True))
    np.testing.assert_allclose(dx, want, atol=1e-6)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "elu", "leaky_relu"])
def test_large_arrays_use_the_threaded_path_correctly(name):
    x = np.random.default_rng(2).standard_normal(300_001).astype(np.float32) * 4
    y = _core.activation_forward(x, name, 0.3)
    np.testing.assert_allclose(y, act64(x, name, 0.3), rtol=2e-6, atol=1e-6)


def test_empty_and_scalar_arrays():
    assert _core.activation_forward(np.zeros((0, 3), np.float32), "softmax").shape == (0, 3)
    y = _core.activation_forward(np.array(2.0, np.float32), "relu")
    assert y.shape == () and float(y) == 2.0


def test_errors_name_the_problem():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="unknown activation"):
        _core.activation_forward(x, "swish2")
    with pytest.raises(ValueError, match=r"\[2, 4\].*\[2, 3\]"):
        _core.activation_backward(x, np.zeros((2, 4), np.float32), x, "relu")
    with pytest.raises(ValueError, match="contiguous"):
        _core.activation_forward(np.zeros((4, 4), np.float32)[:, ::2], "relu")


def test_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).standard_normal((16, 10)).astype(np.float32) * 5
    t = torch.from_numpy(x)
    pairs = {
        "relu": torch.relu(t), "sigmoid": torch.sigmoid(t), "tanh": torch.tanh(t),
        "softmax": torch.softmax(t, -1), "gelu": torch.nn.functional.gelu(t),
        "elu": torch.nn.functional.elu(t, 1.0),
    }
    for name, want in pairs.items():
        np.testing.assert_allclose(_core.activation_forward(x, name, 1.0), want.numpy(), rtol=1e-5, atol=1e-6)


@given(n=st.integers(1, 70), seed=st.integers(0, 2**31), name=st.sampled_from(NAMES))
def test_every_row_length_and_tail(n, seed, name):
    # rows of 1..70: the 8-lane bodies, their 16-lane unrolls and the masked tails of every size
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((3, n)) * 6).astype(np.float32)
    alpha = ALPHA.get(name, 0.0)
    y = _core.activation_forward(x, name, alpha)
    np.testing.assert_allclose(y, act64(x, name, alpha), rtol=2e-6, atol=1e-6)
    if name == "softmax":
        np.testing.assert_allclose(y.sum(-1), 1.0, rtol=2e-6)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "softmax", "elu"])
def test_nan_in_nan_out(name):
    # a NaN is never turned into a plausible finite value (softmax: its whole row is NaN, as torch)
    x = np.array([[0.5, np.nan, -2.0, 1.0, 3.0, 0.0, 0.1, 0.2, 7.0, -1.0]], np.float32)
    y = _core.activation_forward(x, name, 1.0)
    if name == "softmax":
        assert np.isnan(y).all()
    else:
        assert np.isnan(y[0, 1]) and np.isfinite(np.delete(y, 1)).all()


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "elu", "leaky_relu", "gelu", "softmax"])
def test_threaded_results_are_bitwise_those_of_one_thread(name):
    # 4096 x 37 floats: well above the threading threshold, rows not a multiple of the lanes
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((4096, 37)) * 3).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)

    def run():
        y = _core.activation_forward(x, name, 0.3)
        return y, _core.activation_backward(x, y, dy, name, 0.3)

    (y1, dx1), (y2, dx2) = on_threads(1, run), on_threads(2, run)
    assert np.array_equal(y1, y2, equal_nan=True) and np.array_equal(dx1, dx2, equal_nan=True)
    np.testing.assert_allclose(y2, act64(x, name, 0.3), rtol=2e-6, atol=1e-6)


def test_softmax_wide_rows_threaded():
    # the benchmark's shape class: 1000-wide rows, large spreads, threaded blocks of rows
    x = (np.random.default_rng(4).standard_normal((300, 1003)) * 30).astype(np.float32)
    y = on_threads(2, lambda: _core.activation_forward(x, "softmax"))
    np.testing.assert_allclose(y, act64(x, "softmax", 0.0), rtol=2e-5, atol=1e-7)
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-5)
