"""The `aiaas` CLI verbs and the Python client, driving the same flow against the running server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits

from aiaas_core.client import ApiError, Client


def cli(server, *args: str, key: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "AIAAS_URL": server.url}
    env.pop("AIAAS_MASTER_KEY", None)
    if key:
        env["AIAAS_API_KEY"] = key
    proc = subprocess.run([sys.executable, "-m", "aiaas_core.cli", *args], env=env, capture_output=True,
                          text=True, timeout=180)
    if check:
        assert proc.returncode == 0, (proc.stdout, proc.stderr)
    return proc


def test_cli_flow(server, data_files, tmp_path):
    # admin create-key works on the server's data dir (offline administration)
    made = json.loads(cli(server, "admin", "create-key", "--data-dir", str(server.data_dir),
                          "--tenant", "cli-tenant", "--role", "member").stdout)
    assert made["role"] == "member" and made["key"].startswith("aiaas_")
    key = made["key"]
    ds = json.loads(cli(server, "datasets", "upload", str(data_files["digits_npz"]), "--name", "digits", key=key).stdout)
    assert ds["rows"] == 400 and ds["x_shape"] == [64]
    assert ds["id"] in cli(server, "datasets", "list", key=key).stdout

    proc = cli(server, "jobs", "create", "--dataset", ds["id"], "--architecture", "mlp", "--epochs", "5",
               "--learning-rate", "0.01", "--hyperparameters", '{"units": [32]}', "--watch", key=key)
    assert "5/5" in proc.stderr and "epoch" in proc.stderr  # the tqdm bar
    final = json.loads(proc.stdout[proc.stdout.rindex("{\n  \"id\""):])
    assert final["state"] == "succeeded" and final["epoch"] == 5

    created = json.loads(cli(server, "jobs", "create", "--dataset", ds["id"], "--architecture", "mlp",
                             "--epochs", "200", "--batch-size", "4", key=key).stdout)
    canceled = json.loads(cli(server, "jobs", "cancel", created["id"], key=key).stdout)
    assert canceled["id"] == created["id"]
    watched = cli(server, "jobs", "watch", created["id"], key=key, check=False)
    assert watched.returncode == 1 and '"state": "canceled"' in watched.stdout

    dep = json.loads(cli(server, "deploy", "cli-digits", "--version", final["model_version_id"], key=key).stdout)
    assert dep["model_version_id"] == final["model_version_id"]
    digits = load_digits()
    (tmp_path / "x.json").write_text(json.dumps({"instances": digits.data[:20].tolist()}))
    out = json.loads(cli(server, "predict", "cli-digits", "--file", str(tmp_path / "x.json"), key=key).stdout)
    labels = [p["label"] for p in out["predictions"]]
    assert len(labels) == 20 and np.mean(np.array(labels) == digits.target[:20]) > 0.8

    bad = cli(server, "predict", "cli-digits", "--instances", "[[1, 2]]", key=key, check=False)
    assert bad.returncode == 2 and "422" in bad.stderr and "[n, 64]" in bad.stderr
    nokey = cli(server, "datasets", "list", check=False)
    assert nokey.returncode != 0 and "API key" in nokey.stderr


def test_python_client_flow(server, make_tenant, data_files):
    import secrets

    from service_support import ADMIN_KEY

    with Client(server.url, ADMIN_KEY) as admin:
        tenant = admin.create_tenant(f"client-{secrets.token_hex(3)}")
        key = admin.create_key(tenant["id"], "member")["key"]
        pkey = admin.create_key(tenant["id"], "predict")
    with Client(server.url, key) as c:
        assert {a["name"] for a in c.architectures()} >= {"mlp", "cnn"}
        ds = c.upload_dataset(data_files["breast_cancer_csv"], name="bc", label_column="target", scaling="minmax")
        assert ds["preprocessing"]["scaling"] == "minmax"
        job = c.create_job(ds["id"], "mlp", {"epochs": 8, "learning_rate": 0.01, "units": [16]})
        events = list(c.job_events(job["id"]))
        assert [e["data"]["epoch"] for e in events if e["event"] == "epoch"] == list(range(1, 9))
        job = c.wait(job["id"])
        assert job["state"] == "succeeded"
        version = c.get_model_version(job["model_version_id"])
        assert version["lineage"]["dataset_id"] == ds["id"]
        assert c.download_model(version["id"])[:2] == b"PK"
        c.deploy("bc", version["id"])
        again = c.create_job(ds["id"], "logistic", {"epochs": 3})
        v2 = c.wait(again["id"])["model_version_id"]
        assert c.deploy("bc", v2)["model_version_id"] == v2  # existing endpoint: repointed
        ev = c.evaluate(v2, ds["id"])
        assert 0.0 <= ev["metrics"]["accuracy"] <= 1.0 and ev["rows"] == 300
        with pytest.raises(ApiError) as err:
            c.get_job("0" * 32)
        assert err.value.status == 404
        c.delete_dataset(ds["id"])
        assert ds["id"] not in [d["id"] for d in c.list_datasets()]
    from sklearn.datasets import load_breast_cancer

    with Client(server.url, pkey["key"]) as p:
        out = p.predict("bc", load_breast_cancer().data[:3].tolist())
        assert out["model_version_id"] == v2 and len(out["predictions"]) == 3
        with pytest.raises(ApiError) as err:
            p.list_datasets()
        assert err.value.status == 403
    with Client(server.url, ADMIN_KEY) as admin:
        admin.revoke_key(pkey["id"])
    with Client(server.url, pkey["key"]) as p, pytest.raises(ApiError) as err:
        p.predict("bc", [[0.0] * 30])
    assert err.value.status == 401
    with pytest.raises(ValueError):
        Client("ftp://x", "k")
