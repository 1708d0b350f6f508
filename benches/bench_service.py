"""Service load benchmark: predictions/s and p50/p99 latency of a running `aiaas serve`, with and without
dynamic batching, against a plain FastAPI + PyTorch server doing the same prediction
(benches/serve_torch_baseline.py), for the MLP (digits, 64 features) and the ConvNet (MNIST 28x28).

    python benches/bench_service.py [--duration 4] [--levels 1,16,64] [--quick]

It starts its own servers on free ports (temp data dir), trains the two models through the API, deploys
each twice (`*-batched`: max_batch_size 32, max_wait_ms 2; `*-single`: max_batch_size 0), downloads the
versions for the torch baseline, then runs an async httpx load generator: `c` clients each sending
one-instance requests back to back for `duration` seconds. The load generator runs on the same machine
as the servers (it takes CPU from them); compare rows with each other, not with other machines.
Prints a table; never asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ADMIN_KEY = "aiaas_bench_admin_" + secrets.token_urlsafe(16)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mnist_dir() -> Path:
    env = os.environ.get("AIAAS_DATA_DIR")
    for cand in ([Path(env) / "mnist"] if env else []) + [ROOT.parent / "shared" / "data" / "mnist"]:
        if (cand / "t10k-images-idx3-ubyte.gz").exists():
            return cand
    raise SystemExit("MNIST not found: set AIAAS_DATA_DIR to the directory holding mnist/")


class Process:
    """A server subprocess that is ready once `probe` answers 200."""

    def __init__(self, args: list[str], url: str, probe: str, env: dict[str, str], log: Path) -> None:
        self.url, self.log = url, log
        self.proc = subprocess.Popen(args, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{args[:3]} exited with {self.proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(url + probe, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise SystemExit(f"{args[:3]} did not start:\n{log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _idx_bytes(arr: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape) + arr.astype(np.uint8).tobytes()


def _train(member: httpx.Client, files: list, fields: dict, architecture: str, hp: dict) -> str:
    r = member.post("/v1/datasets", data=fields, files=files)
    r.raise_for_status()
    r = member.post("/v1/jobs", json={"dataset_id": r.json()["id"], "architecture": architecture, "hyperparameters": hp})
    r.raise_for_status()
    job_id = r.json()["id"]
    while True:
        job = member.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed", "canceled"):
            break
        time.sleep(0.5)
    if job["state"] != "succeeded":
        raise SystemExit(f"training {architecture} failed: {job}")
    return job["model_version_id"]


def setup(url: str, work: Path, quick: bool) -> dict[str, dict]:
    """Train the MLP and the ConvNet through the API; deploy each with and without batching."""
    from aiaas_core.data import load_idx
    from sklearn.datasets import load_digits

    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=120)
    tid = admin.post("/v1/tenants", json={"name": "bench"}).json()["id"]
    key = admin.post(f"/v1/tenants/{tid}/keys", json={"role": "member"}).json()["key"]
    member = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=300)

    digits = load_digits()
    buf = work / "digits.npz"
    np.savez(buf, x=digits.data[:1400].astype(np.float32), y=digits.target[:1400])
    mlp = _train(member, [("file", ("digits.npz", buf.read_bytes()))], {"name": "digits"}, "mlp",
                 {"epochs": 3, "units": [128, 64], "learning_rate": 0.01})
    n = 1000 if quick else 3000
    images = load_idx(mnist_dir() / "t10k-images-idx3-ubyte.gz")[:n]
    labels = load_idx(mnist_dir() / "t10k-labels-idx1-ubyte.gz")[:n]
    cnn = _train(member, [("file", ("images-idx3-ubyte.gz", gzip.compress(_idx_bytes(images)))),
                          ("labels", ("labels-idx1-ubyte.gz", gzip.compress(_idx_bytes(labels))))],
                 {"name": "mnist"}, "cnn", {"epochs": 1, "filters": [16, 32], "dense_units": 64, "learning_rate": 0.005})
    test_images = load_idx(mnist_dir() / "t10k-images-idx3-ubyte.gz")[9000:9256].astype(np.float32)
    models = {"MLP": {"version": mlp, "samples": digits.data[1400:1656]},
              "ConvNet": {"version": cnn, "samples": test_images}}
    for name, m in models.items():
        for suffix, knobs in (("batched", {"max_batch_size": 32, "max_wait_ms": 2}), ("single", {"max_batch_size": 0})):
            r = member.post("/v1/endpoints", json={"name": f"{name.lower()}-{suffix}", "model_version_id": m["version"], **knobs})
            r.raise_for_status()
        zpath = work / f"{name}.zip"
        zpath.write_bytes(member.get(f"/v1/model-versions/{m['version']}/download").content)
        m["zip"], m["key"] = zpath, key
    return models


async def load(url: str, path: str, headers: dict, payloads: list[bytes], concurrency: int,
               duration: float) -> tuple[int, int, list[float]]:
    """(ok, errors, latencies in s) of `concurrency` clients sending back to back for `duration` s."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(base_url=url, headers={**headers, "content-type": "application/json"},
                                 limits=limits, timeout=60) as client:
        for body in payloads[:3]:  # warm connections and caches
            await client.post(path, content=body)
        stop = time.perf_counter() + duration

        async def worker(w: int) -> None:
            nonlocal errors
            i = w
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                r = await client.post(path, content=payloads[i % len(payloads)])
                if r.status_code == 200:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors += 1
                i += concurrency

        start = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        elapsed = time.perf_counter() - start
    return len(latencies), errors, [elapsed] + latencies


