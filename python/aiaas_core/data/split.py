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


def _proportional(counts: np.ndarray, draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of `draws` to take from each class: in proportion to `counts`, rounded down, the
    rest going to the largest fractional parts with ties broken at random (as sklearn does)."""
    exact = counts / counts.sum() * draws
    taken = np.floor(exact)
    left = int(draws - taken.sum())
    if left > 0:
        fraction = exact - taken
        for value in np.sort(np.unique(fraction))[::-1]:
            tied = np.flatnonzero(fraction == value)
            now = min(len(tied), left)
            taken[rng.choice(tied, size=now, replace=False)] += 1
            left -= now
            if left == 0:
                break
    return taken.astype(int)


def _stratified(labels, n: int, n_train: int, n_test: int, random_state) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, test rows) keeping each class's share, drawn as sklearn's stratified split does."""
    labels = np.asarray(labels)
    if labels.ndim < 1 or labels.shape[0] != n:
        raise ValueError(f"stratify must hold one label per sample ({n}), got shape {labels.shape}")
    if labels.ndim == 2:  # one-hot or multi-label rows: each distinct row is a class
        labels = np.array([" ".join(row.astype(str)) for row in labels])
    elif labels.ndim > 2:
        raise ValueError(f"stratify must be 1-D (or 2-D rows), got shape {labels.shape}")
    classes, ids, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if counts.min() < 2:
        raise ValueError(
            f"stratify: classes {classes[counts < 2].tolist()} have a single sample; every class needs at least 2"
        )
    if min(n_train, n_test) < len(classes):
        raise ValueError(
            f"stratify: {n_train} training and {n_test} test samples cannot each hold all {len(classes)} classes"
        )
    members = np.split(np.argsort(ids, kind="stable"), np.cumsum(counts)[:-1])
    rng = np.random.RandomState(random_state)
    per_train = _proportional(counts, n_train, rng)
    per_test = _proportional(counts - per_train, n_test, rng)
    train: list = []
    test: list = []
    for rows, a, b in zip(members, per_train, per_test):
        shuffled = rows[rng.permutation(len(rows))]
        train.extend(shuffled[:a])
        test.extend(shuffled[a:a + b])
    return rng.permutation(train), rng.permutation(test)


def train_test_split(x, y=None, test_size=0.2, random_state: int | None = None, shuffle: bool = True,
                     stratify=None):
    """Split arrays into train and test parts.

    Returns `x_train, x_test` or, with y, `x_train, x_test, y_train, y_test` (sklearn's order).
    shuffle=False keeps the order: the first rows train, the last rows test (for time series).
    `stratify=labels` keeps each class's share in both parts (usually `stratify=y`).
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
    if stratify is not None:
        if not shuffle:
            raise ValueError("stratify needs shuffle=True (a stratified split picks rows at random)")
        train_idx, test_idx = _stratified(stratify, n, n_train, n_test, random_state)
    elif shuffle:
        # Same draw as sklearn's ShuffleSplit: permutation, test rows first.
        perm = np.random.RandomState(random_state).permutation(n)
        test_idx, train_idx = perm[:n_test], perm[n_test:]
    else:
        train_idx, test_idx = np.arange(n_train), np.arange(n_train, n)
    out = [x[train_idx], x[test_idx]]
    if y is not None:
        out += [y[train_idx], y[test_idx]]
    return tuple(out)
