"""`aiaas admin backup` of a running server and `aiaas admin restore` into a new folder: the restored
server answers every endpoint with bit-identical predictions and keeps every audit row; it refuses to
start with another master key; a damaged or incomplete backup is refused before anything is written."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from helpers import deploy, train
from service_support import ADMIN_KEY, Server


def _aiaas(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIAAS_MASTER_KEY")}
    return subprocess.run([sys.executable, "-m", "aiaas_core.cli", *args], env=env, capture_output=True, text=True,
                          timeout=300)


def _audit_rows(db) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT id, at, tenant_id, key_id, action, target, status FROM audit_log ORDER BY id").fetchall()


def test_backup_of_a_running_server_restores_bit_identical(tmp_path, data_files):
    src_dir = tmp_path / "data"
    key_file = tmp_path / "master.key"
    key_file.write_text(os.urandom(32).hex())
    key_file.chmod(0o600)
    env = {"AIAAS_MASTER_KEY_FILE": str(key_file)}  # production layout: the key outside the data folder
    a = Server(src_dir, extra_env=env).start()
    try:
        with a.client(ADMIN_KEY) as admin:
            tid = admin.post("/v1/tenants", json={"name": "backed-up"}).json()["id"]
            member = a.client(admin.post(f"/v1/tenants/{tid}/keys", json={"role": "member"}).json()["key"])
        _, job1 = train(member, data_files["breast_cancer_csv"], "mlp", {"epochs": 2, "units": [8], "seed": 1},
                        label_column="target")
        _, job2 = train(member, data_files["digits_npz"], "logistic", {"epochs": 2, "seed": 2})
        cancer = np.loadtxt(data_files["breast_cancer_test_csv"], delimiter=",", skiprows=1)[:20, :-1]
        endpoints = {"cancer": (job1["model_version_id"], cancer),
                     "cancer-2": (job1["model_version_id"], cancer[5:15]),  # two endpoints on one version
                     "digits": (job2["model_version_id"], np.load(data_files["digits_npz"])["x"][:20])}
        answers = {}
        for name, (version, x) in endpoints.items():
            deploy(member, name, version)
            r = member.post(f"/v1/endpoints/{name}/predict", json={"instances": x.tolist()})
            assert r.status_code == 200, r.text
            answers[name] = r.json()
        dest = tmp_path / "backups" / "b1"
        done = _aiaas("admin", "backup", str(dest), "--data-dir", str(src_dir))  # while the server runs
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert summary["database"] == "sqlite" and not summary["master_key_included"]
        assert "the master key is not in the backup" in done.stderr
        audit_at_backup = _audit_rows(dest / "aiaas.db")
        assert len(audit_at_backup) >= 8  # tenant, key, 2 uploads, 2 jobs, 3 endpoints
        assert a.proc.poll() is None  # the backup neither stopped nor disturbed the server
        assert member.post("/v1/endpoints/cancer/predict",
                           json={"instances": endpoints["cancer"][1].tolist()}).json() == answers["cancer"]
    finally:
        a.stop()
    assert not (dest / "master.key").exists()
    assert key_file.read_text().strip() not in "".join(p.read_text(errors="replace") for p in dest.rglob("*") if p.is_file()
                                                        and p.suffix != ".enc")

    new_dir = tmp_path / "restored"
    done = _aiaas("admin", "restore", str(dest), "--data-dir", str(new_dir))
    assert done.returncode == 0, done.stderr
    assert f"aiaas serve --data-dir {new_dir} --master-key-file" in done.stderr
    assert _audit_rows(new_dir / "aiaas.db") == audit_at_backup  # every row, as it was

    # Another key, or none, refuses to start, in one line (and no new key is left in the folder).
    wrong = tmp_path / "wrong.key"
    wrong.write_text(os.urandom(32).hex())
    for extra, says in (({"AIAAS_MASTER_KEY_FILE": str(wrong)}, "not the one the data folder"),
                        ({}, "no master key given for the data folder")):
        with pytest.raises(RuntimeError) as failure:
            Server(new_dir, extra_env=extra).start()
        assert says in str(failure.value) and "Traceback" not in str(failure.value), str(failure.value)
    assert not (new_dir / "master.key").exists()

    b = Server(new_dir, extra_env=env).start()
    try:
        with b.client(ADMIN_KEY) as admin:
            rows = admin.get("/v1/audit", params={"limit": 1000}).json()
            restored = {(r["key_id"], r["action"], r["target"], r["status"]) for r in rows}
            assert {(r[3], r[4], r[5], r[6]) for r in audit_at_backup} <= restored
        for name, (version, x) in endpoints.items():
            r = member.post(f"{b.url}/v1/endpoints/{name}/predict", json={"instances": x.tolist()})
            assert r.status_code == 200, r.text
            assert r.json() == answers[name]  # bit-identical: the same float64 text, the same version
    finally:
        member.close()
        b.stop()


def test_restore_refuses_damaged_incomplete_or_occupied(tmp_path):
    src = Server(tmp_path / "data").start()
    src.stop()
    dest = tmp_path / "b"
    assert _aiaas("admin", "backup", str(dest), "--data-dir", str(tmp_path / "data"),
                  "--include-master-key").returncode == 0
    assert (dest / "master.key").stat().st_mode & 0o777 == 0o600
    again = _aiaas("admin", "backup", str(dest), "--data-dir", str(tmp_path / "data"))
    assert again.returncode != 0 and "already exists" in again.stderr and "Traceback" not in again.stderr

    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "x").write_text("keep me")
    done = _aiaas("admin", "restore", str(dest), "--data-dir", str(occupied))
    assert done.returncode != 0 and "already exists" in done.stderr and (occupied / "x").read_text() == "keep me"

    db = dest / "aiaas.db"
    raw = bytearray(db.read_bytes())
    raw[200] ^= 1
    db.write_bytes(bytes(raw))
    done = _aiaas("admin", "restore", str(dest), "--data-dir", str(tmp_path / "new"))
    assert done.returncode != 0 and "aiaas.db in the backup does not match its checksum" in done.stderr, done.stderr
    assert not (tmp_path / "new").exists()

    done = _aiaas("admin", "restore", str(tmp_path / "nothing"), "--data-dir", str(tmp_path / "new"))
    assert done.returncode != 0 and "is not an aiaas backup" in done.stderr


def test_a_backup_under_concurrent_writes_is_consistent(server, make_tenant, tmp_path):
    """Uploads and deletions keep going while the backup runs: the snapshot is a sound database, and
    every dataset row in it has its file in the backup, but for ones deleted during the backup, which
    the manifest names."""
    import threading

    _, c = make_tenant("busy")
    body = b"a,b,y\n" + b"".join(b"%d,%d,%d\n" % (i, 3 * i, i % 2) for i in range(200))
    stop, deleted, errors = threading.Event(), set(), []

    def churn() -> None:
        n = 0
        while not stop.is_set():
            r = c["member"].post("/v1/datasets", data={"name": f"d{n}", "label_column": "y"},
                                 files=[("file", ("d.csv", body))])
            if r.status_code != 201:
                errors.append(r.text)
                return
            if n % 2:
                assert c["member"].delete(f"/v1/datasets/{r.json()['id']}").status_code == 204
                deleted.add(r.json()["id"])
            n += 1

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        done = _aiaas("admin", "backup", str(tmp_path / "b"), "--data-dir", str(server.data_dir))
    finally:
        stop.set()
        worker.join()
    assert done.returncode == 0 and not errors, (done.stderr, errors)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    with sqlite3.connect(tmp_path / "b" / "aiaas.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = [r[0] for r in conn.execute("SELECT id FROM datasets")]
    assert rows
    missing = {rel.split("/")[-1][:-4] for rel in manifest["missing"]}
    assert missing <= deleted
    for dataset_id in rows:
        assert f"artifacts/datasets/{dataset_id}.enc" in manifest["files"] or dataset_id in missing
    done = _aiaas("admin", "restore", str(tmp_path / "b"), "--data-dir", str(tmp_path / "restored"))
    assert done.returncode == 0, done.stderr
