"""A real `aiaas serve` process on a free port with a temp data dir, and helpers to talk to it over HTTP."""

from __future__ import annotations

import csv
import gzip
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import httpx
import numpy as np
import pytest

ADMIN_KEY = "aiaas_test_admin_" + secrets.token_urlsafe(24)
MAX_UPLOAD = 3_000_000  # bytes; the 413 test goes above it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `aiaas serve` subprocess; restartable on the same data dir."""

    def __init__(self, data_dir: Path, workers: int = 1, extra_env: dict[str, str] | None = None) -> None:
        self.data_dir, self.workers = data_dir, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "AIAAS_ADMIN_KEY": ADMIN_KEY, "AIAAS_MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
                    "AIAAS_RATE_LIMIT_PER_MINUTE": "100000", "AIAAS_MAX_PREDICT_VALUES": "200000",
                    "PYTHONUNBUFFERED": "1", **(extra_env or {})}
        self.env.pop("AIAAS_MASTER_KEY", None)
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"

    def start(self) -> "Server":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aiaas_core.cli", "serve", "--port", str(self.port),
             "--data-dir", str(self.data_dir), "--workers", str(self.workers), "--log-level", "warning"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server did not become ready:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs (the crash the durability test needs)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("svc") / "data", workers=1).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def admin(server: Server) -> Iterator[httpx.Client]:
    with server.client(ADMIN_KEY) as c:
        yield c


@pytest.fixture(scope="session")
def make_tenant(server: Server, admin: httpx.Client) -> Callable[..., tuple[str, dict[str, httpx.Client]]]:
    """make_tenant(prefix, **limits) -> (tenant_id, {"member": client, "predict": client, "keys": ...})."""
    def make(prefix: str = "t", **limits) -> tuple[str, dict]:
        r = admin.post("/v1/tenants", json={"name": f"{prefix}-{secrets.token_hex(4)}", **limits})
        assert r.status_code == 201, r.text
        tid = r.json()["id"]
        clients: dict = {"keys": {}}
        for role in ("member", "predict"):
            k = admin.post(f"/v1/tenants/{tid}/keys", json={"role": role})
            assert k.status_code == 201, k.text
            clients["keys"][role] = k.json()
            clients[role] = server.client(k.json()["key"])
        return tid, clients
    return make


# ---- small real data sets written in the formats users upload -----------------------------------

def write_csv(path: Path, x: np.ndarray, y: np.ndarray, label: str = "target") -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([f"f{i}" for i in range(x.shape[1])] + [label])
        for row, t in zip(x, y):
            w.writerow([repr(float(v)) for v in row] + [t])
    return path


@pytest.fixture(scope="session")
def data_files(tmp_path_factory, mnist_dir) -> dict[str, Path]:
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits

    out = tmp_path_factory.mktemp("upload")
    bc = load_breast_cancer()
    files = {"breast_cancer_csv": write_csv(out / "breast_cancer.csv", bc.data[:300], bc.target[:300]),
             "breast_cancer_test_csv": write_csv(out / "breast_cancer_test.csv", bc.data[300:400], bc.target[300:400])}
    diab = load_diabetes()
    np.savez(out / "diabetes.npz", x=diab.data[:300].astype(np.float32), y=diab.target[:300].astype(np.float32))
    files["diabetes_npz"] = out / "diabetes.npz"
    digits = load_digits()
    np.savez(out / "digits.npz", x=digits.data[:400].astype(np.float32), y=digits.target[:400])
    files["digits_npz"] = out / "digits.npz"
    # Digits as 8 timesteps of 8 features: a small real sequence task for the LSTM.
    np.savez(out / "digits_seq.npz", x=(digits.images[:300] / 16).astype(np.float32), y=digits.target[:300])
    files["digits_seq_npz"] = out / "digits_seq.npz"
    # The first 600 MNIST test images (IDX, gzipped) and their labels.
    from aiaas_core.data import load_idx

    images = load_idx(mnist_dir / "t10k-images-idx3-ubyte.gz")[:600]
    labels = load_idx(mnist_dir / "t10k-labels-idx1-ubyte.gz")[:600]
    files["mnist_images"] = out / "mnist-images-idx3-ubyte.gz"
    files["mnist_labels"] = out / "mnist-labels-idx1-ubyte.gz"
    files["mnist_images"].write_bytes(gzip.compress(_idx_bytes(images, 0x08)))
    files["mnist_labels"].write_bytes(gzip.compress(_idx_bytes(labels, 0x08)))
    return files


def _idx_bytes(arr: np.ndarray, code: int) -> bytes:
    header = bytes([0, 0, code, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def upload(client: httpx.Client, path: Path, name: str, **fields) -> httpx.Response:
    files = [("file", (path.name, path.read_bytes()))]
    labels = fields.pop("labels", None)
    if labels is not None:
        files.append(("labels", (labels.name, labels.read_bytes())))
    return client.post("/v1/datasets", data={"name": name, **fields}, files=files)


def wait_job(client: httpx.Client, job_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed", "canceled"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s: {job}")
