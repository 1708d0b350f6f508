"""Progress output of fit/evaluate/predict: a tqdm bar (verbose=1) or one line per epoch (verbose=2)."""

from __future__ import annotations

import sys
import time

_REFRESH_SECONDS = 0.2  # live loss/metrics are formatted at most this often (formatting costs per batch)


def format_logs(logs: dict) -> str:
    return " - ".join(f"{k}: {_format_value(v)}" for k, v in logs.items())


def _format_value(v) -> str:
    # a metric may give one value per threshold or class (Precision(thresholds=[...]), F1Score())
    if getattr(v, "ndim", 0):
        import numpy as np
        return np.array2string(np.asarray(v), precision=4, separator=" ")
    return f"{v:.4f}"


class Progress:
    """Per-epoch progress; `update(batch_index, logs_fn)` is cheap unless a refresh is due."""

    def __init__(self, verbose: int, steps: int, desc: str):
        self.verbose = verbose
        self.start = time.perf_counter()
        self.bar = None
        self._next = 0.0
        if verbose == 1:
            from tqdm import tqdm
            self.bar = tqdm(total=steps, desc=desc, unit="step", file=sys.stdout, leave=True,
                            dynamic_ncols=True, mininterval=_REFRESH_SECONDS)
        self.desc = desc

    def update(self, done: int, logs_fn) -> None:
        if self.bar is None:
            return
        now = time.perf_counter()
        if now >= self._next:
            self._next = now + _REFRESH_SECONDS
            self.bar.set_postfix_str(format_logs(logs_fn()), refresh=False)
            self.bar.update(done - self.bar.n)  # update() keeps tqdm's rate estimate right

    def close(self, done: int, logs: dict) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(format_logs(logs), refresh=False)
            self.bar.update(done - self.bar.n)
            self.bar.close()
        elif self.verbose == 2:
            seconds = time.perf_counter() - self.start
            print(f"{self.desc} - {seconds:.2f}s - {format_logs(logs)}", flush=True)
