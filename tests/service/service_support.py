"""What the service tests share besides fixtures: the server process, the admin key, upload and job helpers.

A module of its own (not conftest.py) so that test files import it by a name no other conftest shadows."""

from __future__ import annotations

import csv
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

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
                    # every test client is 127.0.0.1; tests that refuse keys on purpose must not trip the throttle
                    "AIAAS_FAILED_AUTH_PER_MINUTE": "100000",
                    "PYTHONUNBUFFERED": "1", **(extra_env or {})}
        self.env.pop("AIAAS_MASTER_KEY", None)
        self.env.pop("AIAAS_MASTER_KEY_FILE", None)
        self.env.update({k: v for k, v in (extra_env or {}).items() if k.startswith("AIAAS_MASTER_KEY")})
        self.proc: subprocess.Popen | None = None
        self.start_args: list[str] = []  # more `aiaas serve` flags
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"

    def start(self) -> "Server":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aiaas_core.cli", "serve", "--port", str(self.port),
             "--data-dir", str(self.data_dir), "--workers", str(self.workers), "--log-level", "warning",
             *self.start_args],
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


def write_csv(path: Path, x: np.ndarray, y: np.ndarray, label: str = "target") -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([f"f{i}" for i in range(x.shape[1])] + [label])
        for row, t in zip(x, y):
            w.writerow([repr(float(v)) for v in row] + [t])
    return path


def idx_bytes(arr: np.ndarray, code: int) -> bytes:
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
