"""Model benchmark: every workload of examples/ trained with aiaas_core and with PyTorch CPU.

Same data, same architecture, batch 32, Adam(1e-3, eps 1e-7), Keras-style initialization on both
sides, same thread count. Reports seconds per epoch (median over the epochs run) and the ratio
ours/torch (lower is better), the test metric both reached after those epochs, then the ConvNet's
predict latency: one sample (median of 200 calls) and a batch of 256.

    python benches/bench_models.py [--threads N] [--epochs N] [--only convnet,mlp] [--quick]

Differences kept on purpose, each framework in its native form: torch convolutions run NCHW (ours
NHWC), and torch's nn.LSTM has no relu option, so the sunspot LSTM runs tanh in torch (same
arithmetic cost) while ours runs the seed's relu. Torch's OpenMP runs with OMP_WAIT_POLICY=PASSIVE
unless --omp-active (spinning workers collapse on a shared machine). Prints; never asserts a time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiaas_core  # noqa: E402
import example_data  # noqa: E402
from _harness import try_torch  # noqa: E402

BATCH = 32


# ---- workloads -----------------------------------------------------------------------------------
@dataclass
class Workload:
    name: str
    load: Callable[[], tuple]  # -> (x_train, y_train), (x_test, y_test), aiaas layout
    build_ours: Callable[[], object]  # a compiled aiaas_core.keras model
    build_torch: Callable[[object], object]  # torch module -> nn.Module
    task: str  # regression | binary | multiclass | reconstruction (decides loss and metric)
    torch_layout: Callable[[np.ndarray], np.ndarray] = lambda x: x  # aiaas layout -> torch layout
    loop: str = "fit"  # "fit", or "tape": ours trained by a hand-written tf.GradientTape loop


def _mnist_flat_pairs():
    x_tr, x_te = example_data.mnist_flat()
    return (x_tr, x_tr), (x_te, x_te)


def _workloads() -> list[Workload]:
    import autoencoder_mnist
    import convnet_mnist
    import linear_regression
    import logistic_regression
    import lstm_mnist_rows
    import mlp_classification
    import rnn_sunspots

    return [
        Workload("linear_regression", example_data.diabetes_standardized, linear_regression.build_model,
                 lambda t: _seq(t, [t.nn.Linear(10, 1)], zero_linear=True), "regression"),
        Workload("logistic_regression", example_data.breast_cancer_standardized, logistic_regression.build_model,
                 lambda t: _seq(t, [t.nn.Linear(30, 1), t.nn.Sigmoid()]), "binary"),
        Workload("convnet_mnist", example_data.mnist_images, convnet_mnist.build_model, _torch_convnet, "multiclass",
                 torch_layout=lambda x: np.ascontiguousarray(x.transpose(0, 3, 1, 2))),
        Workload("convnet_mnist_tape", example_data.mnist_images, convnet_mnist.build_model, _torch_convnet,
                 "multiclass", torch_layout=lambda x: np.ascontiguousarray(x.transpose(0, 3, 1, 2)), loop="tape"),
        Workload("rnn_sunspots", example_data.sunspot_windows, rnn_sunspots.build_model,
                 lambda t: _torch_lstm(t, 1, 32, sequences=True, head=(1, "sigmoid")), "binary"),
        Workload("lstm_mnist_rows", example_data.mnist_rows, lstm_mnist_rows.build_model,
                 lambda t: _torch_lstm(t, 28, 128, sequences=False, head=(10, None)), "multiclass"),
        Workload("autoencoder_mnist", _mnist_flat_pairs, autoencoder_mnist.build_model,
                 lambda t: _seq(t, [t.nn.Linear(784, 32), t.nn.ReLU(), t.nn.Linear(32, 784), t.nn.Sigmoid()]),
                 "reconstruction"),
        Workload("mlp_classification", example_data.classification_100, mlp_classification.build_model,
                 lambda t: _seq(t, [t.nn.Linear(100, 64), t.nn.ReLU(), t.nn.Linear(64, 64), t.nn.ReLU(),
                                    t.nn.Linear(64, 1), t.nn.Sigmoid()]), "binary"),
    ]


# ---- torch models with Keras initialization --------------------------------------------------------
def _keras_init(torch, module, zero_linear: bool = False):
    """glorot_uniform kernels, zero biases; LSTM: orthogonal recurrent kernel, forget bias 1."""
    nn = torch.nn
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            (nn.init.zeros_ if zero_linear else nn.init.xavier_uniform_)(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LSTM):
            h = m.hidden_size
            nn.init.xavier_uniform_(m.weight_ih_l0)
            nn.init.orthogonal_(m.weight_hh_l0)
            nn.init.zeros_(m.bias_ih_l0)
            nn.init.zeros_(m.bias_hh_l0)
            with torch.no_grad():
                m.bias_ih_l0[h:2 * h] = 1.0  # torch gate order i,f,g,o = Keras i,f,c,o
    return module


def _seq(torch, layers, zero_linear: bool = False):
    return _keras_init(torch, torch.nn.Sequential(*layers), zero_linear)


def _torch_convnet(torch):
    nn = torch.nn
    net = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.Flatten(),
        nn.Linear(64 * 24 * 24, 128), nn.ReLU(), nn.Linear(128, 10),  # softmax is in the loss
    )
    return _keras_init(torch, net)


def _torch_lstm(torch, d: int, h: int, sequences: bool, head: tuple[int, Optional[str]]):
    nn = torch.nn

    class LSTMHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(d, h, batch_first=True)
            self.dense = nn.Linear(h, head[0])

        def forward(self, x):
            y, _ = self.lstm(x)
            y = self.dense(y if sequences else y[:, -1])
            return torch.sigmoid(y) if head[1] == "sigmoid" else y

    return _keras_init(torch, LSTMHead())


# ---- training loops and metrics ------------------------------------------------------------------
def metric(task: str, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[str, float]:
    """The workload's test metric from predictions (probabilities / logits / values)."""
    if task == "regression":
        y_true, y_pred = y_true.ravel(), y_pred.ravel()
        return "R2", float(1 - np.sum((y_true - y_pred) ** 2) / np.sum((y_true - y_true.mean()) ** 2))
    if task == "binary":
        return "acc", float(np.mean((y_pred > 0.5) == (y_true > 0.5)))
    if task == "multiclass":
        return "acc", float(np.mean(np.argmax(y_pred, axis=-1) == y_true))
    return "MSE", float(np.mean((y_true - y_pred) ** 2))


