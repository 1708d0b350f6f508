"""Train/test split with scikit-learn's semantics (and, for the same random_state, its exact rows)."""

from __future__ import annotations

import math
import numbers

import numpy as np


def _n_test(n: int, test_size) -> int:
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise TypeError(f"test_size must be a float in (0, 1) or an int count, got {test_size!r}")
    if isinstance(test_size, numbers.Integral):
        if not 0 < test_size < n:
            raise ValueError(f"test_size as a count must be in 1..{n - 1} for {n} samples, got {test_size}")
        return int(test_size)
    if not 0.0 < float(test_size) < 1.0:
        raise ValueError(f"test_size as a fraction must be in (0, 1), got {test_size}")
    n_test = math.ceil(float(test_size) * n)  # sklearn rounds the test part up
    if n_test >= n:
        raise ValueError(f"test_size={test_size} leaves no training sample out of {n}")
    return n_test


def train_test_split(x, y=None, test_size=0.2, random_state: int | None = None, shuffle: bool = True):
    """Split arrays into train and test parts.

    Returns `x_train, x_test` or, with y, `x_train, x_test, y_train, y_test` (sklearn's order).
    shuffle=False keeps the order: the first rows train, the last rows test (for time series).
    With the same integer random_state the rows are the ones sklearn's train_test_split picks.
    """
    x = np.asarray(x)
    if x.ndim < 1:
        raise ValueError("x must have a sample axis, got a 0-D value")
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 samples to split, got {n}")
    if y is not None:
        y = np.asarray(y)
        if y.ndim < 1 or y.shape[0] != n:
            raise ValueError(f"x and y must have the same number of samples, got x {x.shape} and y {y.shape}")
    if random_state is not None and (isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral)):
        raise TypeError(f"random_state must be an int or None, got {random_state!r}")
    n_test = _n_test(n, test_size)
    n_train = n - n_test
    if shuffle:
        # Same draw as sklearn's ShuffleSplit: permutation, test rows first.
        perm = np.random.RandomState(random_state).permutation(n)
        test_idx, train_idx = perm[:n_test], perm[n_test:]
    else:
        train_idx, test_idx = np.arange(n_train), np.arange(n_train, n)
    out = [x[train_idx], x[test_idx]]
    if y is not None:
        out += [y[train_idx], y[test_idx]]
    return tuple(out)
