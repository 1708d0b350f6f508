"""Kernel benchmarks: ours vs numpy/OpenBLAS and PyTorch CPU, same process, same threads.

    python benches/bench_kernels.py [--interleaved] [section ...]
        sections: matmul conv rnn elem misc (default: all)

Each section lives in benches/kernels_<section>.py and exposes `cases(torch, threads) -> list[Case]`
(`torch` is the module or None when PyTorch is not installed: its column then shows "-"), and
optionally `report(rows)`, called with the timed rows to print more (kernels_elem, kernels_misc: GB/s).
"misc" is every other training kernel: avgpool, batchnorm, embedding, dropout, SGD / RMSprop
updates, global-norm clipping and the losses.

--interleaved: on a machine other jobs are loading, timing each side in its own block lets a burst
of load land on one side only. This mode runs ours, numpy, torch one call each, round after round,
and reports each side's fastest call (the least disturbed), in the same table. Caveat: the sides
then also share the allocator call by call, so a case with a large fresh output (the 16 MB
activation outputs) no longer reuses its own freed block each call; compare those in the default
mode on a quiet machine.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiaas_core  # noqa: E402
from _harness import Case, run_cases, threads_from_env, try_torch  # noqa: E402

SECTIONS = ["matmul", "conv", "rnn", "elem", "misc"]


def _fmt(s):
    return "-" if s is None else f"{s * 1e3:.3f} ms"


def run_interleaved(title: str, cases: list[Case], *, rounds: int = 15, min_time: float = 0.3) -> list[dict]:
    """Fastest of `rounds` calls per side, the sides alternating call by call (after a warm-up)."""
    rows = []
    print(f"\n### {title} (interleaved, fastest of {rounds})\n")
    print("| case | ours | numpy | torch | ours/numpy | ours/torch | ours GFLOP/s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for c in cases:
        sides = {k: f for k, f in (("ours", c.ours), ("numpy", c.numpy), ("torch", c.torch)) if f is not None}
        best = {k: float("inf") for k in sides}
        for f in sides.values():
            f()
        start = time.perf_counter()
        n = 0
        while n < rounds or (time.perf_counter() - start < min_time and n < 200):
            for k, f in sides.items():
                t0 = time.perf_counter()
                f()
                best[k] = min(best[k], time.perf_counter() - t0)
            n += 1
        ours, npy, trc = best["ours"], best.get("numpy"), best.get("torch")
        gf = f"{c.flops / ours / 1e9:.1f}" if c.flops else "-"
        r_np = f"{ours / npy:.2f}" if npy else "-"
        r_t = f"{ours / trc:.2f}" if trc else "-"
        print(f"| {c.name} | {_fmt(ours)} | {_fmt(npy)} | {_fmt(trc)} | {r_np} | {r_t} | {gf} |", flush=True)
        rows.append({"name": c.name, "ours": ours, "numpy": npy, "torch": trc})
    return rows


def main(argv: list[str]) -> None:
    interleaved = "--interleaved" in argv
    names = [a for a in argv if a != "--interleaved"] or SECTIONS
    threads = threads_from_env()
    aiaas_core.set_num_threads(threads)
    torch = try_torch(threads)
    print(f"threads={threads} cpu={aiaas_core.cpu_features()} torch={getattr(torch, '__version__', None)}")
    for name in names:
        try:
            mod = importlib.import_module(f"kernels_{name}")
        except ModuleNotFoundError:
            print(f"(section {name}: benches/kernels_{name}.py not present)")
            continue
        run = run_interleaved if interleaved else run_cases
        rows = run(name, mod.cases(torch, threads))
        if hasattr(mod, "report"):
            mod.report(rows)


if __name__ == "__main__":
    main(sys.argv[1:])
