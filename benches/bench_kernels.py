"""Kernel benchmarks: ours vs numpy/OpenBLAS and PyTorch CPU, same process, same threads.

    python benches/bench_kernels.py [section ...]      # sections: matmul conv rnn elem (default: all)

Each section lives in benches/kernels_<section>.py and exposes `cases(torch, threads) -> list[Case]`
(`torch` is the module or None when PyTorch is not installed: its column then shows "-"), and
optionally `report(rows)`, called with the timed rows to print more (kernels_elem: GB/s).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiaas_core  # noqa: E402
from _harness import run_cases, threads_from_env, try_torch  # noqa: E402

SECTIONS = ["matmul", "conv", "rnn", "elem"]


def main(argv: list[str]) -> None:
    threads = threads_from_env()
    aiaas_core.set_num_threads(threads)
    torch = try_torch(threads)
    print(f"threads={threads} cpu={aiaas_core.cpu_features()} torch={getattr(torch, '__version__', None)}")
    for name in argv or SECTIONS:
        try:
            mod = importlib.import_module(f"kernels_{name}")
        except ModuleNotFoundError:
            print(f"(section {name}: benches/kernels_{name}.py not present)")
            continue
        rows = run_cases(name, mod.cases(torch, threads))
        if hasattr(mod, "report"):
            mod.report(rows)


if __name__ == "__main__":
    main(sys.argv[1:])
