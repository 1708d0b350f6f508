"""A real `aiaas serve` process on a free port with a temp data dir, and helpers to talk to it over HTTP."""

from __future__ import annotations

import gzip
import secrets
from pathlib import Path
from typing import Callable, Iterator

import httpx
import numpy as np
import pytest

from service_support import ADMIN_KEY, Server, idx_bytes, write_csv


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
    files["mnist_images"].write_bytes(gzip.compress(idx_bytes(images, 0x08)))
    files["mnist_labels"].write_bytes(gzip.compress(idx_bytes(labels, 0x08)))
    return files
