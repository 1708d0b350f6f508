"""aiaas_core.kernels.matmul (the Rust gemm) against numpy (float64 reference), its errors, threads and the GIL."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import aiaas_core
from aiaas_core import kernels as ops


@pytest.fixture
def restore_threads():
    n = aiaas_core.get_num_threads()
    yield
    aiaas_core.set_num_threads(n)


def reference(a, b, ta=False, tb=False):
    """numpy's float64 product of the float32-rounded operands (what our kernel sees)."""
    a = np.asarray(a).astype(np.float32).astype(np.float64)
    b = np.asarray(b).astype(np.float32).astype(np.float64)
    if ta:
        a = np.swapaxes(a, -1, -2)
    if tb:
        b = np.swapaxes(b, -1, -2)
    return a @ b


def assert_close(got, want, k):
    assert got.dtype == np.float32
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * (k + 1))


def layout(arr, how):
    """The same values in another memory layout: C order, Fortran order or a strided view."""
    if how == "F":
        return np.asfortranarray(arr)
    if how == "strided":
        big = np.zeros(arr.shape[:-1] + (arr.shape[-1] * 2,), dtype=arr.dtype)
        big[..., ::2] = arr
        return big[..., ::2]
    return arr


dims = st.integers(0, 37)
dtypes = st.sampled_from([np.float32, np.float64, np.int32])
layouts = st.sampled_from(["C", "F", "strided"])


@given(
    m=dims, k=dims, n=dims, ta=st.booleans(), tb=st.booleans(),
    batch=st.sampled_from([None, "a", "b", "both", "a1"]), nb=st.integers(0, 4),
    dt_a=dtypes, dt_b=dtypes, lay_a=layouts, lay_b=layouts, seed=st.integers(0, 2**31),
)
def test_matches_numpy(m, k, n, ta, tb, batch, nb, dt_a, dt_b, lay_a, lay_b, seed):
    rng = np.random.default_rng(seed)
    a_core = (k, m) if ta else (m, k)
    b_core = (n, k) if tb else (k, n)
    # Which operand carries a batch axis ("a1": a batch of one broadcast against b's batch).
    a_batch = {"a": (nb,), "both": (nb,), "a1": (1,)}.get(batch, ())
    b_batch = {"b": (nb,), "both": (nb,), "a1": (nb,)}.get(batch, ())

    def make(shape, dt):
        x = rng.standard_normal(shape) * 3
        return x.astype(dt)

    a = layout(make(a_batch + a_core, dt_a), lay_a)
    b = layout(make(b_batch + b_core, dt_b), lay_b)
    got = ops.matmul(a, b, transpose_a=ta, transpose_b=tb)
    assert_close(got, reference(a, b, ta, tb), k)


def test_large_multi_block_with_transposes():
    # Spans several 256-deep / 144-tall packing blocks, ragged at every edge, every transpose.
    rng = np.random.default_rng(1)
    m, k, n = 301, 517, 290
    for ta in (False, True):
        for tb in (False, True):
            a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
            b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
            got = ops.matmul(a, b, transpose_a=ta, transpose_b=tb)
            np.testing.assert_allclose(got, reference(a, b, ta, tb), rtol=1e-4, atol=1e-3)


def test_transposed_views_equal_flags():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((70, 50), dtype=np.float32)
    b = rng.standard_normal((60, 50), dtype=np.float32)
    np.testing.assert_array_equal(ops.matmul(a, b.T), ops.matmul(a, b, transpose_b=True))
    np.testing.assert_array_equal(ops.matmul(a.T.T, b.T), ops.matmul(a, b, transpose_b=True))
    np.testing.assert_array_equal(ops.matmul(a.T, b.T, transpose_a=True), ops.matmul(a, b, transpose_b=True))


