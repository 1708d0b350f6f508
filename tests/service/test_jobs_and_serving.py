"""Jobs (SSE, logs, cancel, quotas), tenant isolation of every object, prediction validation, and an
endpoint switch under concurrent predictions with zero failures."""

from __future__ import annotations

import json
import threading
import time

import httpx
import numpy as np
from sklearn.datasets import load_digits

from service_support import upload, wait_job
from helpers import deploy, train


def _sse(client: httpx.Client, job_id: str) -> tuple[str, list[dict]]:
    events, cur = [], {}
    with client.stream("GET", f"/v1/jobs/{job_id}/events") as r:
        ctype = r.headers["content-type"]
        for line in r.iter_lines():
            if not line:
                if cur.get("event") == "end":
                    break
                if cur:
                    events.append({"event": cur["event"], "id": int(cur["id"]), "data": json.loads(cur["data"])})
                cur = {}
            elif not line.startswith(":"):
                k, _, v = line.partition(": ")
                cur[k] = v
    return ctype, events


def test_sse_stream_gives_epoch_events(make_tenant, data_files):
    _, c = make_tenant("sse")
    m = c["member"]
    ds = upload(m, data_files["digits_npz"], "digits").json()
    job = m.post("/v1/jobs", json={"dataset_id": ds["id"], "architecture": "mlp",
                                   "hyperparameters": {"epochs": 6, "units": [16]}}).json()
    ctype, events = _sse(m, job["id"])
    assert ctype.startswith("text/event-stream")
    epochs = [e["data"] for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4, 5, 6]
    assert all(e["epochs"] == 6 and np.isfinite(e["metrics"]["loss"]) for e in epochs)
    states = [e["data"]["state"] for e in events if e["event"] == "state"]
    assert states[0] == "queued" and "running" in states and states[-1] == "succeeded"
    ids = [e["id"] for e in events]
    assert ids == sorted(ids)
    # resuming a stream with Last-Event-ID sends only what came after
    _, rest = _sse(httpx.Client(base_url=str(m.base_url), headers={**m.headers, "Last-Event-ID": str(ids[3])}), job["id"])
    assert [e["id"] for e in rest] == ids[4:]
    logs = m.get(f"/v1/jobs/{job['id']}/logs").json()
    assert logs["state"] == "succeeded" and sum(" epoch " in line for line in logs["lines"]) == 6


def _checkpoint(server, job_id: str):
    return server.data_dir / "artifacts" / "checkpoints" / f"{job_id}.enc"


def test_cancel_running_and_queued_jobs(server, make_tenant, data_files):
    _, c = make_tenant("cancel", max_concurrent_jobs=5)
    m = c["member"]
    ds = upload(m, data_files["digits_npz"], "digits").json()
    hp = {"epochs": 200, "units": [64, 64], "batch_size": 8}
    first = m.post("/v1/jobs", json={"dataset_id": ds["id"], "architecture": "mlp", "hyperparameters": hp}).json()
    second = m.post("/v1/jobs", json={"dataset_id": ds["id"], "architecture": "mlp", "hyperparameters": hp}).json()
    deadline = time.monotonic() + 60
    while m.get(f"/v1/jobs/{first['id']}").json()["epoch"] < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    # the second job waits behind the first (one worker): canceling it is immediate
    r = m.post(f"/v1/jobs/{second['id']}/cancel")
    assert r.status_code == 200 and r.json()["state"] == "canceled"
    assert _checkpoint(server, first["id"]).exists()  # the running job's encrypted checkpoint
    assert m.post(f"/v1/jobs/{first['id']}/cancel").status_code == 200
    job = wait_job(m, first["id"], timeout=60)
    assert job["state"] == "canceled" and 1 <= job["epoch"] < 200 and job["model_version_id"] is None
    assert not _checkpoint(server, first["id"]).exists()  # a canceled job leaves no checkpoint behind
    r = m.post(f"/v1/jobs/{first['id']}/cancel")
    assert r.status_code == 409 and "already canceled" in r.json()["detail"]
    assert m.get(f"/v1/jobs/{second['id']}").json()["epoch"] == 0


