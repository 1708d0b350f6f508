"""conv2d_forward / conv2d_backward against a float64 numpy reference (NHWC, HWIO, TF padding)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiaas_core import _core
from kernel_refs import act64


# ---- the float64 reference -------------------------------------------------------------------
def out_and_pads(n, k, s, padding):
    """Output length and (before, after) padding along one axis, TensorFlow's rule."""
    if padding == "valid":
        return (n - k) // s + 1, (0, 0)
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return out, (total // 2, total - total // 2)


def geometry(x_shape, w_shape, stride, padding):
    (_, h, w, _), (kh, kw, _, _) = x_shape, w_shape
    oh, ph = out_and_pads(h, kh, stride[0], padding)
    ow, pw = out_and_pads(w, kw, stride[1], padding)
    return oh, ow, ph, pw


def taps(xp, ky, kx, oh, ow, stride):
    """The input pixels tap (ky, kx) of every output position reads: [N, OH, OW, C] view of padded x."""
    sh, sw = stride
    return xp[:, ky : ky + (oh - 1) * sh + 1 : sh, kx : kx + (ow - 1) * sw + 1 : sw, :]


def conv_ref(x, w, b, stride=(1, 1), padding="valid"):
    x, w = x.astype(np.float64), w.astype(np.float64)
    oh, ow, ph, pw = geometry(x.shape, w.shape, stride, padding)
    xp = np.pad(x, ((0, 0), ph, pw, (0, 0)))
    y = np.zeros((x.shape[0], oh, ow, w.shape[3]))
    for ky in range(w.shape[0]):
        for kx in range(w.shape[1]):
            y += taps(xp, ky, kx, oh, ow, stride) @ w[ky, kx]
    return y if b is None else y + b.astype(np.float64)


def conv_grad_ref(x, w, dy, stride=(1, 1), padding="valid"):
    """Analytic gradients of sum(conv_ref(x, w, b) * dy): (dx, dw, db)."""
    x, w, dy = x.astype(np.float64), w.astype(np.float64), dy.astype(np.float64)
    oh, ow, ph, pw = geometry(x.shape, w.shape, stride, padding)
    xp = np.pad(x, ((0, 0), ph, pw, (0, 0)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for ky in range(w.shape[0]):
        for kx in range(w.shape[1]):
            dw[ky, kx] = np.einsum("nhwc,nhwf->cf", taps(xp, ky, kx, oh, ow, stride), dy)
            taps(dxp, ky, kx, oh, ow, stride)[...] += dy @ w[ky, kx].T
    dx = dxp[:, ph[0] : ph[0] + x.shape[1], pw[0] : pw[0] + x.shape[2], :]
    return dx, dw, dy.sum(axis=(0, 1, 2))


def rand(rng, *shape):
    return rng.uniform(-1, 1, size=shape).astype(np.float32)


def check(ours, ref, k):
    """float32 results of sums of ~k products of O(1) numbers vs the float64 reference."""
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=2e-6 * k + 1e-5)


def run_both(x, w, b, stride, padding, rng):
    y = _core.conv2d_forward(x, w, b, stride, padding)
    check(y, conv_ref(x, w, b, stride, padding), w[..., 0].size)
    dy = rand(rng, *y.shape)
    dx, dw, db = _core.conv2d_backward(x, w, dy, stride, padding)
    rdx, rdw, rdb = conv_grad_ref(x, w, dy, stride, padding)
    check(dx, rdx, w[..., 0].size)
    check(dw, rdw, y[..., 0].size * w.shape[0] * w.shape[1])
    check(db, rdb, y[..., 0].size)


# ---- the reference itself, by central differences ----------------------------------------------
@pytest.mark.parametrize("stride,padding", [((1, 1), "valid"), ((2, 1), "same"), ((2, 3), "same")])
def test_reference_gradient_matches_central_differences(stride, padding):
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(2, 5, 6, 2)), rng.normal(size=(3, 2, 2, 3)), rng.normal(size=3)
    dy = rng.normal(size=conv_ref(x, w, b, stride, padding).shape)
    dx, dw, db = conv_grad_ref(x, w, dy, stride, padding)
    loss = lambda x_, w_, b_: float((conv_ref(x_, w_, b_, stride, padding) * dy).sum())  # noqa: E731
    eps = 1e-6
    for arr, grad, idx in [(x, dx, (1, 4, 0, 1)), (x, dx, (0, 0, 5, 0)), (w, dw, (2, 1, 1, 2)), (b, db, (1,))]:
        plus, minus = arr.copy(), arr.copy()
        plus[idx] += eps
        minus[idx] -= eps
        args_p = [plus if a is arr else a for a in (x, w, b)]
        args_m = [minus if a is arr else a for a in (x, w, b)]
        fd = (loss(*args_p) - loss(*args_m)) / (2 * eps)
        assert abs(fd - grad[idx]) < 1e-6 * (1 + abs(fd)), (idx, fd, grad[idx])


# ---- forward and backward against the reference -------------------------------------------------
@pytest.mark.parametrize(
    "x_shape,w_shape,stride,padding",
    [
        ((4, 28, 28, 1), (3, 3, 1, 32), (1, 1), "valid"),  # the seed ConvNet's first layer
        ((4, 26, 26, 32), (3, 3, 32, 64), (1, 1), "valid"),  # ... and its second
        ((3, 28, 28, 1), (3, 3, 1, 8), (1, 1), "same"),
        ((2, 13, 11, 3), (5, 3, 3, 4), (2, 2), "same"),
        ((1, 7, 7, 8), (7, 7, 8, 2), (1, 1), "valid"),  # kernel as large as the image
        ((2, 6, 5, 2), (6, 5, 2, 3), (3, 1), "same"),
        ((5, 9, 9, 16), (1, 1, 16, 5), (2, 2), "valid"),  # 1x1 kernel, strided
    ],
)
def test_forward_backward_match_reference(x_shape, w_shape, stride, padding):
    rng = np.random.default_rng(sum(x_shape) + sum(w_shape))
    x, w, b = rand(rng, *x_shape), rand(rng, *w_shape), rand(rng, w_shape[3])
    run_both(x, w, b, stride, padding, rng)


def test_bias_none_and_need_dx_false():
    rng = np.random.default_rng(1)
    x, w = rand(rng, 3, 10, 10, 4), rand(rng, 3, 3, 4, 6)
    y = _core.conv2d_forward(x, w, None, (1, 1), "same")
    check(y, conv_ref(x, w, None, (1, 1), "same"), 36)
    dy = rand(rng, *y.shape)
    dx, dw, db = _core.conv2d_backward(x, w, dy, (1, 1), "same", need_dx=False)
    assert dx is None
    _, rdw, rdb = conv_grad_ref(x, w, dy, (1, 1), "same")
    check(dw, rdw, 300 * 9)
    check(db, rdb, 300)


def test_same_results_on_one_and_many_threads():
    rng = np.random.default_rng(2)
    x, w, b = rand(rng, 9, 12, 12, 5), rand(rng, 3, 3, 5, 7), rand(rng, 7)
    before = _core.get_num_threads()
    try:
        outs = []
        for n in (1, 2, 3):
            _core.set_num_threads(n)
            y = _core.conv2d_forward(x, w, b, (1, 1), "same")
            outs.append((y, *_core.conv2d_backward(x, w, np.ones_like(y), (1, 1), "same")))
    finally:
        _core.set_num_threads(before)
    for other in outs[1:]:
        for a, r in zip(other, outs[0]):
            np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-5)


