"""Platform behaviour of a real `aiaas serve`: health, docs, auth, roles, keys, limits, isolation, encryption, audit."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import httpx
import numpy as np

from service_support import ADMIN_KEY, MAX_UPLOAD, upload


def test_health_ready_and_offline_docs(server):
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200 and ready.json()["workers"] == 1
    docs = httpx.get(f"{server.url}/docs")
    assert docs.status_code == 200
    assert "/docs-static/swagger/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text.lower()
    js = httpx.get(f"{server.url}/docs-static/swagger/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 100_000
    spec = httpx.get(f"{server.url}/openapi.json").json()
    for path in ("/v1/jobs", "/v1/datasets", "/v1/endpoints/{name}/predict", "/v1/model-versions/{version_id}/download"):
        assert path in spec["paths"]


def test_requests_without_a_valid_key_are_refused(server):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        r = httpx.get(f"{server.url}/v1/datasets", headers=headers)
        assert r.status_code == 401 and r.json()["detail"]
    assert httpx.get(f"{server.url}/v1/architectures", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).status_code == 200


def test_roles(make_tenant, admin, data_files):
    tid, c = make_tenant("roles")
    # predict keys cannot train, upload or read datasets
    assert upload(c["predict"], data_files["digits_npz"], "d").status_code == 403
    assert c["predict"].get("/v1/datasets").status_code == 403
    r = c["predict"].post("/v1/jobs", json={"dataset_id": "x", "architecture": "mlp"})
    assert r.status_code == 403 and "member" in r.json()["detail"]
    # members cannot administer
    assert c["member"].post("/v1/tenants", json={"name": "evil"}).status_code == 403
    assert c["member"].post(f"/v1/tenants/{tid}/keys", json={"role": "admin"}).status_code == 403
    assert c["member"].get("/v1/audit").status_code == 403
    assert admin.get("/v1/audit").status_code == 200
    # admin keys are for operators only: a customer tenant cannot be given one
    r = admin.post(f"/v1/tenants/{tid}/keys", json={"role": "admin"})
    assert r.status_code == 422 and "system" in r.json()["detail"]
    r = admin.post(f"/v1/tenants/{tid}/keys", json={"role": "root"})
    assert r.status_code == 422 and "role" in r.json()["detail"]
    assert admin.post("/v1/tenants", json={"name": "system"}).status_code == 409


def test_key_revocation_and_expiry(server, admin, make_tenant):
    tid, _ = make_tenant("keys")
    key = admin.post(f"/v1/tenants/{tid}/keys", json={"role": "member"}).json()
    with server.client(key["key"]) as c:
        assert c.get("/v1/datasets").status_code == 200
        assert admin.delete(f"/v1/keys/{key['id']}").status_code == 204
        r = c.get("/v1/datasets")
        assert r.status_code == 401 and "revoked" in r.json()["detail"]
    past = (datetime.now(timezone.utc) - timedelta(seconds=5)).isoformat()
    r = admin.post(f"/v1/tenants/{tid}/keys", json={"role": "member", "expires_at": past})
    assert r.status_code == 422 and "future" in r.json()["detail"]
    soon = (datetime.now(timezone.utc) + timedelta(seconds=2)).isoformat()
    key = admin.post(f"/v1/tenants/{tid}/keys", json={"role": "member", "expires_at": soon}).json()
    with server.client(key["key"]) as c:
        assert c.get("/v1/datasets").status_code == 200
        time.sleep(2.5)
        r = c.get("/v1/datasets")
        assert r.status_code == 401 and "expired" in r.json()["detail"]
    assert admin.delete("/v1/keys/ffffffffffffffffffffffffffffffff").status_code == 404


def test_rate_limit_answers_429_with_retry_after(server, admin, make_tenant):
    tid, _ = make_tenant("rate")
    key = admin.post(f"/v1/tenants/{tid}/keys", json={"role": "member", "rate_limit_per_minute": 3}).json()
    with server.client(key["key"]) as c:
        codes = [c.get("/v1/datasets").status_code for _ in range(3)]
        r = c.get("/v1/datasets")
    assert codes == [200, 200, 200]
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1 and "rate limit" in r.json()["detail"]


def test_upload_limits_413(server, make_tenant, tmp_path):
    _, c = make_tenant("big")
    big = tmp_path / "big.npz"
    np.savez(big, x=np.zeros((MAX_UPLOAD // 4 + 1000, 1), np.float32), y=np.zeros(MAX_UPLOAD // 4 + 1000, np.int64))
    r = upload(c["member"], big, "big")
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    # a per-tenant quota below the server limit
    _, small = make_tenant("quota", max_dataset_bytes=10_000)
    mid = tmp_path / "mid.npz"
    np.savez(mid, x=np.zeros((5000, 1), np.float32), y=np.zeros(5000, np.int64))
    r = upload(small["member"], mid, "mid")
    assert r.status_code == 413
    # an anonymous upload is refused before its body matters
    r = httpx.post(f"{server.url}/v1/datasets", files={"file": ("big.npz", big.read_bytes())}, data={"name": "x"})
    assert r.status_code == 401


def test_bad_dataset_uploads_get_4xx_json_and_server_keeps_serving(make_tenant, data_files, tmp_path):
    _, c = make_tenant("bad")
    m = c["member"]
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("a,b,target\n1,2,0\n3,oops,1\n")
    cases = [
        (upload(m, data_files["breast_cancer_csv"], "x"), 422, "label_column"),
        (upload(m, data_files["breast_cancer_csv"], "x", label_column="nope"), 422, "nope"),
        (upload(m, bad_csv, "x", label_column="target"), 422, "oops"),
        (upload(m, data_files["breast_cancer_csv"], "../etc/passwd", label_column="target"), 422, "name"),
        (upload(m, data_files["breast_cancer_csv"], "x", label_column="target", scaling="log"), 422, "scaling"),
    ]
    pickle_like = tmp_path / "data.pkl"
    pickle_like.write_bytes(b"\x80\x04K\x01.")
    cases.append((upload(m, pickle_like, "x"), 415, ".csv"))
    extra = tmp_path / "extra.npz"
    np.savez(extra, x=np.zeros((3, 2)), y=np.zeros(3), z=np.zeros(1))
    cases.append((upload(m, extra, "x"), 422, "'x'"))
    cases.append((m.post("/v1/datasets", json={"name": "x"}), 415, "multipart"))
    cases.append((m.post("/v1/datasets", content=b"--zz\r\ngarbage", headers={"content-type": "multipart/form-data; boundary=zz"}), 4, ""))
    for r, status, word in cases:
        assert (r.status_code // 100 == status) if status < 10 else r.status_code == status, (r.status_code, r.text)
        assert word in r.json()["detail"], r.text
    assert m.get("/v1/datasets").status_code == 200


def test_dataset_summary_encryption_and_delete(server, make_tenant, data_files):
    _, c = make_tenant("enc")
    m = c["member"]
    r = upload(m, data_files["breast_cancer_csv"], "bc", label_column="target")
    assert r.status_code == 201, r.text
    ds = r.json()
    assert ds["rows"] == 300 and ds["x_shape"] == [30]
    assert ds["summary"]["task"] == "classification"
    from sklearn.datasets import load_breast_cancer

    counts = np.bincount(load_breast_cancer().target[:300])
    assert ds["summary"]["label_distribution"] == {"0": int(counts[0]), "1": int(counts[1])}
    assert ds["summary"]["missing_values"]["total"] == 0
    # at rest: no line of the uploaded CSV appears in any file of the data dir
    lines = data_files["breast_cancer_csv"].read_bytes().splitlines()[1:6]
    blobs = [p.read_bytes() for p in server.data_dir.rglob("*") if p.is_file()]
    assert blobs and not any(line in blob for line in lines for blob in blobs)
    enc = server.data_dir / "artifacts" / "datasets" / f"{ds['id']}.enc"
    assert enc.exists() and (server.data_dir / "master.key").stat().st_mode & 0o777 == 0o600
    assert m.get(f"/v1/datasets/{ds['id']}").json()["summary"] == ds["summary"]
    assert m.delete(f"/v1/datasets/{ds['id']}").status_code == 204
    assert not enc.exists()
    assert m.get(f"/v1/datasets/{ds['id']}").status_code == 404


def test_missing_values_are_summarised(make_tenant, tmp_path):
    _, c = make_tenant("nan")
    path = tmp_path / "holes.csv"
    path.write_text("a,b,target\n1,,0\n2,3,1\nNA,4,0\n5,6,1\n")
    ds = upload(c["member"], path, "holes", label_column="target", missing="mean").json()
    assert ds["summary"]["missing_values"] == {"total": 2, "rows_with_missing": 2, "by_column": {"a": 1, "b": 1}}
    assert ds["preprocessing"]["missing"] == "mean"


def test_tenants_cannot_see_each_other(make_tenant, data_files):
    _, a = make_tenant("a")
    _, b = make_tenant("b")
    ds = upload(a["member"], data_files["digits_npz"], "digits").json()
    assert b["member"].get(f"/v1/datasets/{ds['id']}").status_code == 404
    assert b["member"].delete(f"/v1/datasets/{ds['id']}").status_code == 404
    assert ds["id"] not in [d["id"] for d in b["member"].get("/v1/datasets").json()]
    r = b["member"].post("/v1/jobs", json={"dataset_id": ds["id"], "architecture": "mlp"})
    assert r.status_code == 404
    assert a["member"].get(f"/v1/datasets/{ds['id']}").status_code == 200


def test_bad_json_inputs_get_422(make_tenant, data_files):
    _, c = make_tenant("j")
    m = c["member"]
    ds = upload(m, data_files["digits_npz"], "digits").json()
    for body, word in [
        ({"dataset_id": ds["id"], "architecture": "transformer"}, "unknown architecture"),
        ({"dataset_id": ds["id"], "architecture": "mlp", "hyperparameters": {"epochs": 0}}, "epochs"),
        ({"dataset_id": ds["id"], "architecture": "mlp", "hyperparameters": {"units": "many"}}, "units"),
        ({"dataset_id": ds["id"], "architecture": "mlp", "hyperparameters": {"wat": 1}}, "wat"),
        ({"dataset_id": ds["id"], "architecture": "linear"}, "regression"),
        ({"dataset_id": ds["id"], "architecture": "mlp", "hyperparameters": {"epochs": 10**6}}, "limit"),
        ({"architecture": "mlp"}, "dataset_id"),
    ]:
        r = m.post("/v1/jobs", json=body)
        assert r.status_code == 422 and word in r.json()["detail"], r.text
    r = m.post("/v1/jobs", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"]
    assert m.get("/v1/jobs/0123").status_code == 404
    assert m.get("/v1/nowhere").status_code == 404 and m.get("/v1/nowhere").json()["detail"]


def test_audit_log_records_who_did_what(admin, make_tenant):
    tid, c = make_tenant("audit")
    c["member"].post("/v1/tenants", json={"name": "nope"})
    entries = admin.get("/v1/audit", params={"limit": 50}).json()
    refused = [e for e in entries if e["action"] == "POST /v1/tenants" and e["status"] == 403]
    assert refused and refused[0]["tenant_id"] == tid and refused[0]["key_id"] == c["keys"]["member"]["id"]
    assert any(e["action"] == "POST /v1/tenants/{tenant_id}/keys" and e["status"] == 201 for e in entries)


def test_architectures_catalog(admin):
    arch = {a["name"]: a for a in admin.get("/v1/architectures").json()}
    assert set(arch) == {"linear", "logistic", "mlp", "cnn", "lstm", "autoencoder"}
    assert arch["mlp"]["hyperparameters_schema"]["properties"]["units"]
    assert arch["cnn"]["hyperparameters_schema"]["properties"]["filters"]["type"] == "array"
    assert all(a["description"] for a in arch.values())


def test_keys_never_reach_the_server_log(server, admin, make_tenant):
    tid, c = make_tenant("log")
    key = admin.post(f"/v1/tenants/{tid}/keys", json={"role": "member"}).json()["key"]
    with server.client(key) as k:
        assert k.get("/v1/datasets").status_code == 200
        assert k.post("/v1/jobs", json={"dataset_id": "x"}).status_code == 422
    log = server.log()
    assert key not in log and ADMIN_KEY not in log and c["keys"]["member"]["key"] not in log


def test_a_tampered_artifact_is_a_logged_json_500_and_the_server_keeps_serving(server, make_tenant, data_files):
    _, c = make_tenant("tamper")
    m = c["member"]
    ds = upload(m, data_files["digits_npz"], "digits").json()
    job = m.post("/v1/jobs", json={"dataset_id": ds["id"], "architecture": "logistic",
                                   "hyperparameters": {"epochs": 1}}).json()
    from service_support import wait_job

    version = wait_job(m, job["id"])["model_version_id"]
    enc = server.data_dir / "artifacts" / "datasets" / f"{ds['id']}.enc"
    raw = bytearray(enc.read_bytes())
    raw[-5] ^= 0xFF  # one flipped bit of ciphertext: AES-GCM authentication must fail
    enc.write_bytes(bytes(raw))
    r = m.post(f"/v1/model-versions/{version}/evaluate", json={"dataset_id": ds["id"]})
    assert r.status_code == 500 and r.headers["content-type"] == "application/json"
    detail = r.json()["detail"]  # says what is wrong and who must act, not an opaque 500 (issue 14)
    assert f"dataset {ds['id']!r} failed its integrity check" in detail and "restore it from a backup" in detail
    ref = detail.split("reference ")[1].split(" ")[0]
    assert "failed authentication" not in r.text  # the decryption's internals stay in the log
    assert f"damaged artifact {ref}: datasets/{ds['id']}" in server.log() and "failed authentication" in server.log()
    assert m.get("/v1/datasets").status_code == 200