@pytest.mark.parametrize(
    "sa,sb",
    [((5,), (5,)), ((5,), (5, 3)), ((4, 5), (5,)), ((5,), (2, 5, 3)), ((2, 4, 5), (5,))],
)
def test_one_d_operands_like_numpy(sa, sb):
    rng = np.random.default_rng(3)
    a = rng.standard_normal(sa, dtype=np.float32)
    b = rng.standard_normal(sb, dtype=np.float32)
    got = np.asarray(ops.matmul(a, b))
    want = np.asarray(reference(a, b))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "sa,sb",
    [((0, 5), (5, 3)), ((4, 0), (0, 3)), ((4, 5), (5, 0)), ((0,), (0,)), ((0, 4, 5), (5, 3)),
     ((0, 4, 5), (1, 5, 3)), ((2, 4, 0), (2, 0, 3))],
)
def test_empty_dimensions_like_numpy(sa, sb):
    a = np.ones(sa, dtype=np.float32)
    b = np.ones(sb, dtype=np.float32)
    got = np.asarray(ops.matmul(a, b))
    want = a @ b
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)  # K = 0 gives zeros, like numpy


def test_nan_propagates_like_numpy():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((40, 30), dtype=np.float32)
    b = rng.standard_normal((30, 50), dtype=np.float32)
    a[7, 3] = np.nan
    b[11, 20] = np.nan
    got = ops.matmul(a, b)
    want = a @ b
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.isnan(got[7]).all() and np.isnan(got[:, 20]).all()
    assert np.isfinite(np.delete(np.delete(got, 7, 0), 20, 1)).all()


@pytest.mark.parametrize(
    "sa,sb,flags",
    [((2, 3), (4, 5), {}), ((3,), (4,), {}), ((2, 3), (2, 3), {}), ((5,), (2, 4, 3), {}),
     ((3, 2, 5), (4, 5, 6), {}), ((2, 3), (4, 3), {"transpose_a": True})],
)
def test_shape_mismatch_names_both_shapes(sa, sb, flags):
    with pytest.raises(ValueError) as e:
        ops.matmul(np.ones(sa, np.float32), np.ones(sb, np.float32), **flags)
    msg = str(e.value)
    assert str(sa) in msg and str(sb) in msg, msg


@pytest.mark.parametrize("sa,sb", [((), (3,)), ((3,), ()), ((1, 2, 3, 4), (4, 2)), ((2, 3), (1, 1, 3, 2))])
def test_rank_outside_1_to_3_is_type_error(sa, sb):
    with pytest.raises(TypeError, match="D"):
        ops.matmul(np.ones(sa, np.float32), np.ones(sb, np.float32))


@pytest.mark.parametrize("bad", [np.array([[object()]], dtype=object), np.ones((2, 2), np.complex64),
                                 np.array([["a", "b"]])])
def test_non_real_dtypes_are_type_errors(bad):
    with pytest.raises(TypeError, match="dtype"):
        ops.matmul(bad, np.ones((bad.shape[-1], 2), np.float32))
    with pytest.raises(TypeError, match="dtype"):
        ops.matmul(np.ones((2, bad.shape[0]), np.float32), bad)


def test_transpose_of_one_d_is_value_error():
    with pytest.raises(ValueError):
        ops.matmul(np.ones(3, np.float32), np.ones((3, 2), np.float32), transpose_a=True)


def test_inputs_are_not_modified():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((20, 30), dtype=np.float32)
    b = rng.standard_normal((30, 10), dtype=np.float32)
    a0, b0 = a.copy(), b.copy()
    ops.matmul(a, b)
    ops.matmul(np.asfortranarray(a), b)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


def test_thread_count_gives_identical_results(restore_threads):
    rng = np.random.default_rng(6)
    cases = [((300, 400), (400, 270)), ((3, 500), (500, 4100)), ((8, 40, 50), (50, 30))]
    for sa, sb in cases:
        a = rng.standard_normal(sa, dtype=np.float32)
        b = rng.standard_normal(sb, dtype=np.float32)
        results = []
        for t in (1, 2, 3):
            aiaas_core.set_num_threads(t)
            assert aiaas_core.get_num_threads() == t
            results.append(ops.matmul(a, b))
        for r in results[1:]:
            np.testing.assert_array_equal(r, results[0])
        np.testing.assert_allclose(results[0], reference(a, b), rtol=1e-4, atol=1e-3)


