"""The one thread pool: sized by AIAAS_NUM_THREADS or set_num_threads, bad sizes refused clearly."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import aiaas_core


def _threads_in_fresh_process(env_value: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "AIAAS_NUM_THREADS"}
    if env_value is not None:
        env["AIAAS_NUM_THREADS"] = env_value
    code = "import aiaas_core; print(aiaas_core.get_num_threads())"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_env_sets_pool_size():
    out = _threads_in_fresh_process("3")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "3"


@pytest.mark.parametrize("bad", ["0", "1000000", "lots", "-2"])
def test_unusable_env_value_falls_back_to_cores_with_warning(bad):
    default = _threads_in_fresh_process(None).stdout.strip()  # the cores this process may use
    out = _threads_in_fresh_process(bad)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == default
    assert "AIAAS_NUM_THREADS" in out.stderr and "[1, 1024]" in out.stderr


def test_set_num_threads_round_trip_and_limits():
    before = aiaas_core.get_num_threads()
    try:
        aiaas_core.set_num_threads(1)
        assert aiaas_core.get_num_threads() == 1
        for bad in (0, 10**6):
            with pytest.raises(ValueError, match="1024"):
                aiaas_core.set_num_threads(bad)
        assert aiaas_core.get_num_threads() == 1
    finally:
        aiaas_core.set_num_threads(before)


def test_concurrent_callers_get_right_results():
    """Python threads calling kernels at once (the GIL is released): each call's tasks must run
    exactly once, for that call, whichever pool worker takes them."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    rng = np.random.default_rng(1)
    cases = []
    for m, k, n in [(32, 3000, 64), (40, 128, 2000), (300, 300, 300), (5, 4000, 20)]:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        cases.append((a, b, a.astype(np.float64) @ b.astype(np.float64)))

    def work(i):
        a, b, want = cases[i % len(cases)]
        for _ in range(15):
            np.testing.assert_allclose(aiaas_core.ops.matmul(a, b), want, rtol=1e-4, atol=2e-3)
        return True

    with ThreadPoolExecutor(max_workers=4) as ex:
        assert all(ex.map(work, range(8)))