def time_ours(w: Workload, data, epochs: int) -> tuple[list[float], tuple[str, float]]:
    (x_tr, y_tr), (x_te, y_te) = data
    aiaas_core.keras.set_random_seed(0)
    model = w.build_ours()
    epoch = _tape_epoch if w.loop == "tape" else _fit_epoch
    times = []
    for e in range(epochs):
        t0 = time.perf_counter()
        epoch(model, x_tr, y_tr, e)
        times.append(time.perf_counter() - t0)
    return times, metric(w.task, y_te, model.predict(x_te, batch_size=256, verbose=0))


def _fit_epoch(model, x, y, epoch: int) -> None:
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)


def _tape_epoch(model, x, y, epoch: int) -> None:
    """One epoch as a user writes it (TensorFlow's advanced quickstart): shuffle, then per batch
    a GradientTape around the forward and the loss, tape.gradient, optimizer.apply_gradients."""
    tf = aiaas_core
    tape_cls = getattr(tf, "GradientTape", None) or tf.ops.GradientTape
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy()
    order = np.random.default_rng(epoch).permutation(len(x))
    variables = None
    for i in range(0, len(x), BATCH):
        idx = order[i:i + BATCH]
        with tape_cls() as tape:
            pred = model(x[idx], training=True)
            loss = loss_fn(y[idx], pred)
        if variables is None:
            variables = model.trainable_variables
        grads = tape.gradient(loss, variables)
        model.optimizer.apply_gradients(zip(grads, variables))


def time_torch(torch, w: Workload, data, epochs: int) -> tuple[list[float], tuple[str, float]]:
    (x_tr, y_tr), (x_te, y_te) = data
    torch.manual_seed(0)
    net = w.build_torch(torch)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    xt = torch.from_numpy(w.torch_layout(x_tr))
    yt = torch.from_numpy(y_tr)
    loss_fn = {
        "regression": torch.nn.functional.mse_loss,
        "reconstruction": torch.nn.functional.mse_loss,
        "binary": torch.nn.functional.binary_cross_entropy,
        "multiclass": torch.nn.functional.cross_entropy,
    }[w.task]
    times = []
    gen = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        t0 = time.perf_counter()
        net.train()
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), BATCH):
            idx = perm[i:i + BATCH]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(xb) for xb in torch.from_numpy(w.torch_layout(x_te)).split(256)]).numpy()
    return times, metric(w.task, y_te, pred)


