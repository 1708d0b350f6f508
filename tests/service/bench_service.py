"""Measure the service end to end on a real `aiaas serve` (not a test; run it by hand):

    python tests/service/bench_service.py

Prints: upload time, training wall time per catalog architecture (small real data), and prediction
latency (p50/p95) and throughput for one client and for 4 concurrent clients.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_support import ADMIN_KEY, Server, upload, wait_job, write_csv  # noqa: E402


def main() -> None:
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits

    tmp = Path(tempfile.mkdtemp())
    srv = Server(tmp / "data", workers=1).start()
    try:
        with srv.client(ADMIN_KEY) as admin:
            tid = admin.post("/v1/tenants", json={"name": "bench", "max_concurrent_jobs": 50}).json()["id"]
            key = admin.post(f"/v1/tenants/{tid}/keys", json={"role": "member"}).json()["key"]
        m = srv.client(key)
        bc, diab, dg = load_breast_cancer(), load_diabetes(), load_digits()
        csv = write_csv(tmp / "bc.csv", np.tile(bc.data, (4, 1)), np.tile(bc.target, 4))
        t = time.perf_counter()
        bc_ds = upload(m, csv, "bc", label_column="target").json()
        print(f"upload {csv.stat().st_size / 1e6:.2f} MB CSV ({bc_ds['rows']} rows): {time.perf_counter() - t:.3f} s")
        np.savez(tmp / "digits.npz", x=dg.data.astype(np.float32), y=dg.target)
        np.savez(tmp / "seq.npz", x=(dg.images / 16).astype(np.float32), y=dg.target)
        np.savez(tmp / "diab.npz", x=diab.data.astype(np.float32), y=diab.target.astype(np.float32))
        digits = upload(m, tmp / "digits.npz", "digits").json()
        ids = {"digits": digits["id"], "seq": upload(m, tmp / "seq.npz", "seq").json()["id"],
               "diab": upload(m, tmp / "diab.npz", "diab").json()["id"], "bc": bc_ds["id"]}
        plans = [("linear", "diab", {"optimizer": "sgd", "learning_rate": 0.01}), ("logistic", "bc", {}),
                 ("mlp", "digits", {"units": [64, 64]}), ("cnn", "digits8x8", None),
                 ("lstm", "seq", {"units": 32}), ("autoencoder", "digits", {"encoding_dim": 8})]
        np.savez(tmp / "img.npz", x=dg.images.astype(np.float32), y=dg.target)
        ids["digits8x8"] = upload(m, tmp / "img.npz", "img").json()["id"]
        versions = {}
        for arch, data, hp in plans:
            hp = {"epochs": 10, "batch_size": 32, **(hp if hp is not None else {"filters": [16], "dense_units": 32})}
            t = time.perf_counter()
            job = wait_job(m, m.post("/v1/jobs", json={"dataset_id": ids[data], "architecture": arch,
                                                     "hyperparameters": hp}).json()["id"])
            wall = time.perf_counter() - t
            versions[arch] = job["model_version_id"]
            shown = {k: round(v, 4) for k, v in job["metrics"].items()}
            print(f"train {arch:11s} on {data:9s} 10 epochs: {wall:6.2f} s wall (queue+load+fit+save) {job['state']} {shown}")
        m.post("/v1/endpoints", json={"name": "digits", "model_version_id": versions["mlp"]})
        x = dg.data[:1].tolist()
        lat = []
        for _ in range(300):
            t = time.perf_counter()
            r = m.post("/v1/endpoints/digits/predict", json={"instances": x})
            lat.append(time.perf_counter() - t)
            assert r.status_code == 200
        lat.sort()
        print(f"predict 1 instance, 1 client: p50 {1e3 * lat[150]:.2f} ms, p95 {1e3 * lat[285]:.2f} ms, "
              f"{len(lat) / sum(lat):.0f} req/s")
        batch = dg.data[:256].tolist()
        t = time.perf_counter()
        for _ in range(20):
            m.post("/v1/endpoints/digits/predict", json={"instances": batch})
        print(f"predict 256 instances per request: {20 * 256 / (time.perf_counter() - t):.0f} instances/s")
        done, errors = [], []

        def client() -> None:
            with httpx.Client(base_url=srv.url, headers=m.headers) as h:
                for _ in range(100):
                    r = h.post("/v1/endpoints/digits/predict", json={"instances": x})
                    (done if r.status_code == 200 else errors).append(1)

        t = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        print(f"predict 1 instance, 4 concurrent clients: {len(done) / (time.perf_counter() - t):.0f} req/s, "
              f"{len(errors)} errors")
        m.close()
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
