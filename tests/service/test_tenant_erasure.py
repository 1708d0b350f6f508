"""DELETE /v1/tenants/{id}: an admin erases a tenant, its rows and its encrypted files; its keys stop
working at once; work still running is stopped first (409 + Retry-After, then the same DELETE finishes);
other tenants are untouched."""

from __future__ import annotations

import sqlite3
import time

from helpers import deploy, train
from service_support import upload

TABLES = ("api_keys", "datasets", "jobs", "model_versions", "endpoints", "batch_predictions")


def _rows(server, tenant_id: str) -> dict[str, int]:
    with sqlite3.connect(server.data_dir / "aiaas.db", timeout=30) as conn:
        counts = {t: conn.execute(f"SELECT count(*) FROM {t} WHERE tenant_id = ?", (tenant_id,)).fetchone()[0]
                  for t in TABLES}
        counts["tenants"] = conn.execute("SELECT count(*) FROM tenants WHERE id = ?", (tenant_id,)).fetchone()[0]
        counts["job_events"] = conn.execute("SELECT count(*) FROM job_events WHERE job_id IN "
                                            "(SELECT id FROM jobs WHERE tenant_id = ?)", (tenant_id,)).fetchone()[0]
    return counts


def _artifacts(server, ids: dict[str, list[str]]) -> list[str]:
    return [f"{kind}/{i}" for kind, names in ids.items() for i in names
            if (server.data_dir / "artifacts" / kind / f"{i}.enc").exists()]


def test_an_admin_erases_a_tenant_and_everything_it_owns(server, admin, make_tenant, data_files):
    tid, c = make_tenant("erase")
    keep_tid, keep = make_tenant("keep")
    ds, job = train(c["member"], data_files["breast_cancer_csv"], "mlp", {"epochs": 2, "units": [4], "seed": 3},
                    label_column="target")
    version = job["model_version_id"]
    deploy(c["member"], "doomed", version)
    x = [[float(v) for v in line.split(",")[:-1]] for line in
         data_files["breast_cancer_test_csv"].read_text().splitlines()[1:3]]
    assert c["predict"].post("/v1/endpoints/doomed/predict", json={"instances": x}).status_code == 200
    _, keep_job = train(keep["member"], data_files["breast_cancer_csv"], "logistic", {"epochs": 1, "seed": 1},
                        label_column="target")
    deploy(keep["member"], "kept", keep_job["model_version_id"])
    kept_answer = keep["predict"].post("/v1/endpoints/kept/predict", json={"instances": x}).json()
    r = c["member"].post("/v1/endpoints/doomed/batch-predictions", json={"dataset_id": ds["id"]})
    assert r.status_code in (200, 201, 202), r.text
    batch = r.json()["id"]
    deadline = time.monotonic() + 60
    while c["member"].get(f"/v1/batch-predictions/{batch}").json()["state"] != "succeeded":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    files = {"datasets": [ds["id"]], "models": [version], "predictions": [batch]}
    assert _artifacts(server, files) == ["datasets/" + ds["id"], "models/" + version, "predictions/" + batch]
    assert all(n > 0 for n in _rows(server, tid).values())

    assert c["member"].delete(f"/v1/tenants/{tid}").status_code == 403  # admins only
    assert admin.delete("/v1/tenants/" + "0" * 32).status_code == 404
    system = next(t for t in admin.get("/v1/tenants").json() if t["name"] == "system")
    r = admin.delete(f"/v1/tenants/{system['id']}")
    assert r.status_code == 422 and "system tenant" in r.json()["detail"]

    r = admin.delete(f"/v1/tenants/{tid}")
    assert r.status_code == 204, r.text
    assert _rows(server, tid) == {t: 0 for t in (*TABLES, "tenants", "job_events")}
    assert _artifacts(server, files) == []
    for role in ("member", "predict"):  # its keys stopped working, the fast prediction path included
        assert c[role].post("/v1/endpoints/doomed/predict", json={"instances": x}).status_code == 401
    assert c["member"].get("/v1/datasets").status_code == 401
    assert tid not in {t["id"] for t in admin.get("/v1/tenants").json()}
    assert admin.delete(f"/v1/tenants/{tid}").status_code == 404
    # the other tenant is untouched
    assert keep["predict"].post("/v1/endpoints/kept/predict", json={"instances": x}).json() == kept_answer
    assert _rows(server, keep_tid)["model_versions"] == 1
    audit = admin.get("/v1/audit", params={"limit": 50}).json()
    assert any(a["action"] == "DELETE /v1/tenants/{tenant_id}" and a["status"] == 204 for a in audit)


def test_running_work_is_stopped_before_the_erasure(server, admin, make_tenant, data_files):
    tid, c = make_tenant("erase-busy", max_epochs=10_000)
    r = upload(c["member"], data_files["digits_npz"], "digits")
    assert r.status_code == 201, r.text
    r = c["member"].post("/v1/jobs", json={"dataset_id": r.json()["id"], "architecture": "mlp",
                                           "hyperparameters": {"epochs": 5000, "units": [32], "seed": 1}})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    deadline = time.monotonic() + 60
    while c["member"].get(f"/v1/jobs/{job_id}").json()["epoch"] < 1:  # running, with a checkpoint
        assert time.monotonic() < deadline
        time.sleep(0.2)
    r = admin.delete(f"/v1/tenants/{tid}")
    assert r.status_code == 409 and r.headers["Retry-After"] == "5", r.text
    assert "1 running job(s)" in r.json()["detail"] and "Repeat this DELETE" in r.json()["detail"]
    assert c["member"].get("/v1/datasets").status_code == 401  # its keys are revoked already
    deadline = time.monotonic() + 60
    while (r := admin.delete(f"/v1/tenants/{tid}")).status_code == 409:
        assert time.monotonic() < deadline, "the job did not stop"
        time.sleep(0.5)
    assert r.status_code == 204, r.text
    assert _rows(server, tid)["jobs"] == 0
    assert _artifacts(server, {"checkpoints": [job_id]}) == []