def median_call(fn: Callable[[], object], calls: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def convnet_latency(torch, calls: int) -> list[dict]:
    """ConvNet predict: one sample (median of `calls`) and a batch of 256 (median of 20)."""
    import convnet_mnist

    aiaas_core.keras.set_random_seed(0)
    ours = convnet_mnist.build_model()
    (x_tr, _), _ = example_data.mnist_images(limit=256)
    one, batch = x_tr[:1], x_tr[:256]
    ours(one)  # build
    rows = [
        {"case": "ConvNet predict, 1 sample: model.predict", "ours": median_call(lambda: ours.predict(one, verbose=0), calls)},
        {"case": "ConvNet predict, 1 sample: model(x)", "ours": median_call(lambda: ours(one), calls)},
        {"case": "ConvNet predict, batch 256: model.predict",
         "ours": median_call(lambda: ours.predict(batch, batch_size=256, verbose=0), 20)},
    ]
    if torch is not None:
        net = _torch_convnet(torch).eval()
        t_one = torch.from_numpy(np.ascontiguousarray(one.transpose(0, 3, 1, 2)))
        t_batch = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))
        with torch.no_grad():
            t1 = median_call(lambda: net(t_one), calls)
            t256 = median_call(lambda: net(t_batch), 20)
        rows[0]["torch"] = rows[1]["torch"] = t1
        rows[2]["torch"] = t256
    return rows


# ---- report --------------------------------------------------------------------------------------
def _ms(s: Optional[float]) -> str:
    return "-" if s is None else (f"{s * 1e3:.3f} ms" if s < 1 else f"{s:.2f} s")


def _ratio(a: Optional[float], b: Optional[float]) -> str:
    return "-" if a is None or b is None else f"{a / b:.2f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="threads for both frameworks (default 2)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs timed per workload (median reported)")
    parser.add_argument("--only", default="", help="comma-separated workload names (default: all)")
    parser.add_argument("--quick", action="store_true", help="1 epoch, first 1,000 training samples")
    parser.add_argument("--latency-calls", type=int, default=200, help="calls for the 1-sample latency median")
    parser.add_argument("--omp-active", action="store_true",
                        help="keep OpenMP's default spin-waiting in torch (default here: OMP_WAIT_POLICY=PASSIVE)")
    args = parser.parse_args(argv)
    if not args.omp_active:
        # Spinning OpenMP workers lose badly on a shared, oversubscribed machine (torch's MLP epoch
        # went from 0.35 s to 0.86-15 s at 2 threads here); passive waiting is the fair setting.
        # Must be set before torch (and its libgomp) is imported.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if args.threads < 1 or args.epochs < 1:
        parser.error("--threads and --epochs must be >= 1")
    aiaas_core.set_num_threads(args.threads)
    torch = try_torch(args.threads)
    workloads = _workloads()
    names = [w.name for w in workloads]
    wanted = [s for s in args.only.split(",") if s]
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; choose from {names}")
    epochs = 1 if args.quick else args.epochs
    print(f"# aiaas_core vs PyTorch {torch.__version__ if torch else '(not installed)'}: "
          f"{args.threads} thread(s), batch {BATCH}, {epochs} epoch(s) per workload, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(default)')}\n")
    print("| workload | ours s/epoch | torch s/epoch | ours/torch | ours metric | torch metric |")
    print("|---|---|---|---|---|---|")
    for w in workloads:
        if wanted and w.name not in wanted:
            continue
        data = w.load()
        if args.quick:
            (x_tr, y_tr), test = data
            data = ((x_tr[:1000], y_tr[:1000]), test)
        ours_t, (mname, ours_m) = time_ours(w, data, epochs)
        ours_s = statistics.median(ours_t)
        torch_s, torch_m = None, None
        if torch is not None:
            torch_t, (_, torch_m) = time_torch(torch, w, data, epochs)
            torch_s = statistics.median(torch_t)
        tm = "-" if torch_m is None else f"{mname} {torch_m:.4f}"
        print(f"| {w.name} | {_ms(ours_s)} | {_ms(torch_s)} | {_ratio(ours_s, torch_s)} | {mname} {ours_m:.4f} | {tm} |",
              flush=True)
    if not wanted or "convnet_mnist" in wanted:
        print("\n| predict | ours | torch (eager, no_grad) | ours/torch |")
        print("|---|---|---|---|")
        for row in convnet_latency(torch, args.latency_calls):
            print(f"| {row['case']} | {_ms(row['ours'])} | {_ms(row.get('torch'))} | {_ratio(row['ours'], row.get('torch'))} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