async def load_raw(url: str, path: str, headers: dict, payloads: list[bytes], concurrency: int,
                   duration: float) -> tuple[int, int, list[float]]:
    """load() with a minimal HTTP/1.1 keep-alive client on raw asyncio streams (one connection per client).

    httpx costs the load generator 1-3 ms of CPU per request (more with many connections), so on a small
    machine it, not the server, sets the pace at 16-64 clients. Both servers answer with Content-Length
    (uvicorn), which is all this reader handles."""
    host, _, port = url.removeprefix("http://").partition(":")
    head = "".join(f"{k}: {v}\r\n" for k, v in {**headers, "Host": host, "Content-Type": "application/json"}.items())
    requests = [f"POST {path} HTTP/1.1\r\n{head}Content-Length: {len(b)}\r\n\r\n".encode() + b for b in payloads]
    latencies: list[float] = []
    errors = 0

    async def call(reader, writer, request: bytes) -> int:
        writer.write(request)
        status_and_headers = await reader.readuntil(b"\r\n\r\n")
        lines = status_and_headers.split(b"\r\n")
        length = next(int(v) for k, _, v in (line.partition(b":") for line in lines[1:]) if k.lower() == b"content-length")
        await reader.readexactly(length)
        return int(lines[0].split()[1])

    async def worker(w: int, stop: float) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        i = w
        try:
            for request in requests[:2]:  # warm the connection and the server's caches
                await call(reader, writer, request)
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                status = await call(reader, writer, requests[i % len(requests)])
                if status == 200:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors += 1
                i += concurrency
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker(w, start + duration) for w in range(concurrency)))
    elapsed = time.perf_counter() - start
    return len(latencies), errors, [elapsed] + latencies


def _run_load(client: str, *args) -> tuple[int, int, list[float]]:
    if client == "httpx":
        return asyncio.run(load(*args))
    try:  # the lean client on uvloop when installed: the generator then takes as little CPU as it can
        import uvloop

        return uvloop.run(load_raw(*args))
    except ImportError:
        return asyncio.run(load_raw(*args))


