"""Timing harness shared by the Python benchmarks: medians of repeats, ours vs a reference, same
process, same thread count. Benchmarks print; they never assert a time."""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Optional


@dataclass
class Case:
    """One line of a benchmark table: our callable and the references, each doing the same work."""

    name: str
    ours: Callable[[], object]
    torch: Optional[Callable[[], object]] = None
    numpy: Optional[Callable[[], object]] = None
    flops: Optional[float] = None  # work per call, for GFLOP/s (None: not shown)


def median_seconds(fn: Callable[[], object], *, min_time: float = 0.3, max_repeats: int = 200) -> float:
    """Median wall time of `fn` over repeats (after one warm-up), at least `min_time` in total."""
    fn()
    times: list[float] = []
    total = 0.0
    while (total < min_time or len(times) < 5) and len(times) < max_repeats:
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        times.append(dt)
        total += dt
    return statistics.median(times)


def try_torch(threads: int):
    """PyTorch if installed (never a dependency of the package), set to `threads` threads."""
    # Idle OpenMP threads spin by default and take the second core from our pool between calls;
    # passive waiting makes the comparison fair (bench_models does the same; export it to override).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def threads_from_env() -> int:
    return int(os.environ.get("AIAAS_NUM_THREADS", os.cpu_count() or 1))


def _fmt_time(s: Optional[float]) -> str:
    if s is None:
        return "-"
    return f"{s * 1e3:.3f} ms" if s < 1 else f"{s:.2f} s"


def run_cases(title: str, cases: list[Case], *, min_time: float = 0.3) -> list[dict]:
    """Time every case and print a markdown table with ratios ours/reference (lower is better)."""
    rows = []
    print(f"\n### {title}\n")
    print("| case | ours | numpy | torch | ours/numpy | ours/torch | ours GFLOP/s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for c in cases:
        ours = median_seconds(c.ours, min_time=min_time)
        npy = median_seconds(c.numpy, min_time=min_time) if c.numpy else None
        trc = median_seconds(c.torch, min_time=min_time) if c.torch else None
        gf = f"{c.flops / ours / 1e9:.1f}" if c.flops else "-"
        r_np = f"{ours / npy:.2f}" if npy else "-"
        r_t = f"{ours / trc:.2f}" if trc else "-"
        print(f"| {c.name} | {_fmt_time(ours)} | {_fmt_time(npy)} | {_fmt_time(trc)} | {r_np} | {r_t} | {gf} |",
              flush=True)
        rows.append({"name": c.name, "ours": ours, "numpy": npy, "torch": trc})
    return rows


def print_bandwidth(rows: list[dict], nbytes: dict[str, float]) -> None:
    """GB/s (bytes moved / time) of the timed rows whose case name has an entry in `nbytes`."""
    print("\n| case | ours GB/s | numpy GB/s | torch GB/s |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        moved = nbytes.get(r["name"])
        if moved is None:
            continue
        cols = [f"{moved / r[k] / 1e9:.1f}" if r[k] else "-" for k in ("ours", "numpy", "torch")]
        print(f"| {r['name']} | {' | '.join(cols)} |")
