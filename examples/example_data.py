"""The real data each example (and benches/bench_models.py) trains on, prepared with aiaas_core.data.

Every loader returns `(x_train, y_train), (x_test, y_test)` as float32 features and the label
dtype the loss wants (float32 for regression / binary, int64 for sparse categorical).
"""

from __future__ import annotations

import numpy as np

from aiaas_core import data

SPLIT_SEED = 0


def diabetes_standardized():
    """sklearn diabetes: x [n,10] and y [n,1] standardized with train statistics, 80/20 seed 0."""
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes()
    x_tr, x_te, y_tr, y_te = data.train_test_split(
        bunch.data, bunch.target.reshape(-1, 1), test_size=0.2, random_state=SPLIT_SEED
    )
    xs, ys = data.StandardScaler().fit(x_tr), data.StandardScaler().fit(y_tr)
    return (xs.transform(x_tr), ys.transform(y_tr)), (xs.transform(x_te), ys.transform(y_te))


def breast_cancer_standardized():
    """sklearn breast cancer: x [n,30] standardized (train statistics), y [n,1] in {0,1}, 80/20 seed 0."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    x_tr, x_te, y_tr, y_te = data.train_test_split(
        bunch.data, bunch.target.reshape(-1, 1), test_size=0.2, random_state=SPLIT_SEED
    )
    xs = data.StandardScaler().fit(x_tr)
    f32 = np.float32
    return (xs.transform(x_tr), y_tr.astype(f32)), (xs.transform(x_te), y_te.astype(f32))


def mnist_images(directory=None, limit: int | None = None):
    """MNIST 8k/2k: x [n,28,28,1] float32 in [0,1], y int64 [n]. `limit` caps both parts (tests)."""
    x_tr, y_tr = data.load_mnist(directory, "train")
    x_te, y_te = data.load_mnist(directory, "test")
    if limit is not None:
        x_tr, y_tr, x_te, y_te = x_tr[:limit], y_tr[:limit], x_te[:limit], y_te[:limit]
    return (x_tr[..., None], y_tr), (x_te[..., None], y_te)


def mnist_rows(directory=None, limit: int | None = None):
    """MNIST as sequences: each image is 28 time steps of 28 pixels, x [n,28,28]."""
    (x_tr, y_tr), (x_te, y_te) = mnist_images(directory, limit)
    return (x_tr[..., 0], y_tr), (x_te[..., 0], y_te)


def mnist_flat(directory=None, limit: int | None = None):
    """MNIST flattened for the autoencoder: x [n,784]; the target is x itself."""
    (x_tr, _), (x_te, _) = mnist_images(directory, limit)
    return x_tr.reshape(len(x_tr), 784), x_te.reshape(len(x_te), 784)


def sunspot_windows(window: int = 10):
    """Yearly sunspots (statsmodels, 1700-2008), standardized with the training years' statistics.

    x [m, window, 1] = `window` consecutive years, stride 1; y [m, window, 1] = 1 where the
    following year is strictly larger than the current one (the last step compares with the year
    after the window). The windows are split 80/20 in time order (239 / 60 for window 10), as the
    issue states; so the first test windows start inside the training years, as any split of
    stride-1 windows does. Splitting the years first instead changes Keras's own 20-epoch accuracy
    little (mean 0.815 vs 0.823 over 20 seeds), so the windows' split is kept.
    """
    import statsmodels.api as sm

    series = sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(np.float64)
    rises = (series[1:] > series[:-1]).astype(np.float32)  # rises[t] = s[t+1] > s[t]
    m = len(series) - window  # every window needs its next value for the last label
    x = np.stack([series[t : t + window] for t in range(m)])[..., None]
    y = np.stack([rises[t : t + window] for t in range(m)])[..., None]
    n_train = int(round(0.8 * m))
    train_years = series[: n_train + window]  # the values the training windows see
    mean, std = train_years.mean(), train_years.std()
    x = ((x - mean) / std).astype(np.float32)
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


def classification_100():
    """make_classification(20000, 100 features, 20 informative, seed 0), 80/20 seed 0; y [n,1]."""
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=20000, n_features=100, n_informative=20, random_state=0)
    x_tr, x_te, y_tr, y_te = data.train_test_split(x, y.reshape(-1, 1), test_size=0.2, random_state=SPLIT_SEED)
    f32 = np.float32
    return (x_tr.astype(f32), y_tr.astype(f32)), (x_te.astype(f32), y_te.astype(f32))
