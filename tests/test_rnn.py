"""LSTM / GRU / SimpleRNN kernels: forward against float64 numpy references of the Keras equations,
backward against finite differences of those references, PyTorch where importable, error cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiaas_core import _core
from kernel_refs import act64 as _act64, central_diff

# ---- float64 references (Keras equations, zero initial states) -------------------------------


def act64(name: str, x: np.ndarray) -> np.ndarray:
    return _act64(x, name, 1.0)  # Keras's elu alpha


def lstm_ref(x, W, U, b, act="tanh", rec="sigmoid"):
    n, t, _ = x.shape
    h_units = U.shape[0]
    h = np.zeros((n, h_units))
    c = np.zeros((n, h_units))
    hs = []
    for s in range(t):
        z = x[:, s] @ W + h @ U + (0.0 if b is None else b)
        i, f, g, o = np.split(z, 4, axis=1)
        c = act64(rec, f) * c + act64(rec, i) * act64(act, g)
        h = act64(rec, o) * act64(act, c)
        hs.append(h)
    return np.stack(hs, axis=1)


def gru_ref(x, W, U, b, act="tanh", rec="sigmoid"):
    n, t, _ = x.shape
    h_units = U.shape[0]
    b_in, b_rec = (np.zeros(3 * h_units), np.zeros(3 * h_units)) if b is None else (b[0], b[1])
    h = np.zeros((n, h_units))
    hs = []
    for s in range(t):
        xz, xr, xh = np.split(x[:, s] @ W + b_in, 3, axis=1)
        rz, rr, rh = np.split(h @ U + b_rec, 3, axis=1)
        z = act64(rec, xz + rz)
        r = act64(rec, xr + rr)
        hh = act64(act, xh + r * rh)
        h = z * h + (1.0 - z) * hh
        hs.append(h)
    return np.stack(hs, axis=1)


def simple_ref(x, W, U, b, act="tanh", rec=None):
    n, t, _ = x.shape
    h = np.zeros((n, U.shape[0]))
    hs = []
    for s in range(t):
        h = act64(act, x[:, s] @ W + h @ U + (0.0 if b is None else b))
        hs.append(h)
    return np.stack(hs, axis=1)


CELLS = {
    # name: (reference, gates, bias shape for H units, forward, backward)
    "lstm": (lstm_ref, 4, lambda h: (4 * h,), _core.lstm_forward, _core.lstm_backward),
    "gru": (gru_ref, 3, lambda h: (2, 3 * h), _core.gru_forward, _core.gru_backward),
    "simple_rnn": (simple_ref, 1, lambda h: (h,), _core.simple_rnn_forward, _core.simple_rnn_backward),
}


def make(cell, n, t, d, h, seed=0, scale=0.6):
    rng = np.random.default_rng(seed)
    _, gates, bias_shape, _, _ = CELLS[cell]
    x = rng.normal(size=(n, t, d)).astype(np.float32)
    W = (rng.normal(size=(d, gates * h)) * scale).astype(np.float32)
    U = (rng.normal(size=(h, gates * h)) * scale).astype(np.float32)
    b = (rng.normal(size=bias_shape(h)) * 0.3).astype(np.float32)
    return x, W, U, b


def acts_kw(cell, act, rec="sigmoid"):
    return {"activation": act} if cell == "simple_rnn" else {"activation": act, "recurrent_activation": rec}


def forward(cell, x, W, U, b, **kw):
    return CELLS[cell][3](x, W, U, b, **kw)


def backward(cell, x, W, U, hs, cache, dhs, **kw):
    return CELLS[cell][4](x, W, U, hs, cache, dhs, **kw)


def numeric_grads(cell, x, W, U, b, dhs, act, rec, eps=1e-6):
    """Central differences of sum(ref(x, W, U, b) * dhs) in float64, for x, W, U, b."""
    ref = CELLS[cell][0]
    params = [p.astype(np.float64) for p in (x, W, U, b)]
    dhs = dhs.astype(np.float64)

    def loss_of(k):
        return lambda a: np.sum(ref(*params[:k], a, *params[k + 1:], act, rec) * dhs)

    return [central_diff(loss_of(k), p, eps) for k, p in enumerate(params)]


def check_backward(cell, n, t, d, h, act, rec="sigmoid", seed=0, last_only=False, bias=True):
    x, W, U, b = make(cell, n, t, d, h, seed)
    if not bias:
        b = None
    rng = np.random.default_rng(seed + 1)
    dhs = rng.normal(size=(n, t, h)).astype(np.float32)
    if last_only:
        dhs[:, :-1] = 0.0
    kw = acts_kw(cell, act, rec)
    hs, cache = forward(cell, x, W, U, b, **kw)
    ref_hs = CELLS[cell][0](x.astype(np.float64), W.astype(np.float64), U.astype(np.float64),
                            None if b is None else b.astype(np.float64), act, rec)
    np.testing.assert_allclose(hs, ref_hs, rtol=1e-4, atol=2e-5)
    dx, dW, dU, db = backward(cell, x, W, U, hs, cache, dhs, **kw)
    b_for_fd = np.zeros(CELLS[cell][2](h), np.float32) if b is None else b
    gx, gW, gU, gb = numeric_grads(cell, x, W, U, b_for_fd, dhs, act, rec)
    for name, got, want in [("dx", dx, gx), ("dkernel", dW, gW), ("drecurrent", dU, gU), ("dbias", db, gb)]:
        assert got.shape == want.shape, name
        assert got.dtype == np.float32, name
        np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-4, err_msg=f"{cell} {act} {name}")


# ---- forward ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_forward_matches_float64_reference(cell, act):
    x, W, U, b = make(cell, 5, 7, 3, 6, seed=3)
    hs, cache = forward(cell, x, W, U, b, **acts_kw(cell, act))
    assert hs.shape == (5, 7, 6) and hs.dtype == np.float32
    assert isinstance(cache, tuple) and all(isinstance(a, np.ndarray) for a in cache)
    want = CELLS[cell][0](x.astype(np.float64), W.astype(np.float64), U.astype(np.float64),
                          b.astype(np.float64), act, "sigmoid")
    np.testing.assert_allclose(hs, want, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_forward_other_recurrent_activations_and_no_bias(cell):
    x, W, U, _ = make(cell, 3, 4, 2, 5, seed=4)
    for act, rec in [("elu", "tanh"), ("linear", "sigmoid"), ("sigmoid", "relu")]:
        hs, _ = forward(cell, x, W, U, None, activation=act, recurrent_activation=rec)
        want = CELLS[cell][0](x.astype(np.float64), W.astype(np.float64), U.astype(np.float64), None, act, rec)
        np.testing.assert_allclose(hs, want, rtol=1e-4, atol=2e-5, err_msg=f"{act}/{rec}")


def test_forward_defaults_are_tanh_and_sigmoid():
    x, W, U, b = make("lstm", 2, 3, 2, 3)
    hs, _ = _core.lstm_forward(x, W, U, b)
    want = lstm_ref(x.astype(np.float64), W.astype(np.float64), U.astype(np.float64), b.astype(np.float64))
    np.testing.assert_allclose(hs, want, rtol=1e-4, atol=2e-5)


def test_large_shape_matches_reference_multithreaded():
    # Big enough for the threaded path (one step's sgemm >= 64^3 multiply-adds).
    _core.set_num_threads(2)
    for cell in CELLS:
        x, W, U, b = make(cell, 64, 4, 9, 96, seed=5, scale=0.1)
        hs, cache = forward(cell, x, W, U, b)
        want = CELLS[cell][0](x.astype(np.float64), W.astype(np.float64), U.astype(np.float64),
                              b.astype(np.float64), "tanh", "sigmoid")
        np.testing.assert_allclose(hs, want, rtol=1e-4, atol=5e-5, err_msg=cell)


@pytest.mark.parametrize("cell", list(CELLS))
def test_forward_writes_every_output_element(cell):
    # hs and the cache are allocated uninitialised: freed NaN-filled blocks of the same sizes,
    # which the allocator hands out again, must not show through.
    x, W, U, b = make(cell, 6, 5, 4, 8, seed=6)
    clean_hs, clean_cache = forward(cell, x, W, U, b)
    for _ in range(3):
        junk = [np.full(a.shape, np.nan, np.float32) for a in (clean_hs, *clean_cache)]
        del junk
        hs, cache = forward(cell, x, W, U, b)
        for got, want in zip((hs, *cache), (clean_hs, *clean_cache)):
            assert np.array_equal(got, want)


# ---- backward --------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("act", ["tanh", "relu"])
@pytest.mark.parametrize("last_only", [False, True])
def test_backward_matches_finite_differences(cell, act, last_only):
    check_backward(cell, 2, 3, 2, 3, act, last_only=last_only, seed=7)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_backward_other_activations_no_bias(cell):
    check_backward(cell, 2, 3, 2, 3, "elu", rec="tanh", seed=11, bias=False)


@pytest.mark.parametrize("cell", list(CELLS))
def test_need_dx_false_skips_dx_only(cell):
    x, W, U, b = make(cell, 3, 4, 2, 5)
    hs, cache = forward(cell, x, W, U, b)
    dhs = np.random.default_rng(0).normal(size=hs.shape).astype(np.float32)
    full = backward(cell, x, W, U, hs, cache, dhs)
    part = backward(cell, x, W, U, hs, cache, dhs, need_dx=False)
    assert part[0] is None and full[0].shape == x.shape
    for a, c in zip(full[1:], part[1:]):
        np.testing.assert_array_equal(a, c)


@given(
    cell=st.sampled_from(list(CELLS)),
    n=st.integers(1, 3),
    t=st.integers(1, 4),
    d=st.integers(1, 3),
    h=st.sampled_from([1, 3, 5]),
    act=st.sampled_from(["tanh", "relu"]),
    last_only=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_random_shapes_forward_and_backward(cell, n, t, d, h, act, last_only, seed):
    check_backward(cell, n, t, d, h, act, seed=seed, last_only=last_only)


def test_multithreaded_backward_equals_single_threaded():
    for cell in CELLS:
        x, W, U, b = make(cell, 64, 3, 5, 80, seed=2, scale=0.1)
        dhs = np.random.default_rng(1).normal(size=(64, 3, 80)).astype(np.float32)
        out = []
        for threads in (1, 2):
            _core.set_num_threads(threads)
            hs, cache = forward(cell, x, W, U, b)
            out.append(backward(cell, x, W, U, hs, cache, dhs))
        for a, c in zip(*out):
            np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-5, err_msg=cell)


# ---- PyTorch ---------------------------------------------------------------------------------


def _torch_grads(module, x, dhs, torch):
    xt = torch.tensor(x, requires_grad=True)
    out, _ = module(xt)
    out.backward(torch.tensor(dhs))
    return out.detach().numpy(), xt.grad.numpy()


# The small shape is the readable one; the larger one covers several 8-row micro-panels, partial
# column panels (80 units), and with 2 threads uneven batch blocks (8 + 7 rows) of the time loop.
TORCH_SHAPES = pytest.mark.parametrize(
    "n,t,d,h,scale,threads", [(4, 6, 3, 5, 0.6, 1), (15, 5, 3, 80, 0.1, 1), (15, 5, 3, 80, 0.1, 2)]
)


@TORCH_SHAPES
def test_lstm_matches_torch(n, t, d, h, scale, threads):
    torch = pytest.importorskip("torch")
    _core.set_num_threads(threads)
    x, W, U, b = make("lstm", n, t, d, h, seed=21, scale=scale)
    dhs = np.random.default_rng(2).normal(size=(n, t, h)).astype(np.float32)
    m = torch.nn.LSTM(d, h, batch_first=True)
    with torch.no_grad():
        m.weight_ih_l0.copy_(torch.tensor(W.T))
        m.weight_hh_l0.copy_(torch.tensor(U.T))
        m.bias_ih_l0.copy_(torch.tensor(b))
        m.bias_hh_l0.zero_()
    out, gx = _torch_grads(m, x, dhs, torch)
    hs, cache = _core.lstm_forward(x, W, U, b)
    np.testing.assert_allclose(hs, out, rtol=1e-4, atol=2e-5)
    dx, dW, dU, db = _core.lstm_backward(x, W, U, hs, cache, dhs)
    np.testing.assert_allclose(dx, gx, rtol=1e-4, atol=5e-5)
    np.testing.assert_allclose(dW, m.weight_ih_l0.grad.numpy().T, rtol=1e-4, atol=5e-5)
    np.testing.assert_allclose(dU, m.weight_hh_l0.grad.numpy().T, rtol=1e-4, atol=5e-5)
    np.testing.assert_allclose(db, m.bias_ih_l0.grad.numpy(), rtol=1e-4, atol=5e-5)


@TORCH_SHAPES
def test_gru_matches_torch(n, t, d, h, scale, threads):
    torch = pytest.importorskip("torch")
    _core.set_num_threads(threads)
    x, W, U, b = make("gru", n, t, d, h, seed=22, scale=scale)
    dhs = np.random.default_rng(3).normal(size=(n, t, h)).astype(np.float32)

    # Keras columns are [z | r | h]; torch rows are [r | z | n] (its n-gate is reset_after=True).
    def to_torch(a):
        z, r, hh = np.split(a, 3, axis=-1)
        return np.concatenate([r, z, hh], axis=-1)

    m = torch.nn.GRU(d, h, batch_first=True)
    with torch.no_grad():
        m.weight_ih_l0.copy_(torch.tensor(to_torch(W).T))
        m.weight_hh_l0.copy_(torch.tensor(to_torch(U).T))
        m.bias_ih_l0.copy_(torch.tensor(to_torch(b[0])))
        m.bias_hh_l0.copy_(torch.tensor(to_torch(b[1])))
    out, gx = _torch_grads(m, x, dhs, torch)
    hs, cache = _core.gru_forward(x, W, U, b)
    np.testing.assert_allclose(hs, out, rtol=1e-4, atol=2e-5)
    dx, dW, dU, db = _core.gru_backward(x, W, U, hs, cache, dhs)
    np.testing.assert_allclose(dx, gx, rtol=1e-4, atol=5e-5)
    np.testing.assert_allclose(to_torch(dW).T, m.weight_ih_l0.grad.numpy(), rtol=1e-4, atol=5e-5)
    np.testing.assert_allclose(to_torch(dU).T, m.weight_hh_l0.grad.numpy(), rtol=1e-4, atol=5e-5)
    np.testing.assert_allclose(to_torch(db[0]), m.bias_ih_l0.grad.numpy(), rtol=1e-4, atol=5e-5)
    np.testing.assert_allclose(to_torch(db[1]), m.bias_hh_l0.grad.numpy(), rtol=1e-4, atol=5e-5)


def test_simple_rnn_matches_torch():
    torch = pytest.importorskip("torch")
    n, t, d, h = 3, 5, 4, 6
    x, W, U, b = make("simple_rnn", n, t, d, h, seed=23)
    dhs = np.random.default_rng(4).normal(size=(n, t, h)).astype(np.float32)
    m = torch.nn.RNN(d, h, batch_first=True, nonlinearity="relu")
    with torch.no_grad():
        m.weight_ih_l0.copy_(torch.tensor(W.T))
        m.weight_hh_l0.copy_(torch.tensor(U.T))
        m.bias_ih_l0.copy_(torch.tensor(b))
        m.bias_hh_l0.zero_()
    out, gx = _torch_grads(m, x, dhs, torch)
    hs, cache = _core.simple_rnn_forward(x, W, U, b, activation="relu")
    np.testing.assert_allclose(hs, out, rtol=1e-4, atol=2e-5)
    dx, dW, dU, db = _core.simple_rnn_backward(x, W, U, hs, cache, dhs, activation="relu")
    np.testing.assert_allclose(dx, gx, rtol=1e-4, atol=5e-5)
    np.testing.assert_allclose(dW, m.weight_ih_l0.grad.numpy().T, rtol=1e-4, atol=5e-5)
    np.testing.assert_allclose(dU, m.weight_hh_l0.grad.numpy().T, rtol=1e-4, atol=5e-5)
    np.testing.assert_allclose(db, m.bias_ih_l0.grad.numpy(), rtol=1e-4, atol=5e-5)


# ---- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", list(CELLS))
def test_shape_errors_name_the_shapes(cell):
    x, W, U, b = make(cell, 2, 3, 4, 5)
    g = CELLS[cell][1]
    with pytest.raises(ValueError, match=r"\[3, 4\]"):
        forward(cell, x[0], W, U, b)  # rank 2 x
    with pytest.raises(ValueError, match=r"\[3, %d\]" % (g * 5)):
        forward(cell, x, W[:3], U, b)  # kernel rows != D
    with pytest.raises(ValueError, match=r"\[5, %d\]" % (g * 5 + 1)):
        forward(cell, x, W, np.zeros((5, g * 5 + 1), np.float32), b)  # recurrent not [H, G*H]
    with pytest.raises(ValueError, match=r"bias"):
        forward(cell, x, W, U, np.zeros(7, np.float32))
    with pytest.raises(ValueError, match="swishy"):
        forward(cell, x, W, U, b, activation="swishy")
    with pytest.raises(ValueError, match="gelu"):
        forward(cell, x, W, U, b, activation="gelu")
    hs, cache = forward(cell, x, W, U, b)
    with pytest.raises(ValueError, match=r"dhs.*\[2, 3, 5\]"):
        backward(cell, x, W, U, hs, cache, np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match=r"hs.*\[2, 3, 5\]"):
        backward(cell, x, W, U, hs[:, :2], cache, np.zeros_like(hs))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_bad_cache_is_a_value_error(cell):
    x, W, U, b = make(cell, 2, 3, 4, 5)
    hs, cache = forward(cell, x, W, U, b)
    dhs = np.zeros_like(hs)
    bad_shape = (np.zeros((2, 3, 7), np.float32),) + cache[1:]
    with pytest.raises(ValueError, match=r"\[2, 3, 7\]"):
        backward(cell, x, W, U, hs, bad_shape, dhs)
    with pytest.raises(ValueError, match="cache"):
        backward(cell, x, W, U, hs, cache[:-1], dhs)
    with pytest.raises(ValueError, match="cache"):
        backward(cell, x, W, U, hs, "not a tuple", dhs)
    with pytest.raises(ValueError, match="cache"):
        backward(cell, x, W, U, hs, tuple(c.astype(np.float64) for c in cache), dhs)


def test_simple_rnn_cache_must_be_empty_tuple():
    x, W, U, b = make("simple_rnn", 2, 3, 4, 5)
    hs, cache = _core.simple_rnn_forward(x, W, U, b)
    assert cache == ()
    with pytest.raises(ValueError, match="cache"):
        _core.simple_rnn_backward(x, W, U, hs, (hs,), np.zeros_like(hs))
