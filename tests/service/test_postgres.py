"""The service on PostgreSQL: a throwaway cluster on loopback, `aiaas serve --database-url postgresql+psycopg://...`,
and the core flow (migrations, tenants, upload, job with a resume-safe claim, deploy, predict, isolation)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from service_support import ADMIN_KEY, Server, free_port, upload, wait_job

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(*cmd: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def postgres_url():
    pytest.importorskip("psycopg", reason="psycopg is in the [server] extra")
    initdb = shutil.which("initdb") or str(PG_BIN / "initdb")
    pg_ctl = shutil.which("pg_ctl") or str(PG_BIN / "pg_ctl")
    if not Path(initdb).exists():
        pytest.skip("PostgreSQL server binaries are not installed on this machine")
    # pytest's temp dirs are private to root; the postgres user needs a directory of its own
    root = Path(tempfile.mkdtemp(prefix="aiaas-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data = root / "cluster"
    port = free_port()
    if os.geteuid() == 0:  # postgres refuses to run as root
        run = _as_postgres
    else:
        def run(*cmd, **kw):
            return subprocess.run(list(cmd), check=True, capture_output=True, text=True, **kw)
    run(initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    run(pg_ctl, "-D", str(data), "-l", str(root / "pg.log"), "-w", "-o",
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(pg_ctl, "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


def test_flow_on_postgresql(postgres_url, tmp_path, data_files):
    import numpy as np
    from sklearn.datasets import load_digits

    srv = Server(tmp_path / "data", workers=1, extra_env={"AIAAS_DATABASE_URL": postgres_url}).start()
    try:
        assert not (srv.data_dir / "aiaas.db").exists()  # metadata went to PostgreSQL
        with srv.client(ADMIN_KEY) as admin:
            tenants = [admin.post("/v1/tenants", json={"name": f"pg-{i}"}).json()["id"] for i in range(2)]
            keys = [admin.post(f"/v1/tenants/{t}/keys", json={"role": "member"}).json()["key"] for t in tenants]
            assert admin.post("/v1/tenants", json={"name": "pg-0"}).status_code == 409
        a, b = srv.client(keys[0]), srv.client(keys[1])
        ds = upload(a, data_files["digits_npz"], "digits").json()
        job = a.post("/v1/jobs", json={"dataset_id": ds["id"], "architecture": "mlp",
                                       "hyperparameters": {"epochs": 4, "units": [16], "learning_rate": 0.01}}).json()
        done = wait_job(a, job["id"], timeout=120)
        assert done["state"] == "succeeded" and done["epoch"] == 4, done
        assert a.post("/v1/endpoints", json={"name": "d", "model_version_id": done["model_version_id"]}).status_code == 201
        digits = load_digits()
        out = a.post("/v1/endpoints/d/predict", json={"instances": digits.data[:50].tolist()}).json()
        assert np.mean([p["label"] for p in out["predictions"]] == digits.target[:50]) > 0.7
        assert b.get(f"/v1/jobs/{job['id']}").status_code == 404
        assert b.get(f"/v1/datasets/{ds['id']}").status_code == 404
        lines = a.get(f"/v1/jobs/{job['id']}/logs").json()["lines"]
        assert sum(" epoch " in line for line in lines) == 4
        # a restart on the same database keeps everything (migrations are idempotent)
        srv.stop()
        srv = Server(srv.data_dir, workers=1, extra_env={"AIAAS_DATABASE_URL": postgres_url}).start()
        with srv.client(keys[0]) as a2:
            assert a2.get(f"/v1/model-versions/{done['model_version_id']}").status_code == 200
            assert a2.post("/v1/endpoints/d/predict", json={"instances": digits.data[:1].tolist()}).status_code == 200
        a.close()
        b.close()
    finally:
        srv.stop()
