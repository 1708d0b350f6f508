"""The read-only routes the console reads (any client may): whoami, dataset preview, a tenant's keys,
an endpoint's signature and recent traffic. Tenant-scoped like the rest: another tenant's id is a 404."""

from __future__ import annotations

import numpy as np

from service_support import upload, wait_job


def test_whoami_names_role_and_tenant(make_tenant, admin):
    tid, c = make_tenant("who")
    for role in ("member", "predict"):
        me = c[role].get("/v1/whoami").json()
        assert me == {"key_id": c["keys"][role]["id"], "role": role, "tenant_id": tid, "tenant_name": me["tenant_name"]}
        assert me["tenant_name"].startswith("who-")
    assert admin.get("/v1/whoami").json()["role"] == "admin"


def test_dataset_preview_and_tenant_keys(make_tenant, admin, data_files):
    tid, c = make_tenant("preview")
    _, other = make_tenant("preview-other")
    ds = upload(c["member"], data_files["breast_cancer_csv"], "bc", label_column="target").json()
    p = c["member"].get(f"/v1/datasets/{ds['id']}/preview", params={"rows": 3}).json()
    assert len(p["rows"]) == 3 and len(p["rows"][0]) == 30 and p["columns"][:2] == ["f0", "f1"]
    assert p["labels"] == [0, 0, 0]
    f0 = p["column_stats"][0]
    assert f0["name"] == "f0" and f0["type"] == "number" and f0["missing"] == 0 and f0["min"] < f0["mean"] < f0["max"]
    assert c["predict"].get(f"/v1/datasets/{ds['id']}/preview").status_code == 403
    assert other["member"].get(f"/v1/datasets/{ds['id']}/preview").status_code == 404
    assert c["member"].get(f"/v1/datasets/{ds['id']}/preview", params={"rows": 1000}).status_code == 422

    keys = admin.get(f"/v1/tenants/{tid}/keys").json()
    assert {k["id"] for k in keys} == {c["keys"]["member"]["id"], c["keys"]["predict"]["id"]}
    assert all(set(k) == {"id", "prefix", "role", "created_at", "expires_at", "revoked_at", "rate_limit_per_minute"} for k in keys)
    assert c["member"].get(f"/v1/tenants/{tid}/keys").status_code == 403
    assert admin.get("/v1/tenants/nope/keys").status_code == 404


def test_endpoint_signature_and_traffic(make_tenant, data_files):
    _, c = make_tenant("sig")
    _, other = make_tenant("sig-other")
    ds = upload(c["member"], data_files["breast_cancer_csv"], "bc", label_column="target").json()
    job = c["member"].post("/v1/jobs", json={"dataset_id": ds["id"], "architecture": "logistic",
                                             "hyperparameters": {"epochs": 2}}).json()
    job = wait_job(c["member"], job["id"])
    assert c["member"].post("/v1/endpoints", json={"name": "bc", "model_version_id": job["model_version_id"]}).status_code == 201
    sig = c["predict"].get("/v1/endpoints/bc/signature").json()
    assert sig["input_shape"] == [30] and sig["task"] == "classification" and sig["classes"] == ["0", "1"]
    assert sig["feature_names"] == [f"f{i}" for i in range(30)]
    assert c["predict"].get("/v1/endpoints/bc/stats").json()["requests_total"] == 0
    x = np.zeros((1, 30)).tolist()
    for _ in range(3):
        assert c["predict"].post("/v1/endpoints/bc/predict", json={"instances": x}).status_code == 200
    assert c["predict"].post("/v1/endpoints/bc/predict", json={"instances": [[1, 2]]}).status_code == 422
    stats = c["predict"].get("/v1/endpoints/bc/stats").json()
    assert stats["requests_total"] == 4 and stats["errors_total"] == 1 and stats["requests_in_window"] == 4
    assert stats["latency_ms"]["p50"] > 0 and stats["requests_per_second"] > 0
    # Another tenant's requests to a same-named endpoint are its own (and here a 404, counted nowhere visible).
    assert other["predict"].post("/v1/endpoints/bc/predict", json={"instances": x}).status_code == 404
    assert other["predict"].get("/v1/endpoints/bc/stats").status_code == 404
    assert other["predict"].get("/v1/endpoints/bc/signature").status_code == 404
    assert c["predict"].get("/v1/endpoints/bc/stats").json()["requests_total"] == 4