def test_set_num_threads_zero_is_value_error():
    with pytest.raises(ValueError, match="0"):
        aiaas_core.set_num_threads(0)


def test_env_num_threads_honoured():
    env = dict(os.environ, AIAAS_NUM_THREADS="3")
    code = "import aiaas_core; print(aiaas_core.get_num_threads())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "3"


def test_gil_released_during_matmul(restore_threads):
    """A Python thread keeps counting while a long matmul runs in the main thread."""
    aiaas_core.set_num_threads(1)  # leave a core for the counting thread
    rng = np.random.default_rng(7)
    n = 1024
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    ops.matmul(a, b)  # warm-up
    t0 = time.perf_counter()
    ops.matmul(a, b)
    one = time.perf_counter() - t0
    # Enough products to take ~0.3 s whatever this machine's speed.
    reps = max(1, int(0.3 / max(one, 1e-3)))

    count = 0
    stop = threading.Event()

    def spin():
        nonlocal count
        while not stop.is_set():
            count += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        time.sleep(0.02)
        # How far the thread counts in the same wall time when the main thread just sleeps.
        c0 = count
        t0 = time.perf_counter()
        time.sleep(0.1)
        idle_rate = (count - c0) / (time.perf_counter() - t0)
        c0 = count
        t0 = time.perf_counter()
        for _ in range(reps):
            ops.matmul(a, b)
        busy_rate = (count - c0) / (time.perf_counter() - t0)
    finally:
        stop.set()
        t.join()
    # Holding the GIL would stop the counter for the whole product (rate ~0).
    assert busy_rate > 0.1 * idle_rate, (busy_rate, idle_rate)


@pytest.mark.parametrize("m,k,n", [(1, 5000, 130), (4, 3000, 70), (1, 128, 10), (3, 4500, 65),
                                   (2, 700, 1), (300, 2049, 3), (1, 1, 1), (4, 1, 4), (37, 1, 129)])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_skinny_products_match_numpy(m, k, n, ta, tb, restore_threads):
    """Few rows (single-sample Dense forward / dx) or few columns (matrix-vector): the unpacked path,
    on 1 and 2 threads (K split into partial sums), bit-identical across thread counts."""
    rng = np.random.default_rng(m * 1000 + k + n)
    a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
    results = []
    for t in (1, 2):
        aiaas_core.set_num_threads(t)
        results.append(ops.matmul(a, b, transpose_a=ta, transpose_b=tb))
    np.testing.assert_array_equal(results[0], results[1])
    assert_close(results[0], reference(a, b, ta, tb), k)


def test_avx512_switch_in_subprocess():
    """AIAAS_DISABLE_AVX512=1 (read once) selects the AVX2 path; both give numpy's product."""
    code = (
        "import numpy as np; from aiaas_core import kernels as ops; rng = np.random.default_rng(1);"
        "a = rng.standard_normal((70, 300), dtype=np.float32); b = rng.standard_normal((300, 90), dtype=np.float32);"
        "x = rng.standard_normal((1, 300), dtype=np.float32);"
        "ok = np.allclose(ops.matmul(a, b), a.astype(np.float64) @ b, rtol=1e-4, atol=1e-3) and "
        "np.allclose(ops.matmul(x, b), x.astype(np.float64) @ b, rtol=1e-4, atol=1e-3);"
        "import aiaas_core; print(ok, aiaas_core._core.gemm_kernel())"
    )
    has512 = aiaas_core.cpu_features().get("avx512f", False)
    has2 = aiaas_core.cpu_features().get("avx2", False) and aiaas_core.cpu_features().get("fma", False)
    for flag in ("0", "1"):
        env = dict(os.environ, AIAAS_DISABLE_AVX512=flag)
        env.pop("AIAAS_GEMM_KERNEL", None)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        ok, kernel = out.stdout.split()
        assert ok == "True", out.stderr
        if has512 and flag == "0":
            assert kernel.startswith("avx512"), kernel
        elif has2:
            assert kernel == "avx2_6x16", kernel
