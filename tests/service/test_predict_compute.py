"""Model compute never runs on the event loop, is bounded per request by a FLOP estimate, and is shared
fairly between tenants: one tenant's heavy predictions neither freeze /healthz nor starve another tenant.

The heavy model is a member's custom 3 x Dense(4096, tanh) on 16 features (33.6M weights, ~67 MFLOP per
row; tanh, since the dense kernel skips the zeros a ReLU leaves); 4,096 rows (65,536 input values, the
old inline threshold) are ~276 GFLOP, a second or more on a small machine."""

from __future__ import annotations

import threading
import time

import httpx
import numpy as np
import pytest

from service_support import ADMIN_KEY, Server, upload, wait_job, write_csv

FLOP_LIMIT = 300_000_000_000  # 3e11: 4,096 rows of the heavy model fit, 8,192 do not
FEATURES = 16
HEAVY = {"class_name": "Sequential", "config": {"layers": [
    {"class_name": "InputLayer", "config": {"batch_shape": [None, FEATURES]}},
    {"class_name": "Dense", "config": {"units": 4096, "activation": "tanh"}},
    {"class_name": "Dense", "config": {"units": 4096, "activation": "tanh"}},
    {"class_name": "Dense", "config": {"units": 4096, "activation": "tanh"}},
    {"class_name": "Dense", "config": {"units": 2, "activation": "softmax"}}]}}


@pytest.fixture(scope="module")
def compute_server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("compute") / "data", workers=1,
                 extra_env={"AIAAS_MAX_PREDICT_FLOPS": str(FLOP_LIMIT)}).start()
    yield srv
    srv.stop()


def _tenant(srv: Server, name: str) -> httpx.Client:
    with srv.client(ADMIN_KEY) as admin:
        tid = admin.post("/v1/tenants", json={"name": name}).json()["id"]
        key = admin.post(f"/v1/tenants/{tid}/keys", json={"role": "member"}).json()["key"]
    client = srv.client(key)
    client.timeout = httpx.Timeout(120)
    return client


def _deploy(member: httpx.Client, tmp_path, architecture, names: dict[str, int]) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, FEATURES)).astype(np.float32)
    path = write_csv(tmp_path / "sixteen.csv", x, (x[:, 0] > 0).astype(int))
    r = upload(member, path, "sixteen", label_column="target", scaling="none")
    assert r.status_code == 201, r.text
    r = member.post("/v1/jobs", json={"dataset_id": r.json()["id"], "architecture": architecture,
                                      "hyperparameters": {"epochs": 1, "batch_size": 32}})
    assert r.status_code == 202, r.text
    job = wait_job(member, r.json()["id"])
    assert job["state"] == "succeeded", job
    for name, batch in names.items():
        r = member.post("/v1/endpoints", json={"name": name, "model_version_id": job["model_version_id"],
                                               "max_batch_size": batch})
        assert r.status_code == 201, r.text


@pytest.fixture(scope="module")
def heavy(compute_server, tmp_path_factory) -> httpx.Client:
    member = _tenant(compute_server, "heavy")
    _deploy(member, tmp_path_factory.mktemp("heavy"), HEAVY, {"big": 0, "big-batched": 32})
    return member


@pytest.fixture(scope="module")
def light(compute_server, tmp_path_factory) -> httpx.Client:
    member = _tenant(compute_server, "light")
    _deploy(member, tmp_path_factory.mktemp("light"), "logistic", {"small": 32})
    return member


def _rows(n: int) -> list[list[float]]:
    return np.random.default_rng(n).normal(size=(n, FEATURES)).round(3).tolist()


def _healthz_while(srv: Server, work) -> tuple[list[float], object, float]:
    """Time /healthz back to back while `work()` runs in a thread: (latencies in s, work's result, its seconds)."""
    result: dict = {}

    def run() -> None:
        start = time.monotonic()
        result["value"] = work()
        result["seconds"] = time.monotonic() - start

    thread = threading.Thread(target=run)
    latencies = []
    with httpx.Client(base_url=srv.url, timeout=60) as c:
        assert c.get("/healthz").status_code == 200
        thread.start()
        time.sleep(0.05)  # let the request reach the server
        while thread.is_alive():
            start = time.monotonic()
            assert c.get("/healthz").status_code == 200
            latencies.append(time.monotonic() - start)
            time.sleep(0.02)
    thread.join()
    return latencies, result["value"], result["seconds"]


@pytest.mark.parametrize("endpoint", ["big", "big-batched"])
def test_a_heavy_prediction_never_freezes_healthz(compute_server, heavy, endpoint):
    rows = _rows(4096)
    latencies, r, seconds = _healthz_while(compute_server, lambda: heavy.post(
        f"/v1/endpoints/{endpoint}/predict", json={"instances": rows}))
    assert r.status_code == 200, r.text[:300]
    assert len(r.json()["predictions"]) == 4096
    print(f"\n{endpoint}: 4096-row predict took {seconds:.2f} s; /healthz meanwhile: {len(latencies)} calls, "
          f"median {1000 * float(np.median(latencies)):.1f} ms, max {1000 * max(latencies):.1f} ms")
    assert latencies, "the heavy prediction finished before /healthz could be timed"
    assert max(latencies) < 0.5, f"/healthz took {max(latencies):.2f} s while a prediction ran"


