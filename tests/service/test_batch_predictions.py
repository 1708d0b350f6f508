"""Asynchronous batch prediction of an uploaded dataset: queued, run in the background, results equal
to /v1 predict of the same rows; shape checks, roles and tenant isolation."""

from __future__ import annotations

import time

import numpy as np
from sklearn.datasets import load_digits

from service_support import upload
from helpers import deploy, train


def _wait(client, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/batch-predictions/{job_id}").json()
        if job["state"] in ("succeeded", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"batch prediction {job_id} did not finish: {job}")


def test_batch_prediction_of_a_dataset_equals_online_predictions(make_tenant, data_files, tmp_path):
    _, c = make_tenant("bulk")
    m = c["member"]
    _, job = train(m, data_files["digits_npz"], "mlp", {"epochs": 3, "units": [16], "learning_rate": 0.01})
    deploy(m, "bulk", job["model_version_id"])
    digits = load_digits()
    x = digits.data[1000:1150].astype(np.float32)  # 150 rows: several chunks
    np.savez(tmp_path / "to_score.npz", x=x)
    ds = upload(m, tmp_path / "to_score.npz", "to-score").json()

    assert c["predict"].post("/v1/endpoints/bulk/batch-predictions", json={"dataset_id": ds["id"]}).status_code == 403
    r = m.post("/v1/endpoints/bulk/batch-predictions", json={"dataset_id": ds["id"]})
    assert r.status_code == 202, r.text
    assert r.json()["state"] == "queued" and r.json()["rows"] == 150
    assert r.json()["model_version_id"] == job["model_version_id"]
    done = _wait(c["predict"], r.json()["id"])
    assert done["state"] == "succeeded" and done["done_rows"] == 150, done
    got = c["predict"].get(f"/v1/batch-predictions/{done['id']}/results").json()["predictions"]
    online = m.post("/v1/endpoints/bulk/predict", json={"instances": x.tolist()}).json()["predictions"]
    assert [p["label"] for p in got] == [p["label"] for p in online]
    np.testing.assert_allclose([[p["probabilities"][str(k)] for k in range(10)] for p in got],
                               [[p["probabilities"][str(k)] for k in range(10)] for p in online], atol=1e-6)

    _, other = make_tenant("bulk-other")
    assert other["member"].get(f"/v1/batch-predictions/{done['id']}").status_code == 404
    assert other["member"].get(f"/v1/batch-predictions/{done['id']}/results").status_code == 404
    r = other["member"].post("/v1/endpoints/bulk/batch-predictions", json={"dataset_id": ds["id"]})
    assert r.status_code == 404


def test_batch_prediction_refuses_a_dataset_of_another_shape(make_tenant, data_files):
    _, c = make_tenant("bulk-shape")
    m = c["member"]
    _, job = train(m, data_files["digits_npz"], "mlp", {"epochs": 1, "units": [8]})
    deploy(m, "shape", job["model_version_id"])
    seq = upload(m, data_files["digits_seq_npz"], "seq").json()  # samples [8, 8], the model wants [64]
    r = m.post("/v1/endpoints/shape/batch-predictions", json={"dataset_id": seq["id"]})
    assert r.status_code == 422 and "[8, 8]" in r.json()["detail"] and "[64]" in r.json()["detail"]
    r = m.post("/v1/endpoints/shape/batch-predictions", json={"dataset_id": "0" * 32})
    assert r.status_code == 404


def test_unfinished_batch_prediction_resumes_after_restart(tmp_path, data_files):
    """A job the process left `running` (crash) runs again in the next process and succeeds."""
    import sqlite3

    from service_support import ADMIN_KEY, Server

    srv = Server(tmp_path / "data", workers=1).start()
    try:
        with srv.client(ADMIN_KEY) as admin:
            tid = admin.post("/v1/tenants", json={"name": "bulk-restart"}).json()["id"]
            key = admin.post(f"/v1/tenants/{tid}/keys", json={"role": "member"}).json()["key"]
        with srv.client(key) as m:
            _, job = train(m, data_files["digits_npz"], "mlp", {"epochs": 1, "units": [8]})
            deploy(m, "restart", job["model_version_id"])
            ds = upload(m, data_files["digits_npz"], "score").json()
            first = _wait(m, m.post("/v1/endpoints/restart/batch-predictions", json={"dataset_id": ds["id"]}).json()["id"])
            expected = m.get(f"/v1/batch-predictions/{first['id']}/results").json()
        srv.stop()
        # the state a crash mid-job leaves behind: running, part done, no results file
        with sqlite3.connect(srv.data_dir / "aiaas.db") as db:
            db.execute("UPDATE batch_predictions SET state = 'running', done_rows = 64, finished_at = NULL WHERE id = ?",
                       (first["id"],))
        (srv.data_dir / "artifacts" / "predictions" / f"{first['id']}.enc").unlink()
        srv = Server(srv.data_dir, workers=1).start()
        with srv.client(key) as m:
            done = _wait(m, first["id"])
            assert done["state"] == "succeeded" and done["done_rows"] == 400, done
            assert m.get(f"/v1/batch-predictions/{first['id']}/results").json() == expected
    finally:
        srv.stop()