def _forward_stats(url: str) -> tuple[float, float]:
    text = httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).text
    get = lambda n: float(re.search(rf"^{n}_total (\S+)$", text, re.M).group(1))  # noqa: E731
    return get("aiaas_model_forward_calls"), get("aiaas_model_forward_requests")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (Linux /proc): the server's cost, whatever else shares the
    machine. Throughput swings with other load on a shared machine; CPU per request much less."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=4.0, help="seconds of load per table cell")
    ap.add_argument("--levels", default="1,16,64", help="concurrent clients, comma-separated")
    ap.add_argument("--quick", action="store_true", help="smaller training set, 2 s cells")
    ap.add_argument("--client", choices=["httpx", "raw"], default="httpx",
                    help="load generator: httpx (default) or raw asyncio HTTP/1.1 streams, which need far less CPU "
                         "per request and so leave the server, not the generator, as the bottleneck at 16-64 clients")
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the FastAPI+PyTorch rows (automatic when torch is not installed)")
    args = ap.parse_args(argv)
    import importlib.util

    if not args.no_baseline and importlib.util.find_spec("torch") is None:
        print("torch is not installed: the FastAPI+PyTorch baseline rows are skipped", flush=True)
        args.no_baseline = True
    levels = [int(v) for v in args.levels.split(",")]
    duration = 2.0 if args.quick else args.duration

    work = Path(tempfile.mkdtemp(prefix="aiaas-bench-"))
    env = {**os.environ, "AIAAS_ADMIN_KEY": ADMIN_KEY, "AIAAS_RATE_LIMIT_PER_MINUTE": "1000000000",
           "PYTHONUNBUFFERED": "1"}
    env.pop("AIAAS_MASTER_KEY", None)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    procs: list[Process] = []
    try:
        procs.append(Process([sys.executable, "-m", "aiaas_core.cli", "serve", "--port", str(port), "--data-dir",
                              str(work / "data"), "--workers", "1", "--log-level", "warning"],
                             url, "/readyz", env, work / "aiaas.log"))
        print(f"training the MLP and the ConvNet through {url} ...", flush=True)
        models = setup(url, work, args.quick)
        rows = []
        for name, m in models.items():
            payloads = [json.dumps({"instances": [s.tolist()]}).encode() for s in m["samples"]]
            auth = {"Authorization": f"Bearer {m['key']}"}
            targets = [("aiaas batched", url, f"/v1/endpoints/{name.lower()}-batched/predict", auth),
                       ("aiaas unbatched", url, f"/v1/endpoints/{name.lower()}-single/predict", auth)]
            if not args.no_baseline:
                tport = free_port()
                turl = f"http://127.0.0.1:{tport}"
                procs.append(Process([sys.executable, str(ROOT / "benches" / "serve_torch_baseline.py"), str(m["zip"]),
                                      "--port", str(tport)], turl, "/openapi.json", env, work / f"torch-{name}.log"))
                targets.append(("FastAPI+PyTorch", turl, "/predict", {}))
            for label, base, path, headers in targets:
                for c in levels:
                    before = _forward_stats(url)
                    cpu_before = _cpu_seconds(procs[0].proc.pid) if base == url else float("nan")
                    ok, errors, lat = _run_load(args.client, base, path, headers, payloads, c, duration)
                    cpu_ms = 1000 * (_cpu_seconds(procs[0].proc.pid) - cpu_before) / max(ok, 1) if base == url else float("nan")
                    after = _forward_stats(url)
                    elapsed, lat = lat[0], sorted(lat[1:])
                    per_call = ((after[1] - before[1]) / (after[0] - before[0])) if base == url and after[0] > before[0] else float("nan")
                    rows.append((name, label, c, ok / elapsed, 1000 * statistics.median(lat) if lat else float("nan"),
                                 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else float("nan"), errors, per_call,
                                 cpu_ms))
                    print(f"  {name:8s} {label:16s} c={c:<3d} {ok / elapsed:8.0f} pred/s", flush=True)
        print()
        print(f"{'model':8s} {'server':16s} {'clients':>7s} {'pred/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'errors':>6s} "
              f"{'req/fwd':>7s} {'cpu ms/req':>10s}")
        for name, label, c, rate, p50, p99, errors, per_call, cpu_ms in rows:
            print(f"{name:8s} {label:16s} {c:7d} {rate:8.0f} {p50:8.2f} {p99:8.2f} {errors:6d} {per_call:7.2f} {cpu_ms:10.3f}")
        print(f"\n{os.cpu_count()} CPUs shared by the servers and this load generator ({args.client} client); {duration:g} s per row; "
              "req/fwd = prediction requests per model forward call, cpu ms/req = the API process's CPU time per "
              "prediction (aiaas only; steadier than pred/s when other work shares the machine).")
    finally:
        for p in reversed(procs):
            p.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
