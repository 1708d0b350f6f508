"""`aiaas admin backup` of a running server on PostgreSQL (pg_dump) and `aiaas admin restore` into an
empty database: the restored server answers with bit-identical predictions and keeps the audit log."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from helpers import deploy, train
from service_support import ADMIN_KEY, Server
from test_postgres import postgres_url  # noqa: F401  (the throwaway cluster fixture)


def _aiaas(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIAAS_MASTER_KEY", "AIAAS_DATABASE_URL"))}
    return subprocess.run([sys.executable, "-m", "aiaas_core.cli", *args], env=env, capture_output=True, text=True,
                          timeout=300)


def _create_database(url: str, name: str) -> str:
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name


def test_backup_and_restore_on_postgresql(postgres_url, tmp_path, data_files):  # noqa: F811
    source_url = _create_database(postgres_url, "aiaas_source")
    target_url = _create_database(postgres_url, "aiaas_restored")
    env = {"AIAAS_DATABASE_URL": source_url}
    a = Server(tmp_path / "data", extra_env=env).start()
    try:
        with a.client(ADMIN_KEY) as admin:
            tid = admin.post("/v1/tenants", json={"name": "pg-backed-up"}).json()["id"]
            member = a.client(admin.post(f"/v1/tenants/{tid}/keys", json={"role": "member"}).json()["key"])
            _, job = train(member, data_files["digits_npz"], "logistic", {"epochs": 2, "seed": 4})
            deploy(member, "digits", job["model_version_id"])
            x = np.load(data_files["digits_npz"])["x"][:20].tolist()
            answer = member.post("/v1/endpoints/digits/predict", json={"instances": x}).json()
            done = _aiaas("admin", "backup", str(tmp_path / "b"), "--data-dir", str(a.data_dir),
                          "--database-url", source_url)
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout)["database"] == "postgresql"
            audit = {(r["key_id"], r["action"], r["target"], r["status"])
                     for r in admin.get("/v1/audit", params={"limit": 1000}).json()}
    finally:
        a.stop()
    # a SQLite restore target is refused for a PostgreSQL backup, with what to pass instead
    done = _aiaas("admin", "restore", str(tmp_path / "b"), "--data-dir", str(tmp_path / "restored"))
    assert done.returncode != 0 and "--database-url" in done.stderr
    done = _aiaas("admin", "restore", str(tmp_path / "b"), "--data-dir", str(tmp_path / "restored"),
                  "--database-url", target_url)
    assert done.returncode == 0, done.stderr
    b = Server(tmp_path / "restored", extra_env={"AIAAS_DATABASE_URL": target_url,
                                                  "AIAAS_MASTER_KEY_FILE": str(tmp_path / "data" / "master.key")}).start()
    try:
        r = member.post(f"{b.url}/v1/endpoints/digits/predict", json={"instances": x})
        assert r.status_code == 200, r.text
        assert r.json() == answer
        with b.client(ADMIN_KEY) as admin:
            rows = {(r["key_id"], r["action"], r["target"], r["status"])
                    for r in admin.get("/v1/audit", params={"limit": 1000}).json()}
        assert audit <= rows
    finally:
        member.close()
        b.stop()
