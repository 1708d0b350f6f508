"""The master key outside the data folder (AIAAS_MASTER_KEY_FILE / --master-key-file) and its fingerprint:
a server started with another key than the one its artifacts were written with refuses to start with one
clear line (it used to start and answer 500 on every artifact)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from service_support import ADMIN_KEY, Server


def _key_file(path, key: bytes):
    path.write_text(key.hex() + "\n")
    path.chmod(0o600)
    return path


def _refusal(srv: Server) -> str:
    with pytest.raises(RuntimeError) as failure:
        srv.start()
    log = str(failure.value)
    assert "Traceback" not in log, log
    return log


def test_key_file_outside_the_data_folder_and_a_wrong_key_is_refused(tmp_path):
    key = os.urandom(32)
    key_path = _key_file(tmp_path / "master.key", key)
    data = tmp_path / "data"
    srv = Server(data, extra_env={"AIAAS_MASTER_KEY_FILE": str(key_path)}).start()
    try:
        with srv.client(ADMIN_KEY) as admin:
            assert admin.get("/v1/tenants").status_code == 200
            tid = admin.post("/v1/tenants", json={"name": "keyed"}).json()["id"]
            member = admin.post(f"/v1/tenants/{tid}/keys", json={"role": "member"}).json()["key"]
        with srv.client(member) as c:
            r = c.post("/v1/datasets", data={"name": "d", "label_column": "y"},
                       files=[("file", ("d.csv", b"a,b,y\n" + b"".join(b"%d,%d,%d\n" % (i, i * 2, i % 2) for i in range(40))))])
            assert r.status_code == 201, r.text
    finally:
        srv.stop()
    assert not (data / "master.key").exists()  # the key stayed where the operator put it
    fingerprint = json.loads((data / "master-key.fingerprint").read_text())
    assert fingerprint["algorithm"] == "HMAC-SHA256" and len(fingerprint["fingerprint"]) == 64
    assert key.hex() not in (data / "master-key.fingerprint").read_text()

    # Another key: refused at start, one line naming the folder and what to do.
    wrong = _key_file(tmp_path / "wrong.key", os.urandom(32))
    log = _refusal(Server(data, extra_env={"AIAAS_MASTER_KEY_FILE": str(wrong)}))
    assert "not the one the data folder" in log and "--master-key-file" in log, log
    assert not (data / "master.key").exists()
    # No key given at all: named as such, and no new key is left in the folder.
    log = _refusal(Server(data))
    assert "no master key given for the data folder" in log and "--master-key-file" in log, log
    assert not (data / "master.key").exists()

    # A folder written before fingerprints existed: checked against one of its artifacts instead.
    (data / "master-key.fingerprint").unlink()
    log = _refusal(Server(data, extra_env={"AIAAS_MASTER_KEY_FILE": str(wrong)}))
    assert "does not decrypt the artifacts" in log, log
    assert not (data / "master-key.fingerprint").exists()  # a wrong key never writes its fingerprint
    # The right key passed on the command line: starts, writes the fingerprint, reads the dataset.
    srv = Server(data)
    srv.start_args = ["--master-key-file", str(key_path)]
    srv.start()
    try:
        with srv.client(ADMIN_KEY) as admin:
            assert admin.get("/v1/tenants").status_code == 200
        assert json.loads((data / "master-key.fingerprint").read_text()) == fingerprint
    finally:
        srv.stop()


def test_a_missing_key_file_is_named(tmp_path):
    log = _refusal(Server(tmp_path / "data", extra_env={"AIAAS_MASTER_KEY_FILE": str(tmp_path / "nope.key")}))
    assert f"the master key file {tmp_path / 'nope.key'} does not exist" in log and "openssl rand -hex 32" in log, log
    assert not (tmp_path / "data" / "master.key").exists()


def test_the_default_key_in_the_data_folder_still_works(tmp_path):
    srv = Server(tmp_path / "data").start()  # the README's first command: no key set up
    srv.stop()
    assert (tmp_path / "data" / "master.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "data" / "master-key.fingerprint").exists()
    srv.start()  # the same key found again
    srv.stop()
