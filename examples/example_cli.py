"""The command line every example shares: `python examples/<name>.py [--epochs N] [--quick]`."""

from __future__ import annotations

import argparse
import json
from typing import Callable


def run(main: Callable[..., dict], description: str) -> dict:
    """Parse --epochs / --quick / --seed / --threads, run `main`, print its results as JSON."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the workload's spec)")
    parser.add_argument("--quick", action="store_true", help="a small, fast run (smoke test, not the accuracy bar)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for weights and shuffling")
    parser.add_argument("--threads", type=int, default=None, help="threads for the Rust kernels")
    parser.add_argument("--verbose", type=int, default=1, help="Keras fit verbosity (0, 1, 2)")
    args = parser.parse_args()
    if args.threads is not None:
        import aiaas_core

        aiaas_core.set_num_threads(args.threads)
    kwargs = {"quick": args.quick, "seed": args.seed, "verbose": args.verbose}
    if args.epochs is not None:
        kwargs["epochs"] = args.epochs
    results = main(**kwargs)
    print(json.dumps(results, indent=2))
    return results


def check_run_args(epochs, batch_size) -> None:
    """The examples report the last epoch's loss, so they need at least one epoch (ValueError)."""
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
