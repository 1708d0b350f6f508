"""Inverted dropout: the mask is a function of (seed, size) only, values in {0, 1/(1-rate)}, the
kept fraction is 1 - rate within a binomial bound, rate 0 is the identity, the backward is
dy * mask (= the derivative of the forward for a fixed seed), and the error cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import aiaas_core
from aiaas_core import _core
from kernel_refs import on_threads

shapes = st.lists(st.integers(0, 9), min_size=0, max_size=3).map(tuple)
rates = st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.9])


def normal(rng, shape) -> np.ndarray:
    """float32 N(0,1) of `shape`, an array even for shape () (numpy would give a scalar)."""
    return np.asarray(rng.standard_normal(shape), dtype=np.float32)


@given(shape=shapes, rate=rates, seed=st.integers(-(2**63), 2**64 - 1))
def test_forward_is_x_times_a_mask_of_two_values(shape, rate, seed):
    x = normal(np.random.default_rng(abs(seed) % 2**32), shape)
    y, mask = _core.dropout_forward(x, rate, seed)
    assert y.shape == mask.shape == x.shape and y.dtype == mask.dtype == np.float32
    keep = np.float32(1.0 / (1.0 - rate))
    assert np.isin(mask, [0.0, keep]).all()
    np.testing.assert_array_equal(y, x * mask)
    y2, mask2 = _core.dropout_forward(x, rate, seed)
    np.testing.assert_array_equal(mask, mask2)  # same seed, same mask
    np.testing.assert_array_equal(y, y2)


def test_rate_zero_is_the_identity():
    x = np.random.default_rng(0).standard_normal((7, 13)).astype(np.float32)
    y, mask = _core.dropout_forward(x, 0.0, 123)
    np.testing.assert_array_equal(y, x)
    assert (mask == 1.0).all()


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_kept_fraction_and_scale(rate):
    n = 400_000
    x = np.ones(n, np.float32)
    y, mask = _core.dropout_forward(x, rate, 2024)
    kept = np.count_nonzero(mask) / n
    sigma = np.sqrt(rate * (1 - rate) / n)
    assert abs(kept - (1 - rate)) < 6 * sigma, kept
    np.testing.assert_allclose(mask[mask != 0], 1.0 / (1.0 - rate), rtol=1e-7)
    # inverted dropout keeps the expectation: mean(y) ~ mean(x) = 1
    assert abs(y.mean() - 1.0) < 6 * sigma / (1 - rate)


def test_different_seeds_give_different_masks_and_no_visible_pattern():
    x = np.ones(10_000, np.float32)
    masks = [_core.dropout_forward(x, 0.5, s)[1] for s in (0, 1, 2, -1)]
    for i in range(4):
        for j in range(i + 1, 4):
            agree = np.mean(masks[i] == masks[j])
            assert 0.45 < agree < 0.55, (i, j, agree)  # independent masks agree half the time
    # neighbours (two elements share one 64-bit draw) are not correlated
    m = masks[0] != 0
    assert abs(np.corrcoef(m[:-1], m[1:])[0, 1]) < 0.05


def test_seed_keeps_its_low_64_bits():
    x = np.ones(64, np.float32)
    np.testing.assert_array_equal(_core.dropout_forward(x, 0.5, -5)[1], _core.dropout_forward(x, 0.5, 2**64 - 5)[1])
    np.testing.assert_array_equal(_core.dropout_forward(x, 0.5, 2**80 + 7)[1], _core.dropout_forward(x, 0.5, 7)[1])


def test_mask_does_not_depend_on_threads():
    x = np.ones(300_001, np.float32)  # past the parallel threshold, odd length
    before = aiaas_core.get_num_threads()
    try:
        aiaas_core.set_num_threads(1)
        m1 = _core.dropout_forward(x, 0.3, 99)[1]
        aiaas_core.set_num_threads(2)
        m2 = _core.dropout_forward(x, 0.3, 99)[1]
    finally:
        aiaas_core.set_num_threads(before)
    np.testing.assert_array_equal(m1, m2)
    # a prefix of a longer array gets the same mask as the shorter array alone
    np.testing.assert_array_equal(_core.dropout_forward(x[:1000].copy(), 0.3, 99)[1], m1[:1000])


@given(shape=shapes, rate=rates, seed=st.integers(0, 2**32))
def test_backward_is_dy_times_mask_and_the_derivative_of_forward(shape, rate, seed):
    rng = np.random.default_rng(seed)
    x, dy = normal(rng, shape), normal(rng, shape)
    _, mask = _core.dropout_forward(x, rate, seed)
    dx = _core.dropout_backward(dy, mask)
    np.testing.assert_array_equal(dx, dy * mask)
    # y is linear in x for a fixed seed: a central difference along dy recovers sum(dy * mask * dy)
    h = np.float32(0.5)
    up = _core.dropout_forward(np.asarray(x + h * dy, np.float32), rate, seed)[0].astype(np.float64)
    down = _core.dropout_forward(np.asarray(x - h * dy, np.float32), rate, seed)[0].astype(np.float64)
    fd = ((up - down) / (2 * h) * dy).sum()
    assert fd == pytest.approx(float((dx.astype(np.float64) * dy).sum()), rel=1e-4, abs=1e-4)


# ---- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [1.0, 1.5, -0.1, float("nan"), float("inf")])
def test_bad_rate(rate):
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        _core.dropout_forward(np.ones(3, np.float32), rate, 0)


def test_bad_seed_dtype_layout_and_shapes():
    x = np.ones((3, 2), np.float32)
    for seed in (1.5, None, "1"):
        with pytest.raises(TypeError, match="seed must be an int"):
            _core.dropout_forward(x, 0.5, seed)
    with pytest.raises(TypeError):
        _core.dropout_forward(x.astype(np.float64), 0.5, 0)
    with pytest.raises(ValueError, match="x must be a C-contiguous"):
        _core.dropout_forward(np.asfortranarray(x), 0.5, 0)
    with pytest.raises(ValueError, match=r"mask has shape \[2, 3\] but dy has shape \[3, 2\]"):
        _core.dropout_backward(x, np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="mask must be a C-contiguous"):
        _core.dropout_backward(x, np.asfortranarray(x))


def _mask_reference(n: int, rate: float, seed: int) -> np.ndarray:
    """The documented stream in plain Python: element i keeps when its 32-bit half (low for even i,
    high for odd i) of splitmix64's mix of key + (i // 2) * golden is >= ceil(rate * 2**32)."""
    m64 = (1 << 64) - 1

    def mix64(z: int) -> int:
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m64
        return z ^ (z >> 31)

    key = mix64(seed ^ 0x5DEECE66D1A4F87B)
    threshold = math.ceil(rate * 2**32)
    scale = np.float32(1.0 / (1.0 - rate))
    out = np.empty(n, np.float32)
    for i in range(n):
        r = mix64((key + (i // 2) * 0x9E3779B97F4A7C15) & m64)
        draw = (r >> 32) if i % 2 else (r & 0xFFFFFFFF)
        out[i] = scale if draw >= threshold else 0.0
    return out


@pytest.mark.parametrize("n, threads", [(37, 1), (70_001, 2)])  # 70,001: several blocks on the pool
def test_mask_is_the_documented_counter_based_stream(n, threads):
    x = np.ones(n, np.float32)
    _, mask = on_threads(threads, lambda: _core.dropout_forward(x, 0.3, 9))
    np.testing.assert_array_equal(mask, _mask_reference(n, 0.3, 9))