def test_concurrent_job_quota(make_tenant, data_files):
    _, c = make_tenant("quota", max_concurrent_jobs=1, max_epochs=50)
    m = c["member"]
    ds = upload(m, data_files["digits_npz"], "digits").json()
    body = {"dataset_id": ds["id"], "architecture": "mlp", "hyperparameters": {"epochs": 50, "units": [64, 64], "batch_size": 8}}
    first = m.post("/v1/jobs", json=body)
    assert first.status_code == 202
    r = m.post("/v1/jobs", json=body)
    assert r.status_code == 429 and "limit" in r.json()["detail"] and r.headers["Retry-After"]
    r = m.post("/v1/jobs", json={**body, "hyperparameters": {"epochs": 51}})
    assert r.status_code == 422 and "limit of 50" in r.json()["detail"]
    m.post(f"/v1/jobs/{first.json()['id']}/cancel")
    wait_job(m, first.json()["id"], timeout=60)
    assert m.post("/v1/jobs", json={**body, "hyperparameters": {"epochs": 1}}).status_code == 202


def test_concurrent_job_quota_holds_under_parallel_submissions(make_tenant, data_files):
    """Ten submissions at once against max_concurrent_jobs=1: exactly one is queued (count then insert
    raced: two were)."""
    _, c = make_tenant("quota-race", max_concurrent_jobs=1)
    m = c["member"]
    ds = upload(m, data_files["digits_npz"], "digits").json()
    body = {"dataset_id": ds["id"], "architecture": "mlp", "hyperparameters": {"epochs": 1, "units": [8]}}
    start = threading.Barrier(10)
    codes: list[int] = []

    def submit() -> None:
        with httpx.Client(base_url=str(m.base_url), headers=dict(m.headers), timeout=60) as own:
            start.wait()
            codes.append(own.post("/v1/jobs", json=body).status_code)

    threads = [threading.Thread(target=submit) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [202] + [429] * 9, codes
    assert len(m.get("/v1/jobs").json()) == 1


def test_tenants_cannot_touch_each_others_jobs_models_endpoints(make_tenant, data_files):
    _, a = make_tenant("iso-a")
    _, b = make_tenant("iso-b")
    ds, job = train(a["member"], data_files["digits_npz"], "logistic", {"epochs": 2})
    vid = job["model_version_id"]
    deploy(a["member"], "shared-name", vid)
    bm = b["member"]
    for method, path, body in [
        ("GET", f"/v1/jobs/{job['id']}", None), ("POST", f"/v1/jobs/{job['id']}/cancel", None),
        ("GET", f"/v1/jobs/{job['id']}/logs", None), ("GET", f"/v1/jobs/{job['id']}/events", None),
        ("GET", f"/v1/model-versions/{vid}", None), ("GET", f"/v1/model-versions/{vid}/download", None),
        ("POST", f"/v1/model-versions/{vid}/evaluate", {"dataset_id": ds["id"]}),
        ("POST", "/v1/endpoints", {"name": "mine", "model_version_id": vid}),
        ("GET", "/v1/endpoints/shared-name", None),
        ("PATCH", "/v1/endpoints/shared-name", {"model_version_id": vid}),
        ("POST", "/v1/endpoints/shared-name/predict", {"instances": [[0.0] * 64]}),
        ("DELETE", "/v1/endpoints/shared-name", None),
    ]:
        r = bm.request(method, path, json=body)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert "not found" in r.json()["detail"]
    assert b["predict"].post("/v1/endpoints/shared-name/predict", json={"instances": [[0.0] * 64]}).status_code == 404
    assert vid not in [v["id"] for v in bm.get("/v1/model-versions").json()]
    assert bm.get("/v1/jobs").json() == [] and bm.get("/v1/endpoints").json() == []
    # the same endpoint name in another tenant is another endpoint
    _, own = train(bm, data_files["digits_npz"], "logistic", {"epochs": 1})
    deploy(bm, "shared-name", own["model_version_id"])
    x = load_digits().data[:2].tolist()
    assert a["predict"].post("/v1/endpoints/shared-name/predict", json={"instances": x}).json()["model_version_id"] == vid
    assert b["predict"].post("/v1/endpoints/shared-name/predict", json={"instances": x}).json()["model_version_id"] == own["model_version_id"]


def test_prediction_input_validation(server, make_tenant, data_files):
    _, c = make_tenant("val")
    _, job = train(c["member"], data_files["digits_npz"], "logistic", {"epochs": 1})
    deploy(c["member"], "v", job["model_version_id"])
    p = c["predict"]
    for instances, status, word in [
        ([[0.0] * 63], 422, "[n, 64]"),
        ([[0.0] * 64, [0.0] * 3], 422, "[n, 64]"),
        ([["a"] * 64], 422, "float32"),
        ([{"x": 1}], 422, "numbers"),
        ([], 422, "instances"),
        ([[0.0] * 64] * 3200, 413, "limit"),  # the test server allows 200,000 values per request
    ]:
        r = p.post("/v1/endpoints/v/predict", json={"instances": instances})
        assert r.status_code == status and word in r.json()["detail"], (status, r.status_code, r.text)
    r = p.post("/v1/endpoints/v/predict", json={"instances": [[1.0] * 64], "extra": 1})
    assert r.status_code == 422
    r = p.post("/v1/endpoints/v/predict", content=b"x" * 10_000_000, headers={"content-type": "application/json"})
    assert r.status_code == 413
    # null means a missing value; this dataset's policy ("drop") cannot fill it at prediction time
    r = p.post("/v1/endpoints/v/predict", json={"instances": [[None] + [0.0] * 63]})
    assert r.status_code == 422 and "missing" in r.json()["detail"]
    assert p.post("/v1/endpoints/nope/predict", json={"instances": [[0.0] * 64]}).status_code == 404
    assert p.post("/v1/endpoints", json={"name": "x", "model_version_id": job["model_version_id"]}).status_code == 403
    assert p.post("/v1/endpoints/v/predict", json={"instances": [[0.0] * 64]}).status_code == 200


def test_endpoint_switch_under_concurrent_predictions_has_zero_failures(server, make_tenant, data_files):
    _, c = make_tenant("swap")
    m = c["member"]
    _, j1 = train(m, data_files["digits_npz"], "logistic", {"epochs": 2})
    _, j2 = train(m, data_files["digits_npz"], "mlp", {"epochs": 2, "units": [16]})
    v1, v2 = j1["model_version_id"], j2["model_version_id"]
    deploy(m, "live", v1)
    x = load_digits().data[:4].tolist()
    stop = threading.Event()
    results: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def hammer() -> None:
        with httpx.Client(base_url=server.url, headers=c["predict"].headers, timeout=30) as h:
            while not stop.is_set():
                r = h.post("/v1/endpoints/live/predict", json={"instances": x})
                with lock:
                    results.append((r.status_code, r.json().get("model_version_id")))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(10):  # promote, roll back, promote, ...
            target = v2 if i % 2 == 0 else v1
            r = m.patch("/v1/endpoints/live", json={"model_version_id": target})
            assert r.status_code == 200 and r.json()["model_version_id"] == target
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join()
    codes = [s for s, _ in results]
    assert len(codes) > 20 and set(codes) == {200}
    assert {v for _, v in results} == {v1, v2}
    assert m.get("/v1/endpoints/live").json()["model_version_id"] == v1
    assert m.delete("/v1/endpoints/live").status_code == 204
    assert c["predict"].post("/v1/endpoints/live/predict", json={"instances": x}).status_code == 404


def test_a_diverging_job_fails_with_a_reason(server, make_tenant, data_files):
    _, c = make_tenant("diverge")
    m = c["member"]
    ds = upload(m, data_files["diabetes_npz"], "diabetes", scaling="none").json()
    r = m.post("/v1/jobs", json={"dataset_id": ds["id"], "architecture": "mlp",
                                 "hyperparameters": {"epochs": 5, "learning_rate": 10.0, "optimizer": "sgd", "units": [64]}})
    job = wait_job(m, r.json()["id"], timeout=60)
    assert job["state"] == "failed" and "NaN or infinite" in job["error"] and job["model_version_id"] is None
    assert not _checkpoint(server, job["id"]).exists()  # nor does a failed one


def test_api_responsive_during_training_and_cancel_stops_inside_a_long_epoch(make_tenant, tmp_path):
    digits = load_digits()
    path = tmp_path / "digits_x20.npz"  # 7,200 rows: one epoch at batch size 1 takes seconds
    np.savez(path, x=np.tile(digits.data[:360], (20, 1)).astype(np.float32), y=np.tile(digits.target[:360], 20))
    _, c = make_tenant("longepoch")
    m = c["member"]
    ds = upload(m, path, "digits-x20").json()
    job = m.post("/v1/jobs", json={"dataset_id": ds["id"], "architecture": "mlp",
                                   "hyperparameters": {"epochs": 3, "units": [512, 512], "batch_size": 1}}).json()
    deadline = time.monotonic() + 60
    while m.get(f"/v1/jobs/{job['id']}").json()["state"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # the API answers while the worker process is busy inside an epoch (training is not in the API process)
    answers = [m.get("/v1/datasets").status_code for _ in range(20)] + [m.get("/readyz").status_code]
    now = m.get(f"/v1/jobs/{job['id']}").json()
    assert set(answers) == {200} and now["state"] == "running" and now["epoch"] == 0
    time.sleep(0.5)
    assert m.post(f"/v1/jobs/{job['id']}/cancel").status_code == 200
    done = wait_job(m, job["id"], timeout=60)
    assert done["state"] == "canceled" and done["epoch"] == 0  # stopped before the first epoch ended


def test_same_seed_same_model_and_unlabelled_images(make_tenant, data_files, admin):
    _, c = make_tenant("seed")
    m = c["member"]
    ds = upload(m, data_files["digits_npz"], "digits").json()
    body = {"dataset_id": ds["id"], "architecture": "mlp",
            "hyperparameters": {"epochs": 3, "units": [16], "seed": 7, "validation_split": 0.25}}
    runs = [wait_job(m, m.post("/v1/jobs", json=body).json()["id"]) for _ in range(2)]
    assert runs[0]["metrics"] == runs[1]["metrics"] and runs[0]["model_version_id"] != runs[1]["model_version_id"]
    other = wait_job(m, m.post("/v1/jobs", json={**body, "hyperparameters": {**body["hyperparameters"], "seed": 8}}).json()["id"])
    assert other["metrics"] != runs[0]["metrics"]
    # a download is audited
    assert m.get(f"/v1/model-versions/{runs[0]['model_version_id']}/download").status_code == 200
    assert any(e["action"].endswith("/download") and e["target"].endswith(f"{runs[0]['model_version_id']}/download")
               for e in admin.get("/v1/audit").json())
    # images without labels: only the autoencoder can use them
    images = upload(m, data_files["mnist_images"], "unlabelled").json()
    assert images["summary"]["task"] == "none" and images["x_shape"] == [28, 28]
    r = m.post("/v1/jobs", json={"dataset_id": images["id"], "architecture": "cnn"})
    assert r.status_code == 422 and "no labels" in r.json()["detail"]
    job = wait_job(m, m.post("/v1/jobs", json={"dataset_id": images["id"], "architecture": "autoencoder",
                                               "hyperparameters": {"epochs": 1, "encoding_dim": 4}}).json()["id"])
    assert job["state"] == "succeeded" and np.isfinite(job["metrics"]["loss"])


def test_logs_hold_every_event_of_a_long_job(make_tenant, data_files):
    """One event per epoch: a 600-epoch job has over 500, and /logs returned only the first 500."""
    _, c = make_tenant("long-logs", max_epochs=600)
    m = c["member"]
    ds = upload(m, data_files["digits_npz"], "digits").json()
    r = m.post("/v1/jobs", json={"dataset_id": ds["id"], "architecture": "logistic",
                                 "hyperparameters": {"epochs": 600, "batch_size": 400}})
    assert r.status_code == 202, r.text
    job = wait_job(m, r.json()["id"], timeout=240)
    assert job["state"] == "succeeded", job
    lines = m.get(f"/v1/jobs/{job['id']}/logs").json()["lines"]
    epochs = [json.loads(line.split(" ", 2)[2])["epoch"] for line in lines if line.split(" ")[1] == "epoch"]
    assert epochs == list(range(1, 601)) and len(lines) > 600
    assert '"succeeded"' in lines[-1]