@given(
    n=st.integers(1, 3),
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    c=st.integers(1, 8),
    f=st.integers(1, 8),
    kh=st.integers(1, 9),
    kw=st.integers(1, 9),
    sh=st.integers(1, 3),
    sw=st.integers(1, 3),
    padding=st.sampled_from(["valid", "same"]),
    bias=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_random_shapes(n, h, w, c, f, kh, kw, sh, sw, padding, bias, seed):
    kh, kw = min(kh, h), min(kw, w)  # "valid" needs the kernel to fit; "same" is checked with both
    rng = np.random.default_rng(seed)
    x, k = rand(rng, n, h, w, c), rand(rng, kh, kw, c, f)
    run_both(x, k, rand(rng, f) if bias else None, (sh, sw), padding, rng)


@given(h=st.integers(1, 6), k=st.integers(1, 9), s=st.integers(1, 3), seed=st.integers(0, 2**31))
def test_same_padding_with_kernel_larger_than_image(h, k, s, seed):
    rng = np.random.default_rng(seed)
    x, w = rand(rng, 2, h, h + 1, 2), rand(rng, k, k, 2, 3)
    run_both(x, w, rand(rng, 3), (s, s), "same", rng)


# ---- PyTorch, when installed ------------------------------------------------------------------
@pytest.mark.parametrize(
    "x_shape,w_shape,stride,padding",
    [
        ((8, 28, 28, 1), (3, 3, 1, 32), (1, 1), "valid"),
        ((8, 26, 26, 32), (3, 3, 32, 64), (1, 1), "valid"),
        ((3, 11, 10, 3), (4, 3, 3, 5), (2, 3), "same"),
    ],
)
def test_matches_torch(x_shape, w_shape, stride, padding):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(3)
    x, w, b = rand(rng, *x_shape), rand(rng, *w_shape), rand(rng, w_shape[3])
    _, _, ph, pw = geometry(x_shape, w_shape, stride, padding)
    tx = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)  # NHWC -> NCHW
    tw = torch.tensor(w.transpose(3, 2, 0, 1), requires_grad=True)  # HWIO -> OIHW
    tb = torch.tensor(b, requires_grad=True)
    ty = F.conv2d(F.pad(tx, (pw[0], pw[1], ph[0], ph[1])), tw, tb, stride=stride)
    y = _core.conv2d_forward(x, w, b, stride, padding)
    np.testing.assert_allclose(y, ty.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-4)
    dy = rand(rng, *y.shape)
    ty.backward(torch.tensor(dy.transpose(0, 3, 1, 2)))
    dx, dw, db = _core.conv2d_backward(x, w, dy, stride, padding)
    np.testing.assert_allclose(dx, tx.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dw, tw.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(db, tb.grad.numpy(), rtol=1e-4, atol=1e-3)


# ---- errors: ValueError naming the shapes, never a crash ----------------------------------------
def test_errors_name_the_shapes():
    x = np.zeros((2, 5, 5, 3), np.float32)
    w = np.zeros((3, 3, 3, 4), np.float32)
    with pytest.raises(ValueError, match=r"\(5, 5, 3\)|\[5, 5, 3\]"):
        _core.conv2d_forward(x[0], w, None)  # rank 3
    with pytest.raises(ValueError, match=r"\[3, 3, 2, 4\].*\[2, 5, 5, 3\]"):
        _core.conv2d_forward(x, np.zeros((3, 3, 2, 4), np.float32), None)  # C mismatch
    with pytest.raises(ValueError, match=r"bias.*\[5\].*\[4\]"):
        _core.conv2d_forward(x, w, np.zeros(5, np.float32))
    with pytest.raises(ValueError, match="stride"):
        _core.conv2d_forward(x, w, None, (0, 1))
    with pytest.raises(ValueError, match="stride"):
        _core.conv2d_backward(x, w, np.zeros((2, 3, 3, 4), np.float32), (1, -2))
    with pytest.raises(ValueError, match="padding"):
        _core.conv2d_forward(x, w, None, (1, 1), "full")
    with pytest.raises(ValueError, match=r"larger.*\[6, 6, 3, 4\].*\[2, 5, 5, 3\]|\[6, 6, 3, 4\].*larger"):
        _core.conv2d_forward(x, np.zeros((6, 6, 3, 4), np.float32), None, (1, 1), "valid")
    with pytest.raises(ValueError, match=r"dy.*\[2, 3, 4, 4\].*\[2, 3, 3, 4\]"):
        _core.conv2d_backward(x, w, np.zeros((2, 3, 4, 4), np.float32))
    with pytest.raises(ValueError, match="contiguous"):
        _core.conv2d_forward(np.zeros((2, 5, 10, 3), np.float32)[:, :, ::2], w, None)
    with pytest.raises(TypeError):
        _core.conv2d_forward(x.astype(np.float64), w, None)
    # an empty batch is fine
    assert _core.conv2d_forward(x[:0], w, None).shape == (0, 3, 3, 4)


# ---- the direct kernel (tiny receptive fields) over many filter counts ---------------------------
@given(
    n=st.integers(1, 3),
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    c=st.integers(1, 6),
    f=st.integers(1, 70),
    kh=st.integers(1, 3),
    kw=st.integers(1, 3),
    sh=st.integers(1, 3),
    sw=st.integers(1, 3),
    padding=st.sampled_from(["valid", "same"]),
    seed=st.integers(0, 2**31),
)
def test_direct_path_random_filter_counts(n, h, w, c, f, kh, kw, sh, sw, padding, seed):
    # KH*KW*C <= 16 takes the direct kernels, and so does the forward with F >= 16 at any field:
    # 16-, 8- and 1-wide filter blocks, 4-, 2- and 1-pixel runs, padding crossed on every side.
    kh, kw = min(kh, h), min(kw, w)
    rng = np.random.default_rng(seed)
    x, k = rand(rng, n, h, w, c), rand(rng, kh, kw, c, f)
    run_both(x, k, rand(rng, f), (sh, sw), padding, rng)


# ---- the fused activation -------------------------------------------------------------------------
FUSED = [("relu", 0.0), ("sigmoid", 0.0), ("tanh", 0.0), ("softmax", 0.0), ("leaky_relu", 0.2), ("elu", 1.0),
         ("linear", 0.0)]
SHAPES = [  # direct path (tiny field) and im2col path, strided and padded
    ((3, 12, 11, 1), (3, 3, 1, 20), (1, 1), "valid"),
    ((2, 9, 8, 5), (3, 3, 5, 6), (2, 1), "same"),
]


@pytest.mark.parametrize("act,alpha", FUSED)
@pytest.mark.parametrize("x_shape,w_shape,stride,padding", SHAPES)
def test_fused_activation_matches_the_composition(act, alpha, x_shape, w_shape, stride, padding):
    rng = np.random.default_rng(5)
    x, w, b = rand(rng, *x_shape), rand(rng, *w_shape), rand(rng, w_shape[3])
    z = _core.conv2d_forward(x, w, b, stride, padding)
    y = _core.conv2d_forward(x, w, b, stride, padding, act, alpha)
    np.testing.assert_allclose(y, _core.activation_forward(z, act, alpha), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(y, act64(conv_ref(x, w, b, stride, padding), act, alpha), rtol=1e-4, atol=1e-5)
    dy = rand(rng, *y.shape)
    dz = _core.activation_backward(z, y, dy, act, alpha)
    for need_dx in (True, False):
        fused = _core.conv2d_backward(x, w, dy, stride, padding, need_dx, y=y, activation=act, alpha=alpha)
        split = _core.conv2d_backward(x, w, dz, stride, padding, need_dx)
        for got, want in zip(fused, split):
            if want is None:
                assert got is None
            else:
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("act,alpha", [("sigmoid", 0.0), ("tanh", 0.0), ("softmax", 0.0), ("elu", 0.7)])
@pytest.mark.parametrize("x_shape,w_shape,stride,padding", SHAPES)
def test_fused_gradients_match_finite_differences(act, alpha, x_shape, w_shape, stride, padding):
    # L = sum(act(conv(x, w) + b) * dy) in float64 (smooth activations), central differences on a
    # few elements of x, w and b against the fused float32 backward.
    rng = np.random.default_rng(6)
    x, w, b = rand(rng, *x_shape), rand(rng, *w_shape), rand(rng, w_shape[3])
    y = _core.conv2d_forward(x, w, b, stride, padding, act, alpha)
    dy = rand(rng, *y.shape)
    dx, dw, db = _core.conv2d_backward(x, w, dy, stride, padding, y=y, activation=act, alpha=alpha)
    loss = lambda x_, w_, b_: float((act64(conv_ref(x_, w_, b_, stride, padding), act, alpha) * dy).sum())  # noqa: E731
    x64, w64, b64 = x.astype(np.float64), w.astype(np.float64), b.astype(np.float64)
    eps = 1e-6
    for arr, grad in ((x64, dx), (w64, dw), (b64, db)):
        for flat in rng.choice(arr.size, size=4, replace=False):
            idx = np.unravel_index(flat, arr.shape)
            plus, minus = arr.copy(), arr.copy()
            plus[idx] += eps
            minus[idx] -= eps
            args = lambda v: [v if a is arr else a for a in (x64, w64, b64)]  # noqa: E731
            fd = (loss(*args(plus)) - loss(*args(minus))) / (2 * eps)
            assert abs(fd - grad[idx]) < 1e-4 * (1 + abs(fd)), (act, idx, fd, grad[idx])


def test_fused_activation_errors():
    rng = np.random.default_rng(7)
    x, w = rand(rng, 2, 6, 6, 1), rand(rng, 3, 3, 1, 4)
    y = _core.conv2d_forward(x, w, None, activation="relu")
    with pytest.raises(ValueError, match="gelu"):
        _core.conv2d_forward(x, w, None, activation="gelu")
    with pytest.raises(ValueError, match="gelu"):
        _core.conv2d_backward(x, w, y, y=y, activation="gelu")
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        _core.conv2d_forward(x, w, None, activation="swish")
    with pytest.raises(ValueError, match="needs y"):
        _core.conv2d_backward(x, w, y, activation="relu")
    with pytest.raises(ValueError, match=r"y has shape \[2, 4, 3, 4\].*dy.*\[2, 4, 4, 4\]"):
        _core.conv2d_backward(x, w, y, y=y[:, :, :3].copy(), activation="relu")


@pytest.mark.parametrize("act", ["relu", "tanh", "softmax", "elu", "gelu", "linear"])
def test_conv2d_layer_fuses_its_activation(act):
    from aiaas_core.keras import layers

    rng = np.random.default_rng(8)
    layer = layers.Conv2D(6, 3, padding="same", activation=act)
    x = rand(rng, 2, 7, 6, 3)
    layer(x)
    w, b = rand(rng, 3, 3, 3, 6), rand(rng, 6)
    layer.kernel.value[...] = w
    layer.bias.value[...] = b
    y, ctx = layer.forward(x, True)
    z = _core.conv2d_forward(x, w, b, (1, 1), "same")
    alpha = layer.alpha
    np.testing.assert_allclose(y, _core.activation_forward(z, act, alpha), rtol=1e-5, atol=1e-6)
    # the fused forms keep x and y only; gelu keeps its pre-activation
    assert (ctx[1] is None) == (act != "gelu")
    dy = rand(rng, *y.shape)
    dx, (dw, db) = layer.backward(ctx, dy)
    rdx, rdw, rdb = _core.conv2d_backward(x, w, _core.activation_backward(z, y, dy, act, alpha), (1, 1), "same")
    for got, want in ((dx, rdx), (dw, rdw), (db, rdb)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_avx2_copy_of_the_direct_forward_in_subprocess():
    """AIAAS_DISABLE_AVX512=1 (read once) runs the AVX2 copy of the direct forward (16-filter
    blocks) instead of the AVX-512 one (32-filter blocks): both match the reference."""
    import os
    import subprocess
    import sys

    code = (
        "import sys, numpy as np; sys.path.insert(0, sys.argv[1]); import test_conv as t;"
        "from aiaas_core import _core; rng = np.random.default_rng(4);"
        "cases = [((2, 28, 28, 1), (3, 3, 1, 32), (1, 1), 'valid'), ((2, 11, 9, 5), (3, 3, 5, 56), (2, 1), 'same'),"
        "         ((1, 8, 7, 3), (3, 3, 3, 16), (1, 1), 'same')];"
        "[t.check(_core.conv2d_forward(x, w, b, s, p), t.conv_ref(x, w, b, s, p), w[..., 0].size) "
        " for xs, ws, s, p in cases for x, w, b in [(t.rand(rng, *xs), t.rand(rng, *ws), t.rand(rng, ws[3]))]];"
        "print('ok')"
    )
    for flag in ("0", "1"):
        env = dict(os.environ, AIAAS_DISABLE_AVX512=flag)
        out = subprocess.run([sys.executable, "-c", code, os.path.dirname(__file__)], env=env,
                             capture_output=True, text=True)
        assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
