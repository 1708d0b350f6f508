"""Embedding gather (forward) and scatter-add (backward) against numpy's fancy indexing and
np.add.at, the backward as the gradient of the forward (central differences), PyTorch where
importable, and the error cases (ids out of range, dtypes, layouts, shapes, huge vocabularies)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiaas_core import _core


def make(ids_shape, vocab, e, seed):
    rng = np.random.default_rng(seed)
    ids = np.asarray(rng.integers(0, vocab, ids_shape), dtype=np.int64)
    table = rng.standard_normal((vocab, e)).astype(np.float32)
    dy = rng.standard_normal((*ids_shape, e)).astype(np.float32)
    return ids, table, dy


ids_shapes = st.lists(st.integers(0, 6), min_size=0, max_size=3).map(tuple)


@given(ids_shape=ids_shapes, vocab=st.integers(1, 9), e=st.integers(0, 5), seed=st.integers(0, 2**31))
def test_forward_is_a_gather_and_backward_a_scatter_add(ids_shape, vocab, e, seed):
    ids, table, dy = make(ids_shape, vocab, e, seed)
    y = _core.embedding_forward(ids, table)
    assert y.shape == (*ids_shape, e) and y.dtype == np.float32
    np.testing.assert_array_equal(y, table[ids])
    dtable = _core.embedding_backward(ids, dy, vocab)
    want = np.zeros((vocab, e), np.float64)
    np.add.at(want, ids.reshape(-1), dy.reshape(ids.size, e).astype(np.float64))
    assert dtable.shape == (vocab, e)
    # float32 sums of up to ids.size rows: each add may round by float32's epsilon (6e-8) of the sum
    bound = 1e-7 * max(1, ids.size) * max(1.0, float(np.abs(dy).max(initial=0.0)))
    np.testing.assert_allclose(dtable, want, rtol=1e-6, atol=max(1e-6, bound))


def test_repeated_ids_accumulate():
    ids = np.array([[2, 0, 2], [2, 1, 0]], np.int64)
    dy = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    dtable = _core.embedding_backward(ids, dy, 4)
    # id 2 at (0,0), (0,2), (1,0): rows [0,1] + [4,5] + [6,7]; id 0 at (0,1), (1,2): [2,3] + [10,11]
    assert dtable.tolist() == [[12, 14], [8, 9], [10, 13], [0, 0]]


def test_backward_is_the_gradient_of_the_forward():
    ids, table, dy = make((3, 4), 5, 3, 1)
    dtable = _core.embedding_backward(ids, dy, 5)
    h = 1e-3
    fd = np.zeros_like(table, dtype=np.float64)
    for i in np.ndindex(table.shape):
        up, down = table.copy(), table.copy()
        up[i] += h
        down[i] -= h
        fd[i] = ((_core.embedding_forward(ids, up) - _core.embedding_forward(ids, down)).astype(np.float64)
                 * dy).sum() / (2 * h)
    np.testing.assert_allclose(dtable, fd, rtol=1e-3, atol=1e-3)


def test_scalar_id_and_vocab_larger_than_the_ids():
    table = np.arange(12, dtype=np.float32).reshape(4, 3)
    assert _core.embedding_forward(np.array(2, np.int64), table).tolist() == [6, 7, 8]
    dtable = _core.embedding_backward(np.array([1], np.int64), np.ones((1, 3), np.float32), 1000)
    assert dtable.shape == (1000, 3) and dtable.sum() == 3 and dtable[1].tolist() == [1, 1, 1]


def test_matches_torch():
    torch = pytest.importorskip("torch")
    ids, table, dy = make((4, 6), 7, 5, 2)
    ids[0, :3] = 3  # repeated ids
    tt = torch.tensor(table, requires_grad=True)
    ty = torch.nn.functional.embedding(torch.tensor(ids), tt)
    ty.backward(torch.tensor(dy))
    np.testing.assert_array_equal(_core.embedding_forward(ids, table), ty.detach().numpy())
    np.testing.assert_allclose(_core.embedding_backward(ids, dy, 7), tt.grad.numpy(), rtol=1e-6, atol=1e-6)


# ---- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [5, -1, 2**62])
def test_id_out_of_range_names_it(bad):
    ids, table, dy = make((2, 3), 5, 4, 0)
    ids[1, 2] = bad
    with pytest.raises(ValueError, match=rf"id {bad} at flat position 5 is out of range for a vocabulary of 5"):
        _core.embedding_forward(ids, table)
    with pytest.raises(ValueError, match=rf"id {bad} at flat position 5"):
        _core.embedding_backward(ids, dy, 5)


def test_shapes_dtypes_and_layouts():
    ids, table, dy = make((2, 3), 5, 4, 0)
    with pytest.raises(ValueError, match=r"table must be \[V, E\], got shape \[20\]"):
        _core.embedding_forward(ids, table.ravel())
    with pytest.raises(ValueError, match=r"dy\[..., :-1\] has shape \[3, 2\].*ids has shape \[2, 3\]"):
        _core.embedding_backward(ids, np.zeros((3, 2, 4), np.float32), 5)
    with pytest.raises(ValueError, match="scalar"):
        _core.embedding_backward(np.array(1, np.int64), np.ones((), np.float32), 5)
    with pytest.raises(TypeError):
        _core.embedding_forward(ids.astype(np.int32), table)
    with pytest.raises(TypeError):
        _core.embedding_forward(ids.astype(np.float32), table)
    with pytest.raises(TypeError):
        _core.embedding_forward(ids, table.astype(np.float64))
    with pytest.raises(ValueError, match="ids must be a C-contiguous int64"):
        _core.embedding_forward(np.asfortranarray(ids), table)
    with pytest.raises(ValueError, match="table must be a C-contiguous"):
        _core.embedding_forward(ids, np.asfortranarray(table))
    with pytest.raises(ValueError, match="dy must be a C-contiguous"):
        _core.embedding_backward(ids[:, :2].copy(), dy[:, ::2], 5)
    with pytest.raises(OverflowError):
        _core.embedding_backward(ids, dy, -1)


def test_huge_vocabulary_is_an_exception_not_a_panic():
    ids = np.zeros(2, np.int64)
    dy = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="too large"):
        _core.embedding_backward(ids, dy, 2**62)
    with pytest.raises(MemoryError):
        _core.embedding_backward(ids, dy, 2**50)  # 12 PB