def test_the_same_holds_for_open_inference_protocol_requests(compute_server, heavy):
    tensor = {"name": "input", "shape": [4096, FEATURES], "datatype": "FP32", "data": _rows(4096)}
    latencies, r, seconds = _healthz_while(compute_server, lambda: heavy.post(
        "/v2/models/big/infer", json={"inputs": [tensor]}))
    assert r.status_code == 200, r.text[:300]
    print(f"\nv2 infer: {seconds:.2f} s; /healthz max {1000 * max(latencies, default=0):.1f} ms")
    assert max(latencies, default=0) < 0.5


def test_compute_past_the_flop_limit_is_refused_naming_the_limit(heavy):
    rows = _rows(8192)
    r = heavy.post("/v1/endpoints/big/predict", json={"instances": rows})
    assert r.status_code == 413, r.text[:300]
    detail = r.json()["detail"]
    assert "FLOP" in detail and f"{FLOP_LIMIT:,}" in detail and "AIAAS_MAX_PREDICT_FLOPS" in detail, detail
    most = int(detail.split("at most ")[1].split()[0].replace(",", ""))
    assert 4096 <= most < 8192, detail  # says how many instances would fit
    tensor = {"name": "input", "shape": [8192, FEATURES], "datatype": "FP32", "data": rows}
    r = heavy.post("/v2/models/big-batched/infer", json={"inputs": [tensor]})
    assert r.status_code == 413 and "FLOP" in r.json()["error"], r.text[:300]
    # a request that fits still answers
    assert heavy.post("/v1/endpoints/big/predict", json={"instances": rows[:8]}).status_code == 200


def test_one_tenants_heavy_load_does_not_starve_another(compute_server, heavy, light):
    rows = _rows(4096)
    small = _rows(1)
    heavy_times: list[float] = []

    def flood() -> None:
        start = time.monotonic()
        assert heavy.post("/v1/endpoints/big/predict", json={"instances": rows}).status_code == 200
        heavy_times.append(time.monotonic() - start)

    threads = [threading.Thread(target=flood) for _ in range(4)]  # four heavy requests queued at once
    for t in threads:
        t.start()
    time.sleep(0.3)
    light_times = []
    for _ in range(5):
        start = time.monotonic()
        r = light.post("/v1/endpoints/small/predict", json={"instances": small})
        light_times.append(time.monotonic() - start)
        assert r.status_code == 200, r.text
    for t in threads:
        t.join()
    print(f"\nheavy tenant: 4 x 4096 rows, each {min(heavy_times):.2f}..{max(heavy_times):.2f} s; light tenant "
          f"meanwhile: max {1000 * max(light_times):.1f} ms, median {1000 * float(np.median(light_times)):.1f} ms")
    # the light tenant never waited behind the heavy tenant's queue (not even one heavy request)
    assert max(light_times) < min(heavy_times), (light_times, heavy_times)


@pytest.fixture(scope="module")
def tight_server(tmp_path_factory):
    """A FLOP limit of 2,000: a logistic regression on 16 features (~66 FLOPs per instance) fits ~30
    instances per request."""
    srv = Server(tmp_path_factory.mktemp("tight") / "data", workers=1,
                 extra_env={"AIAAS_MAX_PREDICT_FLOPS": "2000"}).start()
    yield srv
    srv.stop()


def test_explanations_are_bounded_by_the_same_flop_limit(tight_server, tmp_path):
    member = _tenant(tight_server, "tight")
    _deploy(member, tmp_path, "logistic", {"lr": 32})
    assert member.post("/v1/endpoints/lr/predict", json={"instances": _rows(4)}).status_code == 200
    r = member.post("/v1/endpoints/lr/predict", json={"instances": _rows(200)})
    assert r.status_code == 413 and "AIAAS_MAX_PREDICT_FLOPS" in r.json()["detail"], r.text[:300]
    r = member.post("/v1/endpoints/lr/explain", json={"instance": _rows(1)[0], "steps": 64})
    assert r.status_code == 413, r.text[:300]
    detail = r.json()["detail"]
    assert "64 steps" in detail and "FLOPs" in detail and "use steps <=" in detail, detail
    fits = int(detail.rsplit("use steps <= ", 1)[1])
    r = member.post("/v1/endpoints/lr/explain", json={"instance": _rows(1)[0], "steps": fits})
    assert r.status_code == 200, r.text[:300]
    assert len(r.json()["attributions"]) == FEATURES
