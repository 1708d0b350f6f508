"""dense_forward / dense_backward against a float64 numpy reference, central finite differences of
that reference, PyTorch where importable, and the error cases (shapes, dtypes, layouts, names)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import aiaas_core
from aiaas_core import _core
from kernel_refs import act64, central_diff

ACTS = ["linear", "relu", "sigmoid", "tanh", "softmax", "leaky_relu", "elu"]
ALPHA = {"leaky_relu": 0.3, "elu": 1.0}  # Keras defaults


def dense_ref(x, w, b, name: str, alpha: float) -> np.ndarray:
    """float64 act(x w + b)."""
    z = x.astype(np.float64) @ w.astype(np.float64)
    if b is not None:
        z = z + b.astype(np.float64)
    return act64(z, name, alpha)


def make(n, d, u, seed, bias=True):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    w = (rng.standard_normal((d, u)) / np.sqrt(max(d, 1))).astype(np.float32)
    b = (rng.standard_normal(u) * 0.5).astype(np.float32) if bias else None
    dy = rng.standard_normal((n, u)).astype(np.float32)
    return x, w, b, dy


dims = st.integers(1, 7)


@given(n=dims, d=dims, u=dims, name=st.sampled_from(ACTS), bias=st.booleans(), seed=st.integers(0, 2**31))
def test_forward_matches_float64(n, d, u, name, bias, seed):
    x, w, b, _ = make(n, d, u, seed, bias)
    y = _core.dense_forward(x, w, b, name, ALPHA.get(name, 0.0))
    assert y.shape == (n, u) and y.dtype == np.float32
    np.testing.assert_allclose(y, dense_ref(x, w, b, name, ALPHA.get(name, 0.0)), rtol=1e-5, atol=2e-6)


@given(n=dims, d=dims, u=dims, name=st.sampled_from(ACTS), bias=st.booleans(), seed=st.integers(0, 2**31))
def test_backward_matches_finite_differences(n, d, u, name, bias, seed):
    x, w, b, dy = make(n, d, u, seed, bias)
    alpha = ALPHA.get(name, 0.0)
    z = x.astype(np.float64) @ w + (0.0 if b is None else b)
    assume(np.abs(z).min() > 1e-3)  # keep relu-like kinks off the difference stencil
    y = _core.dense_forward(x, w, b, name, alpha)
    dx, dw, db = _core.dense_backward(x, w, y, dy, name, alpha)
    dy64 = dy.astype(np.float64)
    bb = np.zeros(u) if b is None else b

    def loss(xx=x, ww=w, bv=bb):
        return float((dense_ref(xx, ww, bv, name, alpha) * dy64).sum())

    tol = dict(rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dx, central_diff(lambda a: loss(xx=a), x), **tol)
    np.testing.assert_allclose(dw, central_diff(lambda a: loss(ww=a), w), **tol)
    # db is the gradient for the bias the forward would have had (zero when b is None).
    np.testing.assert_allclose(db, central_diff(lambda a: loss(bv=a), bb), **tol)


@pytest.mark.parametrize("name", ACTS)
def test_need_dx_false_gives_none_and_the_same_weight_grads(name):
    x, w, b, dy = make(5, 4, 3, 7)
    y = _core.dense_forward(x, w, b, name, ALPHA.get(name, 0.0))
    dx, dw, db = _core.dense_backward(x, w, y, dy, name, ALPHA.get(name, 0.0), need_dx=True)
    none, dw2, db2 = _core.dense_backward(x, w, y, dy, name, ALPHA.get(name, 0.0), need_dx=False)
    assert none is None and dx.shape == x.shape
    np.testing.assert_array_equal(dw, dw2)
    np.testing.assert_array_equal(db, db2)


def test_bias_none_equals_zero_bias():
    x, w, _, _ = make(4, 3, 5, 1)
    for name in ACTS:
        np.testing.assert_array_equal(
            _core.dense_forward(x, w, None, name, ALPHA.get(name, 0.0)),
            _core.dense_forward(x, w, np.zeros(5, np.float32), name, ALPHA.get(name, 0.0)),
        )


def test_edge_shapes_batch_one_feature_one_unit():
    x = np.array([[2.0]], np.float32)
    w = np.array([[-3.0]], np.float32)
    b = np.array([0.5], np.float32)
    # linear: y = 2*-3 + 0.5; dx = dy*w, dw = dy*x, db = dy
    y = _core.dense_forward(x, w, b)
    assert y.tolist() == [[-5.5]]
    dx, dw, db = _core.dense_backward(x, w, y, np.array([[4.0]], np.float32))
    assert (dx.tolist(), dw.tolist(), db.tolist()) == ([[-12.0]], [[8.0]], [4.0])
    # relu of a negative pre-activation: output 0, no gradient anywhere
    y = _core.dense_forward(x, w, b, "relu")
    assert y.tolist() == [[0.0]]
    dx, dw, db = _core.dense_backward(x, w, y, np.array([[4.0]], np.float32), "relu")
    assert (dx.tolist(), dw.tolist(), db.tolist()) == ([[0.0]], [[0.0]], [0.0])
    # softmax over one unit is 1 whatever the input, so every gradient is 0
    y = _core.dense_forward(x, w, b, "softmax")
    assert y.tolist() == [[1.0]]
    dx, dw, db = _core.dense_backward(x, w, y, np.array([[4.0]], np.float32), "softmax")
    assert np.abs(dx).max() == 0 and np.abs(dw).max() == 0 and np.abs(db).max() == 0


def test_empty_batch():
    x = np.zeros((0, 3), np.float32)
    w = np.ones((3, 4), np.float32)
    y = _core.dense_forward(x, w, np.ones(4, np.float32), "relu")
    assert y.shape == (0, 4)
    dx, dw, db = _core.dense_backward(x, w, y, np.zeros((0, 4), np.float32), "relu")
    assert dx.shape == (0, 3)
    np.testing.assert_array_equal(dw, np.zeros((3, 4)))
    np.testing.assert_array_equal(db, np.zeros(4))


def test_same_results_on_one_and_two_threads():
    # Big enough (128*96*80 multiply-adds) for the pool to be used with 2 threads.
    x, w, b, dy = make(128, 96, 80, 3)
    before = aiaas_core.get_num_threads()
    try:
        out = {}
        for t in (1, 2):
            aiaas_core.set_num_threads(t)
            y = _core.dense_forward(x, w, b, "tanh")
            out[t] = (y, *_core.dense_backward(x, w, y, dy, "tanh"))
    finally:
        aiaas_core.set_num_threads(before)
    for a, c in zip(out[1], out[2]):
        np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[1][0], dense_ref(x, w, b, "tanh", 0.0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ACTS)
def test_matches_torch(name):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, w, b, dy = make(6, 5, 4, 11)
    alpha = ALPHA.get(name, 0.0)
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True)
    z = F.linear(tx, tw.T, tb)
    fn = {
        "linear": lambda t: t,
        "relu": F.relu,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "softmax": lambda t: F.softmax(t, dim=-1),
        "leaky_relu": lambda t: F.leaky_relu(t, alpha),
        "elu": lambda t: F.elu(t, alpha),
    }[name]
    ty = fn(z)
    ty.backward(torch.tensor(dy))
    y = _core.dense_forward(x, w, b, name, alpha)
    dx, dw, db = _core.dense_backward(x, w, y, dy, name, alpha)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dw, tw.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(db, tb.grad.numpy(), rtol=1e-4, atol=1e-5)


# ---- errors ------------------------------------------------------------------------------------


def test_mismatched_shapes_name_both():
    x, w, b, dy = make(3, 4, 5, 0)
    with pytest.raises(ValueError, match=r"\[3, 4\].*\[6, 5\]"):
        _core.dense_forward(x, np.ones((6, 5), np.float32), None)
    with pytest.raises(ValueError, match=r"\[3, 4, 1\]"):
        _core.dense_forward(x[..., None], w, b)
    with pytest.raises(ValueError, match=r"got x \[12\]"):
        _core.dense_forward(x.ravel(), w, b)
    with pytest.raises(ValueError, match=r"bias has shape \[4\].*\[5\]"):
        _core.dense_forward(x, w, np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r"bias has shape \[1, 5\]"):
        _core.dense_forward(x, w, np.ones((1, 5), np.float32))
    y = _core.dense_forward(x, w, b)
    with pytest.raises(ValueError, match=r"dy has shape \[3, 4\].*\[3, 5\]"):
        _core.dense_backward(x, w, y, np.ones((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"y has shape \[2, 5\].*\[3, 5\]"):
        _core.dense_backward(x, w, y[:2].copy(), dy)


def test_wrong_dtype_and_layout_are_clear_errors():
    x, w, b, dy = make(3, 4, 5, 0)
    with pytest.raises(TypeError):
        _core.dense_forward(x.astype(np.float64), w, b)
    with pytest.raises(TypeError):
        _core.dense_forward(x, w.astype(np.int32), b)
    # Fortran order: same shape, transposed memory. Once read silently as the transpose.
    with pytest.raises(ValueError, match="x must be a C-contiguous"):
        _core.dense_forward(np.asfortranarray(x), w, b)
    with pytest.raises(ValueError, match="kernel must be a C-contiguous"):
        _core.dense_forward(x, np.asfortranarray(w), b)
    with pytest.raises(ValueError, match="dy must be a C-contiguous"):
        _core.dense_backward(x, w, _core.dense_forward(x, w, b), np.asfortranarray(dy))
    wide = np.ones((3, 8), np.float32)
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.dense_forward(wide[:, ::2], w, b)


def test_unknown_and_unfusable_activation_names():
    x, w, b, dy = make(2, 3, 4, 0)
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        _core.dense_forward(x, w, b, "swish")
    with pytest.raises(ValueError, match="unknown activation 'Relu'"):
        _core.dense_backward(x, w, dy, dy, "Relu")
    with pytest.raises(ValueError, match="gelu"):
        _core.dense_forward(x, w, b, "gelu")
    with pytest.raises(ValueError, match="gelu"):
        _core.dense_backward(x, w, dy, dy, "gelu")


def test_huge_output_is_an_exception_not_a_panic():
    # 10^7 x 10^8 floats from two empty operands: 4 PB, beyond any address space.
    x = np.zeros((10**7, 0), np.float32)
    w = np.zeros((0, 10**8), np.float32)
    with pytest.raises(MemoryError):
        _core.dense_forward(x, w, None)
    # a product past isize::MAX bytes is refused before numpy is asked
    with pytest.raises(ValueError, match="too large"):
        _core.dense_forward(np.zeros((2**40, 0), np.float32), np.zeros((0, 2**40), np.float32), None)


@pytest.mark.parametrize("u", [8, 13, 37, 200])
def test_wide_softmax_rows(u):
    # softmax over more units than the 8-lane row reductions, with a remainder
    x, w, b, dy = make(5, 6, u, u)
    w *= 8  # spread the logits
    y = _core.dense_forward(x, w, b, "softmax")
    np.testing.assert_allclose(y, dense_ref(x, w, b, "softmax", 0.0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
    dx, dw, db = _core.dense_backward(x, w, y, dy, "softmax")
    yr = dense_ref(x, w, b, "softmax", 0.0)
    dz = yr * (dy - (dy * yr).sum(axis=1, keepdims=True))  # softmax Jacobian-vector product
    np.testing.assert_allclose(db, dz.sum(axis=0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(dw, x.astype(np.float64).T @ dz, rtol=1e-4, atol=1e-6)
    # dx sums terms of size ~|w| ~ 5 that cancel: float32 round-off of ~1e-6 absolute
    np.testing.assert_allclose(dx, dz @ w.T.astype(np.float64), rtol=1e-4, atol=2e-5)


def test_set_num_threads_rejects_absurd_counts():
    # a pool of 10**6 OS threads used to hang the process while being built
    before = aiaas_core.get_num_threads()
    for n in (0, 1025, 10**6):
        with pytest.raises(ValueError, match=rf"n must be in \[1, 1024\], got {n}"):
            aiaas_core.set_num_threads(n)
    assert aiaas_core.get_num_threads() == before


@pytest.mark.parametrize("n", [1, 2, 4, 5])
@pytest.mark.parametrize("zero_fraction", [0.0, 0.75, 1.0])
def test_mostly_zero_inputs_of_a_wide_dense(n, zero_fraction):
    """The single-sample forward after a ReLU + Flatten skips the kernel rows whose input is zero:
    same numbers as the dense product, for any zero pattern, on 1 and 2 threads."""
    rng = np.random.default_rng(7)
    d, u = 6000, 128
    x = np.maximum(rng.standard_normal((n, d), dtype=np.float32), 0)
    x[:, rng.random(d) < zero_fraction] = 0.0
    w = rng.standard_normal((d, u), dtype=np.float32) * 0.02
    b = rng.standard_normal(u, dtype=np.float32)
    want = np.maximum(x.astype(np.float64) @ w.astype(np.float64) + b, 0)
    before = aiaas_core.get_num_threads()
    try:
        outs = []
        for threads in (1, 2):
            aiaas_core.set_num_threads(threads)
            outs.append(_core.dense_forward(x, w, b, "relu"))
    finally:
        aiaas_core.set_num_threads(before)
    np.testing.assert_allclose(outs[0], want, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(outs[0], outs[1])
