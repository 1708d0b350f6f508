"""loss_forward_backward / loss_forward against float64 references of Keras 3's losses, gradients
(d mean loss / d y_pred) against central finite differences of those references, PyTorch where
importable, stability at large logits, and the error cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiaas_core import _core
from kernel_refs import central_diff, on_threads

# Keras clips probabilities to [1e-7, 1 - 1e-7] in float32: the upper bound is float32(1 - 1e-7).
LO, HI = 1e-7, float(np.float32(1 - 1e-7))


def log_softmax(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def ref_loss(name: str, p: np.ndarray, t: np.ndarray, from_logits: bool) -> float:
    """Keras 3 loss in float64, mean over samples. `t` is one-hot for the sparse loss here."""
    p = p.astype(np.float64)
    t = t.astype(np.float64)
    if name == "mse":
        per = ((p - t) ** 2).mean(axis=-1)
    elif name == "mae":
        per = np.abs(p - t).mean(axis=-1)
    elif name == "binary_crossentropy":
        if from_logits:
            # log(1 + e^z) - t z, written stably
            per = (np.maximum(p, 0) - p * t + np.log1p(np.exp(-np.abs(p)))).mean(axis=-1)
        else:
            q = np.clip(p, LO, HI)
            per = -(t * np.log(q) + (1 - t) * np.log(1 - q)).mean(axis=-1)
    else:  # categorical, sparse given one-hot
        if from_logits:
            per = -(t * log_softmax(p)).sum(axis=-1)
        else:
            q = np.clip(p / p.sum(axis=-1, keepdims=True), LO, HI)
            per = -(t * np.log(q)).sum(axis=-1)
    return float(per.mean())


def one_hot(ids: np.ndarray, c: int) -> np.ndarray:
    return np.eye(c, dtype=np.float32)[ids]


def make(name: str, from_logits: bool, shape, seed: int):
    """(y_pred, y_true as the kernel takes it, y_true one-hot/dense for the reference)."""
    rng = np.random.default_rng(seed)
    c = shape[-1]
    if from_logits or name in ("mse", "mae"):
        p = (rng.standard_normal(shape) * 2).astype(np.float32)
    elif name == "binary_crossentropy":
        p = rng.uniform(0.05, 0.95, shape).astype(np.float32)
    else:  # probabilities rows (not necessarily normalized: Keras divides by the sum)
        p = rng.uniform(0.05, 1.0, shape).astype(np.float32)
    if name == "sparse_categorical_crossentropy":
        ids = rng.integers(0, c, shape[:-1])
        return p, ids.astype(np.int64), one_hot(ids, c)
    if name == "categorical_crossentropy":
        ids = rng.integers(0, c, shape[:-1])
        t = one_hot(ids, c)
        return p, t, t
    if name == "binary_crossentropy":
        t = rng.integers(0, 2, shape).astype(np.float32)
        return p, t, t
    t = rng.standard_normal(shape).astype(np.float32)
    return p, t, t


LOSSES = [
    ("mse", False),
    ("mae", False),
    ("binary_crossentropy", False),
    ("binary_crossentropy", True),
    ("categorical_crossentropy", False),
    ("categorical_crossentropy", True),
    ("sparse_categorical_crossentropy", False),
    ("sparse_categorical_crossentropy", True),
]

shapes = st.tuples(st.integers(1, 6), st.integers(1, 6)) | st.tuples(
    st.integers(1, 3), st.integers(1, 3), st.integers(1, 5)
)


@given(case=st.sampled_from(LOSSES), shape=shapes, seed=st.integers(0, 2**31))
def test_loss_and_gradient_match_float64_and_finite_differences(case, shape, seed):
    name, logits = case
    p, t_kernel, t_ref = make(name, logits, shape, seed)
    if name == "mae":
        # |p - t| has a kink at p == t: keep the stencil off it
        p = np.where(np.abs(p - t_ref) < 1e-3, p + 0.01, p).astype(np.float32)
    loss, grad = _core.loss_forward_backward(name, p, t_kernel, from_logits=logits)
    assert isinstance(loss, float) and grad.shape == p.shape and grad.dtype == np.float32
    want = ref_loss(name, p, t_ref, logits)
    assert loss == pytest.approx(want, rel=1e-5, abs=1e-6)
    assert _core.loss_forward(name, p, t_kernel, from_logits=logits) == pytest.approx(loss, rel=1e-6, abs=1e-7)
    fd = central_diff(lambda a: ref_loss(name, a, t_ref, logits), p, h=1e-6)
    np.testing.assert_allclose(grad, fd, rtol=1e-4, atol=1e-6)


def test_sparse_equals_categorical_with_one_hot():
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 5, (4, 3))
    for logits in (False, True):
        p = rng.uniform(0.1, 1.0, (4, 3, 5)).astype(np.float32)
        a = _core.loss_forward_backward("sparse_categorical_crossentropy", p, ids, logits)
        b = _core.loss_forward_backward("categorical_crossentropy", p, one_hot(ids, 5), logits)
        assert a[0] == pytest.approx(b[0], rel=1e-6)
        np.testing.assert_allclose(a[1], b[1], rtol=1e-6, atol=1e-7)


def test_sparse_ids_in_every_accepted_form():
    rng = np.random.default_rng(4)
    p = rng.standard_normal((6, 4)).astype(np.float32)
    ids = np.array([0, 3, 1, 1, 2, 0])
    want = _core.loss_forward("sparse_categorical_crossentropy", p, ids.astype(np.int64), True)
    assert want == pytest.approx(ref_loss("sparse_categorical_crossentropy", p, one_hot(ids, 4), True), rel=1e-6)
    for form in (ids.astype(np.int32), ids.astype(np.float32), ids.astype(np.float64), ids[:, None].astype(np.int64),
                 ids[:, None].astype(np.float32)):
        assert _core.loss_forward("sparse_categorical_crossentropy", p, form, True) == want
    # a strided view of ids is read in logical order
    strided = np.stack([ids, np.zeros(6, np.int64)], axis=1)[:, 0]
    assert _core.loss_forward("sparse_categorical_crossentropy", p, strided, True) == want


@pytest.mark.parametrize("name", ["categorical_crossentropy", "sparse_categorical_crossentropy"])
def test_large_logits_are_stable(name):
    z = np.array([[1e4, -1e4, 0.0], [0.0, 1e4, 1e4], [-1e4, -1e4, -1e4]], np.float32)
    ids = np.array([1, 2, 0])
    t = ids if name.startswith("sparse") else one_hot(ids, 3)
    loss, grad = _core.loss_forward_backward(name, z, t, from_logits=True)
    # row 0: -log softmax = 2e4; row 1: log 2; row 2: log 3
    assert loss == pytest.approx((2e4 + np.log(2) + np.log(3)) / 3, rel=1e-6)
    want = (np.array([[1, 0, 0], [0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]]) - one_hot(ids, 3)) / 3
    np.testing.assert_allclose(grad, want, atol=1e-6)


def test_binary_from_logits_is_stable():
    z = np.array([[1e4, -1e4, 1e4, -1e4]], np.float32)
    t = np.array([[1, 0, 0, 1]], np.float32)
    loss, grad = _core.loss_forward_backward("binary_crossentropy", z, t, from_logits=True)
    assert loss == pytest.approx(1e4 / 2, rel=1e-6)  # two right (0 each), two wrong (1e4 each), mean of 4
    np.testing.assert_allclose(grad, [[0, 0, 0.25, -0.25]], atol=1e-7)


def test_probabilities_are_clipped_as_keras():
    # p exactly 0 and 1: the clip keeps the loss finite, and its gradient is 0 outside the clip.
    p = np.array([[0.0, 1.0, 0.5, 1.0]], np.float32)
    t = np.array([[1.0, 1.0, 1.0, 0.0]], np.float32)
    loss, grad = _core.loss_forward_backward("binary_crossentropy", p, t)
    assert np.isfinite(loss)
    assert loss == pytest.approx(ref_loss("binary_crossentropy", p, t, False), rel=1e-6)
    assert loss == pytest.approx((-np.log(LO) - np.log(HI) - np.log(0.5) - np.log(1 - HI)) / 4, rel=1e-6)
    assert grad[0, 0] == 0 and grad[0, 1] == 0 and grad[0, 3] == 0
    assert grad[0, 2] == pytest.approx(-1 / 0.5 / 4, rel=1e-6)
    # categorical: a zero probability on the true class is clipped to 1e-7
    p = np.array([[0.0, 0.25, 0.75]], np.float32)
    loss, grad = _core.loss_forward_backward("categorical_crossentropy", p, one_hot(np.array([0]), 3))
    assert loss == pytest.approx(-np.log(LO), rel=1e-6)
    assert np.isfinite(grad).all()


def test_edge_shapes():
    # one class of two, batch 1
    p = np.array([[0.2, 0.8]], np.float32)
    loss, grad = _core.loss_forward_backward("sparse_categorical_crossentropy", p, np.array([1]))
    assert loss == pytest.approx(-np.log(0.8), rel=1e-6)
    fd = central_diff(lambda a: ref_loss("categorical_crossentropy", a, np.array([[0.0, 1.0]]), False), p, 1e-6)
    np.testing.assert_allclose(grad, fd, rtol=1e-5)
    # one output unit (a binary classifier's sigmoid column)
    loss, grad = _core.loss_forward_backward("binary_crossentropy", np.array([[0.0]], np.float32),
                                             np.array([[1.0]], np.float32), from_logits=True)
    assert loss == pytest.approx(np.log(2), rel=1e-6) and grad.tolist() == [[-0.5]]
    # a 1-D y_pred is one sample
    loss, grad = _core.loss_forward_backward("mse", np.array([1.0, 3.0], np.float32), np.zeros(2, np.float32))
    assert loss == 5.0 and grad.tolist() == [1.0, 3.0]
    # an empty batch: loss 0 and an empty gradient (no division by zero)
    loss, grad = _core.loss_forward_backward("mse", np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32))
    assert loss == 0.0 and grad.shape == (0, 3)
    loss, grad = _core.loss_forward_backward("sparse_categorical_crossentropy", np.zeros((0, 3), np.float32),
                                             np.zeros(0, np.int64), True)
    assert loss == 0.0 and grad.shape == (0, 3)


def test_large_batch_uses_the_threaded_path_and_matches():
    # > 4 * PARALLEL_MIN_ELEMENTS elements: the row blocks are summed on the pool
    rng = np.random.default_rng(5)
    z = rng.standard_normal((30000, 10)).astype(np.float32)
    ids = rng.integers(0, 10, 30000)
    loss, grad = _core.loss_forward_backward("sparse_categorical_crossentropy", z, ids, True)
    assert loss == pytest.approx(ref_loss("sparse_categorical_crossentropy", z, one_hot(ids, 10), True), rel=1e-6)
    want = (np.exp(log_softmax(z.astype(np.float64))) - one_hot(ids, 10)) / 30000
    np.testing.assert_allclose(grad, want, rtol=1e-4, atol=1e-10)


@pytest.mark.parametrize("name,logits", LOSSES)
def test_matches_torch(name, logits):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    p, t_kernel, t_ref = make(name, logits, (5, 4), 9)
    tp = torch.tensor(p.astype(np.float64), requires_grad=True)
    tt = torch.tensor(t_ref.astype(np.float64))
    if name == "mse":
        tl = F.mse_loss(tp, tt)
    elif name == "mae":
        tl = F.l1_loss(tp, tt)
    elif name == "binary_crossentropy":
        tl = F.binary_cross_entropy_with_logits(tp, tt) if logits else F.binary_cross_entropy(tp, tt)
    elif logits:  # categorical and sparse: sum over classes, mean over rows
        tl = F.cross_entropy(tp, tt)
    else:
        tl = F.nll_loss(torch.log(tp / tp.sum(-1, keepdim=True)), tt.argmax(-1))
    tl.backward()
    loss, grad = _core.loss_forward_backward(name, p, t_kernel, from_logits=logits)
    assert loss == pytest.approx(tl.item(), rel=1e-5)
    np.testing.assert_allclose(grad, tp.grad.numpy(), rtol=1e-4, atol=1e-6)


# ---- errors ------------------------------------------------------------------------------------


def test_unknown_loss_name():
    p = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        _core.loss_forward_backward("hinge", p, p)
    with pytest.raises(ValueError, match="unknown loss 'MSE'"):
        _core.loss_forward("MSE", p, p)


def test_mismatched_shapes_name_both():
    p = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"y_true has shape \[2, 4\].*\[2, 3\]"):
        _core.loss_forward_backward("mse", p, np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"y_true has shape \[3, 2\].*\[2, 3\]"):
        _core.loss_forward_backward("categorical_crossentropy", p, np.zeros((3, 2), np.float32), True)
    with pytest.raises(ValueError, match=r"\[3\].*expected \[2\]"):
        _core.loss_forward_backward("sparse_categorical_crossentropy", p, np.zeros(3, np.int64))
    with pytest.raises(ValueError, match=r"shape \[\]"):
        _core.loss_forward_backward("mse", np.ones((), np.float32), np.ones((), np.float32))
    with pytest.raises(ValueError, match=r"\[2, 0\]"):
        _core.loss_forward_backward("mse", np.zeros((2, 0), np.float32), np.zeros((2, 0), np.float32))


def test_bad_class_ids():
    p = np.zeros((2, 3), np.float32)
    for bad, text in ((np.array([0, 3]), "class id 3"), (np.array([-1, 0]), "class id -1"),
                      (np.array([0.5, 1.0], np.float32), "class id 0.5"),
                      (np.array([np.nan, 1.0]), "class id NaN")):
        with pytest.raises(ValueError, match=text):
            _core.loss_forward_backward("sparse_categorical_crossentropy", p, bad, True)
    with pytest.raises(TypeError, match="class ids"):
        _core.loss_forward_backward("sparse_categorical_crossentropy", p, [0, 1], True)
    with pytest.raises(TypeError, match="class ids"):
        _core.loss_forward_backward("sparse_categorical_crossentropy", p, np.array([0, 1], np.uint8), True)


def test_wrong_dtype_and_layout():
    p = np.random.default_rng(0).uniform(0.1, 0.9, (3, 2)).astype(np.float32)
    with pytest.raises(TypeError):
        _core.loss_forward_backward("mse", p.astype(np.float64), p)
    with pytest.raises(TypeError, match="y_true must be a float32"):
        _core.loss_forward_backward("mse", p, p.astype(np.float64))
    with pytest.raises(ValueError, match="y_pred must be a C-contiguous"):
        _core.loss_forward_backward("mse", np.asfortranarray(p), p)
    with pytest.raises(ValueError, match="y_true must be a C-contiguous"):
        _core.loss_forward_backward("binary_crossentropy", p, np.asfortranarray(p))


@pytest.mark.parametrize("classes", [8, 9, 37, 1000])
def test_wide_rows_use_every_lane(classes):
    # rows longer than the 8-lane reductions, with remainders, and large spreads of logits
    rng = np.random.default_rng(classes)
    z = (rng.standard_normal((7, classes)) * 20).astype(np.float32)
    z[0, -1] = 300.0  # the max in the remainder lanes
    z[1, 3] = 300.0  # the max inside the vector lanes
    ids = rng.integers(0, classes, 7)
    ids[0] = classes - 1
    loss, grad = _core.loss_forward_backward("sparse_categorical_crossentropy", z, ids, True)
    assert loss == pytest.approx(ref_loss("sparse_categorical_crossentropy", z, one_hot(ids, classes), True), rel=1e-5)
    want = (np.exp(log_softmax(z.astype(np.float64))) - one_hot(ids, classes)) / 7
    np.testing.assert_allclose(grad, want, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("name,logits", LOSSES)
def test_threaded_blocks_match_float64_and_one_thread_bitwise(name, logits):
    # 300 x 1003 = 301K elements: above the threading threshold, split into blocks of 16 rows
    # (the last one short), rows not a multiple of the 8 lanes. The blocks do not depend on the
    # thread count and their sums are added in order: 1 and 2 threads agree to the bit.
    p, t_kernel, t_ref = make(name, logits, (300, 1003), 11)

    def run():
        loss, grad = _core.loss_forward_backward(name, p, t_kernel, from_logits=logits)
        return loss, grad, _core.loss_forward(name, p, t_kernel, from_logits=logits)

    (l1, g1, f1), (l2, g2, f2) = on_threads(1, run), on_threads(2, run)
    assert l1 == l2 and f1 == f2 and np.array_equal(g1, g2)
    assert l2 == pytest.approx(ref_loss(name, p, t_ref, logits), rel=1e-5)
    assert f2 == pytest.approx(l2, rel=1e-6)
    if name == "sparse_categorical_crossentropy" and logits:
        want = (np.exp(log_softmax(p.astype(np.float64))) - t_ref) / 300
        np.testing.assert_allclose(g2, want, rtol=1e-4, atol=1e-10)


def test_benchmark_shape_matches_torch():
    # batch 256 x 1000 classes from logits, the benchmark case, on 2 threads
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    z = (rng.standard_normal((256, 1000)) * 4).astype(np.float32)
    ids = rng.integers(0, 1000, 256)
    tz = torch.tensor(z.astype(np.float64), requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tz, torch.from_numpy(ids))
    tl.backward()
    loss, grad = on_threads(2, lambda: _core.loss_forward_backward("sparse_categorical_crossentropy", z, ids, True))
    assert loss == pytest.approx(tl.item(), rel=1e-6)
    np.testing.assert_allclose(grad, tz.grad.numpy(), rtol=1e-4, atol=1e-10)
