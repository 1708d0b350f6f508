"""ours vs numpy (OpenBLAS) f32 matmul, interleaved in one process: square N and skinny shapes.

    AIAAS_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 python benches/gemm_vs_numpy.py [--rounds 7] [--square|--skinny]

Each side is timed in its own loop (OpenBLAS threads spin after a call and would slow ours), the
loops alternate for `rounds` rounds; the table shows the per-side medians of the round medians,
the median of the per-round time ratios ours/numpy, and the ratio of the best rounds (less
sensitive to other processes on a shared machine). Prints only; never asserts a time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import aiaas_core
from aiaas_core import kernels as ops


GAP = 0.25


def loop_median(fn, min_time: float, min_reps: int = 3) -> float:
    fn()
    times = []
    t_end = time.perf_counter() + min_time
    while time.perf_counter() < t_end or len(times) < min_reps:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def compare(name, ours, ref, flops, rounds, min_time):
    o, r, ratios = [], [], []
    for _ in range(rounds):
        # OpenBLAS worker threads spin for a while after a call: let them go to sleep before
        # timing ours (and our pool's before numpy), or each side runs against the other's spinners.
        time.sleep(GAP)
        to = loop_median(ours, min_time)
        time.sleep(GAP)
        tr = loop_median(ref, min_time)
        o.append(to)
        r.append(tr)
        ratios.append(to / tr)
    mo, mr = statistics.median(o), statistics.median(r)
    gf = lambda t: f"{flops / t / 1e9:.1f}"
    print(f"| {name} | {mo * 1e3:.4f} | {mr * 1e3:.4f} | {statistics.median(ratios):.2f} | {min(o) / min(r):.2f} "
          f"| {gf(mo)} | {gf(mr)} |", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--min-time", type=float, default=0.1)
    ap.add_argument("--gap", type=float, default=0.25, help="seconds of idle before each timed loop")
    ap.add_argument("--square", action="store_true")
    ap.add_argument("--skinny", action="store_true")
    args = ap.parse_args()
    both = not (args.square or args.skinny)
    global GAP
    GAP = args.gap
    threads = int(os.environ.get("AIAAS_NUM_THREADS", os.cpu_count() or 1))
    aiaas_core.set_num_threads(threads)
    print(f"threads={threads} openblas={os.environ.get('OPENBLAS_NUM_THREADS')} "
          f"kernel={getattr(aiaas_core._core, 'gemm_kernel', lambda: 'n/a')()} {aiaas_core.__file__}")
    print("| case | ours ms | numpy ms | ours/numpy | best/best | ours GFLOP/s | numpy GFLOP/s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    rng = np.random.default_rng(0)
    r = lambda *s: rng.standard_normal(s, dtype=np.float32)
    if args.square or both:
        for n in (128, 256, 512, 1024, 2048):
            a, b = r(n, n), r(n, n)
            rounds = args.rounds if n < 2048 else max(3, args.rounds // 2)
            compare(f"N={n}", lambda: ops.matmul(a, b), lambda: a @ b, 2.0 * n**3, rounds, args.min_time)
    if args.skinny or both:
        # (name, m, k, n, ta, tb): op(a)[m,k] @ op(b)[k,n]
        shapes = [
            ("1x36864 @ 36864x128", 1, 36864, 128, False, False),
            ("1x128 @ 128x10", 1, 128, 10, False, False),
            ("1x784 @ 784x128", 1, 784, 128, False, False),
            ("4x4096 @ 4096x1024", 4, 4096, 1024, False, False),
            ("dx 1x128 @ (36864x128)^T", 1, 128, 36864, False, True),
            ("dW (1x36864)^T @ 1x128", 36864, 1, 128, True, False),
            ("1x1024 @ (1024x1024)^T", 1, 1024, 1024, False, True),
            ("N=1 4096x4096 @ 4096x1", 4096, 4096, 1, False, False),
            ("N=1 (4096x4096)^T @ 4096x1", 4096, 4096, 1, True, False),
            ("N=1 512x512 @ 512x1", 512, 512, 1, False, False),
        ]
        for name, m, k, n, ta, tb in shapes:
            a = r(k, m) if ta else r(m, k)
            b = r(n, k) if tb else r(k, n)
            an = a.T if ta else a
            bn = b.T if tb else b
            compare(name, lambda: ops.matmul(a, b, transpose_a=ta, transpose_b=tb), lambda: an @ bn,
                    2.0 * m * k * n, args.rounds, args.min_time)


if __name__ == "__main__":
    main()
