"""The seeds' tf.keras programs, taken verbatim from /work/shared/seeds, run with only the import
changed (`tensorflow` -> `aiaas_core`) on tiny data, and actually learn."""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import numpy as np
import pytest


# ../shared beside the repository holds the seed articles (as tests/conftest.py finds the data).
SEEDS = Path(os.environ.get("AIAAS_SEEDS_DIR", Path(__file__).resolve().parents[2] / "shared" / "seeds"))


def _blocks(prefix: str) -> list[str]:
    files = sorted(SEEDS.glob(f"{prefix}_*.txt"))
    if not files:
        pytest.skip(f"seed {prefix} not found in {SEEDS}")
    text = files[0].read_text(encoding="utf-8")
    return [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "tensorflow" in b]


def _port(code: str) -> str:
    """The only change a user makes: the import lines."""
    return code.replace("import tensorflow as tf", "import aiaas_core as tf").replace(
        "from tensorflow.keras", "from aiaas_core.keras")


def _run(code: str, **data) -> dict:
    ns = dict(data)
    exec(compile(_port(code), "<seed>", "exec"), ns)  # the seed's own program text
    return ns


def _block_defining(blocks, name):
    for b in blocks:
        if f"class {name}(" in b:
            return b
    pytest.fail(f"no seed block defines {name}")


def _mnist(mnist_dir, n):
    with gzip.open(mnist_dir / "t10k-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)[:n] / 255.0
    with gzip.open(mnist_dir / "t10k-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)[:n]
    return x.astype(np.float32), y


def _learned(ns):
    loss = ns["model"].history.history["loss"]
    assert all(np.isfinite(loss)) and loss[-1] < loss[0], loss


def test_seed_000_convnet(mnist_dir, capsys):
    import aiaas_core
    aiaas_core.keras.utils.set_random_seed(0)
    x, y = _mnist(mnist_dir, 24)
    ns = _run(_block_defining(_blocks("000"), "ConvNet"), x_train=x[:16], y_train=y[:16], x_test=x[16:], y_test=y[16:])
    _learned(ns)
    assert 0.0 <= ns["accuracy"] <= 1.0
    assert "Accuracy:" in capsys.readouterr().out


def test_seed_000_rnn(capsys):
    import aiaas_core
    aiaas_core.keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    x = rng.random((64, 10, 1)).astype(np.float32)
    y = (x > 0.5).astype(np.float32)  # per-step target: Dense(1, sigmoid) on every LSTM step
    ns = _run(_block_defining(_blocks("000"), "RNN"), x_train=x[:48], y_train=y[:48], x_test=x[48:], y_test=y[48:])
    _learned(ns)
    assert ns["model"].predict(x[:2], verbose=0).shape == (2, 10, 1)


def test_seed_000_autoencoder(mnist_dir, capsys):
    import aiaas_core
    aiaas_core.keras.utils.set_random_seed(2)
    x, _ = _mnist(mnist_dir, 96)
    flat = x.reshape(len(x), 28 * 28)
    ns = _run(_block_defining(_blocks("000"), "Autoencoder"), x_train=flat[:64], x_test=flat[64:])
    _learned(ns)
    assert isinstance(ns["loss"], float) and ns["loss"] < 0.2


def test_seed_002_sequential_mlp(capsys):
    from sklearn.datasets import make_classification
    import aiaas_core
    aiaas_core.keras.utils.set_random_seed(3)
    x, y = make_classification(600, 100, random_state=0)
    blocks = [b for b in _blocks("002") if "Sequential" in b]
    assert blocks, "seed 002 has no Sequential program"
    ns = _run(blocks[0], x_train=x[:500], y_train=y[:500], x_test=x[500:])
    _learned(ns)
    pred = ns["predictions"]
    assert pred.shape == (100, 1) and ((pred > 0.5)[:, 0] == y[500:]).mean() >= 0.75
