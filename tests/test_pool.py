"""MaxPooling2D / AveragePooling2D (NHWC) against a float64 numpy reference."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiaas_core import _core


def out_and_pads(n, k, s, padding):
    if padding == "valid":
        return (n - k) // s + 1, (0, 0)
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return out, (total // 2, total - total // 2)


def windows(x, pool, strides, padding, fill):
    """[N, OH, OW, PH*PW, C] windows of x padded with `fill`, and the flat x index of each cell
    (-1 for padding), both in row-major window order."""
    n, h, w, c = x.shape
    oh, ph = out_and_pads(h, pool[0], strides[0], padding)
    ow, pw = out_and_pads(w, pool[1], strides[1], padding)
    xp = np.pad(x.astype(np.float64), ((0, 0), ph, pw, (0, 0)), constant_values=fill)
    idx = np.pad(np.arange(x.size).reshape(x.shape), ((0, 0), ph, pw, (0, 0)), constant_values=-1)
    cells, cell_idx = [], []
    for ky in range(pool[0]):
        for kx in range(pool[1]):
            sl = (slice(None), slice(ky, ky + (oh - 1) * strides[0] + 1, strides[0]),
                  slice(kx, kx + (ow - 1) * strides[1] + 1, strides[1]), slice(None))
            cells.append(xp[sl])
            cell_idx.append(idx[sl])
    return np.stack(cells, axis=3), np.stack(cell_idx, axis=3)


def maxpool_ref(x, pool, strides, padding):
    cells, idx = windows(x, pool, strides, padding, -np.inf)
    first = cells.argmax(axis=3)  # numpy's argmax picks the first maximum, like Keras/TF
    y = np.take_along_axis(cells, first[:, :, :, None], axis=3)[:, :, :, 0]
    arg = np.take_along_axis(idx, first[:, :, :, None], axis=3)[:, :, :, 0]
    return y, arg


def avgpool_ref(x, pool, strides, padding):
    cells, idx = windows(x, pool, strides, padding, 0.0)
    return cells.sum(axis=3) / (idx >= 0).sum(axis=3)


def avgpool_grad_ref(x_shape, dy, pool, strides, padding):
    _, idx = windows(np.zeros(x_shape), pool, strides, padding, 0.0)
    count = (idx >= 0).sum(axis=3)
    dx = np.zeros(int(np.prod(x_shape)))
    share = dy.astype(np.float64) / count
    for t in range(idx.shape[3]):
        valid = idx[:, :, :, t] >= 0
        np.add.at(dx, idx[:, :, :, t][valid], share[valid])
    return dx.reshape(x_shape)


def distinct(rng, *shape):
    """Values with no ties and gaps >> finite-difference steps: a shuffled ramp."""
    x = rng.permutation(int(np.prod(shape))).reshape(shape).astype(np.float32)
    return x / x.size - 0.5


shapes = [
    ((4, 26, 26, 32), (2, 2), (2, 2), "valid"),  # the seed ConvNet's pooling
    ((2, 7, 9, 3), (3, 3), (2, 2), "same"),
    ((3, 5, 6, 2), (2, 3), (1, 2), "same"),
    ((1, 4, 4, 5), (4, 4), (1, 1), "valid"),  # window as large as the image
    ((2, 5, 5, 1), (5, 5), (3, 3), "same"),
]


@pytest.mark.parametrize("x_shape,pool,strides,padding", shapes)
def test_maxpool_matches_reference(x_shape, pool, strides, padding):
    rng = np.random.default_rng(0)
    x = distinct(rng, *x_shape)
    y, arg = _core.maxpool2d_forward(x, pool, strides, padding)
    ry, rarg = maxpool_ref(x, pool, strides, padding)
    np.testing.assert_array_equal(y, ry)
    assert arg.dtype == np.int64
    np.testing.assert_array_equal(arg, rarg)
    dy = rng.uniform(-1, 1, y.shape).astype(np.float32)
    dx = _core.maxpool2d_backward(dy, arg, x_shape)
    rdx = np.zeros(x.size)
    np.add.at(rdx, rarg.ravel(), dy.ravel().astype(np.float64))
    np.testing.assert_allclose(dx, rdx.reshape(x_shape), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("x_shape,pool,strides,padding", shapes)
def test_avgpool_matches_reference(x_shape, pool, strides, padding):
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, x_shape).astype(np.float32)
    y = _core.avgpool2d_forward(x, pool, strides, padding)
    np.testing.assert_allclose(y, avgpool_ref(x, pool, strides, padding), rtol=1e-5, atol=1e-6)
    dy = rng.uniform(-1, 1, y.shape).astype(np.float32)
    dx = _core.avgpool2d_backward(dy, x_shape, pool, strides, padding)
    np.testing.assert_allclose(dx, avgpool_grad_ref(x_shape, dy, pool, strides, padding), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_backward_matches_central_differences(padding):
    """Both backwards against finite differences of the float64 references (no ties in x)."""
    rng = np.random.default_rng(2)
    x_shape, pool, strides = (2, 5, 6, 2), (3, 2), (2, 2)
    x = distinct(rng, *x_shape).astype(np.float64)
    y, arg = _core.maxpool2d_forward(x.astype(np.float32), pool, strides, padding)
    dy = rng.normal(size=y.shape).astype(np.float32)
    dmax = _core.maxpool2d_backward(dy, arg, x_shape)
    davg = _core.avgpool2d_backward(dy, x_shape, pool, strides, padding)
    eps = 1e-4  # well below the 1/120 gap between distinct values, so no max changes
    for i in rng.choice(x.size, size=20, replace=False):
        idx = np.unravel_index(i, x_shape)
        plus, minus = x.copy(), x.copy()
        plus[idx] += eps
        minus[idx] -= eps
        for ref, ours in [(lambda v: maxpool_ref(v, pool, strides, padding)[0], dmax),
                          (lambda v: avgpool_ref(v, pool, strides, padding), davg)]:
            fd = ((ref(plus) - ref(minus)) * dy).sum() / (2 * eps)
            assert abs(fd - ours[idx]) < 1e-5, (idx, fd, ours[idx])


def test_max_ties_pick_the_first_maximum():
    x = np.zeros((1, 4, 4, 2), np.float32)
    x[0, 1, 1, 0] = x[0, 0, 1, 0] = 5.0  # two maxima in one window: row-major first is (0, 1)
    _, arg = _core.maxpool2d_forward(x, (2, 2), (2, 2))
    assert arg[0, 0, 0, 0] == np.ravel_multi_index((0, 0, 1, 0), x.shape)
    assert arg[0, 0, 0, 1] == np.ravel_multi_index((0, 0, 0, 1), x.shape)  # all zeros: the first cell


def test_parallel_batch_matches_one_thread():
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (64, 26, 26, 32)).astype(np.float32)
    before = _core.get_num_threads()
    try:
        res = []
        for n in (1, 2):
            _core.set_num_threads(n)
            y, a = _core.maxpool2d_forward(x, (2, 2), (2, 2))
            res.append((y, a, _core.maxpool2d_backward(y, a, x.shape),
                        _core.avgpool2d_forward(x, (3, 3), (2, 2), "same")))
    finally:
        _core.set_num_threads(before)
    for a, b in zip(*res):
        np.testing.assert_array_equal(a, b)


@given(
    n=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9), c=st.integers(1, 5),
    ph=st.integers(1, 9), pw=st.integers(1, 9), sh=st.integers(1, 3), sw=st.integers(1, 3),
    padding=st.sampled_from(["valid", "same"]), seed=st.integers(0, 2**31),
)
def test_random_shapes(n, h, w, c, ph, pw, sh, sw, padding, seed):
    ph, pw = min(ph, h), min(pw, w)
    rng = np.random.default_rng(seed)
    x_shape = (n, h, w, c)
    x = rng.uniform(-1, 1, x_shape).astype(np.float32)
    y, arg = _core.maxpool2d_forward(x, (ph, pw), (sh, sw), padding)
    ry, rarg = maxpool_ref(x, (ph, pw), (sh, sw), padding)
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(arg, rarg)
    dy = rng.uniform(-1, 1, y.shape).astype(np.float32)
    ay = _core.avgpool2d_forward(x, (ph, pw), (sh, sw), padding)
    np.testing.assert_allclose(ay, avgpool_ref(x, (ph, pw), (sh, sw), padding), rtol=1e-5, atol=1e-6)
    adx = _core.avgpool2d_backward(dy, x_shape, (ph, pw), (sh, sw), padding)
    np.testing.assert_allclose(adx, avgpool_grad_ref(x_shape, dy, (ph, pw), (sh, sw), padding),
                               rtol=1e-5, atol=1e-6)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 1, (3, 11, 10, 4)).astype(np.float32)
    for pool, strides, padding in [((2, 2), (2, 2), "valid"), ((3, 2), (2, 1), "same")]:
        _, (pt, pb) = out_and_pads(11, pool[0], strides[0], padding)
        _, (pl, pr) = out_and_pads(10, pool[1], strides[1], padding)
        tx = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
        ty = F.max_pool2d(F.pad(tx, (pl, pr, pt, pb), value=-float("inf")), pool, strides)
        y, arg = _core.maxpool2d_forward(x, pool, strides, padding)
        np.testing.assert_array_equal(y, ty.detach().numpy().transpose(0, 2, 3, 1))
        dy = rng.uniform(-1, 1, y.shape).astype(np.float32)
        ty.backward(torch.tensor(dy.transpose(0, 3, 1, 2)))
        np.testing.assert_allclose(_core.maxpool2d_backward(dy, arg, x.shape),
                                   tx.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-6, atol=1e-6)
    # TF "same" for 11x11, pool 3, stride 2 pads 1 on each side: the same windows as torch's padding=1.
    x = rng.uniform(-1, 1, (3, 11, 11, 4)).astype(np.float32)
    ty = F.avg_pool2d(torch.tensor(x.transpose(0, 3, 1, 2)), (3, 3), (2, 2), padding=1, count_include_pad=False)
    y = _core.avgpool2d_forward(x, (3, 3), (2, 2), "same")
    np.testing.assert_allclose(y, ty.numpy().transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-6)


def test_errors_name_the_shapes():
    x = np.zeros((2, 3, 3, 4), np.float32)
    with pytest.raises(ValueError, match=r"\[3, 3, 4\]"):
        _core.maxpool2d_forward(x[0], (2, 2), (2, 2))
    with pytest.raises(ValueError, match=r"\(4, 4\).*\[2, 3, 3, 4\]"):
        _core.avgpool2d_forward(x, (4, 4), (1, 1), "valid")
    with pytest.raises(ValueError, match="strides"):
        _core.maxpool2d_forward(x, (2, 2), (0, 2))
    with pytest.raises(ValueError, match="pool_size"):
        _core.avgpool2d_forward(x, (0, 2), (1, 1))
    with pytest.raises(ValueError, match="padding"):
        _core.maxpool2d_forward(x, (2, 2), (2, 2), "causal")
    y, arg = _core.maxpool2d_forward(x, (2, 2), (1, 1))
    with pytest.raises(ValueError, match=r"argmax.*\[2, 2, 2, 3\].*\[2, 2, 2, 4\]"):
        _core.maxpool2d_backward(y, arg[..., :3].copy(), x.shape)
    with pytest.raises(ValueError, match="outside"):
        _core.maxpool2d_backward(y, arg + 1000, x.shape)
    with pytest.raises(ValueError, match=r"\[2, 2, 2, 4\].*\[2, 3, 3, 5\]"):
        _core.maxpool2d_backward(y, arg, (2, 3, 3, 5))
    with pytest.raises(ValueError, match=r"dy.*\[2, 2, 2, 4\].*\[2, 3, 3, 4\]"):
        _core.avgpool2d_backward(y, x.shape, (2, 2), (2, 2))


@pytest.mark.parametrize("batch", [2, 64])  # one thread's loop, and the pool's (64 images is parallel)
def test_backward_refuses_an_index_outside_its_own_image(batch):
    x = np.random.default_rng(3).standard_normal((batch, 8, 8, 16), dtype=np.float32)
    y, arg = _core.maxpool2d_forward(x, (2, 2), (2, 2))
    per_image = 8 * 8 * 16
    for j, value in [(5, -1), (arg.size - 1, 0), (arg.size // 2, x.size)]:
        bad = arg.copy()
        bad.flat[j] = value  # inside x, maybe, but not inside the image that output belongs to
        if j + 1 < arg.size:
            bad.flat[arg.size - 1] = -7  # a later offender: the message names the first
        with pytest.raises(ValueError, match=rf"argmax\[{j}\] = {value} is outside image {j // (arg.size // batch)}"
                                              rf" of x \(indices {j // (arg.size // batch) * per_image}\.\."):
            _core.maxpool2d_backward(np.ones_like(y), bad, x.shape)
