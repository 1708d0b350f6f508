"""Dynamic batching: the Batcher alone (deterministic), then per-endpoint knobs against a real server:
concurrent requests share forward calls (counted by /metrics), each caller gets its own rows, and a full
queue answers 429 with Retry-After."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_digits

from helpers import deploy, train
from aiaas_core.service.batching import Batcher, BatcherStopped, QueueFull


# ---- the Batcher on a plain numpy function -----------------------------------------------------------

def test_batcher_joins_concurrent_requests_and_returns_each_its_rows():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(5, 3)).astype(np.float32)
    sizes: list[int] = []
    batcher = Batcher(lambda x: x @ w, max_batch_size=64, max_wait_ms=200, max_queue=1000,
                      on_batch=lambda rows, reqs: sizes.append(reqs))
    xs = [rng.normal(size=(1 + i % 3, 5)).astype(np.float32) for i in range(120)]
    start = threading.Barrier(40)

    def call(x):
        with batcher.arriving():
            start.wait(10)  # 40 requests at a time reach the queue together
            return batcher.predict(x)

    with ThreadPoolExecutor(40) as pool:
        outs = list(pool.map(call, xs))
    for x, out in zip(xs, outs):
        np.testing.assert_allclose(out, x @ w, rtol=1e-6, atol=1e-6)
    assert sum(sizes) == 120 and batcher.forward_calls == len(sizes)
    assert batcher.forward_calls < 120 and max(sizes) > 1
    batcher.stop()


def test_batcher_queue_full_and_errors_reach_every_caller():
    release = threading.Event()

    def slow(x):
        release.wait(10)
        if (x < 0).any():
            raise ValueError("negative input")
        return x * 2

    batcher = Batcher(slow, max_batch_size=8, max_wait_ms=0, max_queue=2)
    first = batcher.submit(np.ones((1, 2), np.float32))  # taken by the worker, which blocks in forward
    while batcher.depth() != 0:
        pass
    queued = [batcher.submit(np.full((1, 2), v, np.float32)) for v in (3.0, -1.0)]
    with pytest.raises(QueueFull) as info:
        batcher.submit(np.ones((1, 2), np.float32))
    assert info.value.status == 429 and info.value.headers == {"Retry-After": "1"}
    release.set()
    np.testing.assert_array_equal(first.result(10), [[2.0, 2.0]])
    for f in queued:  # both joined one batch; its failure reaches both callers, and the worker lives on
        with pytest.raises(ValueError, match="negative input"):
            f.result(10)
    np.testing.assert_array_equal(batcher.predict(np.full((2, 2), 5.0, np.float32)), np.full((2, 2), 10.0))
    batcher.stop()


def test_a_lone_request_runs_in_its_own_thread_without_waiting():
    threads = []
    batcher = Batcher(lambda x: (threads.append(threading.current_thread()), x * 3)[1], max_batch_size=32,
                      max_wait_ms=10_000, max_queue=4)
    with batcher.arriving():
        out = batcher.predict(np.ones((2, 2), np.float32))
    # no hand-off to the worker, so the 10 s max_wait_ms never applies to it
    np.testing.assert_array_equal(out, np.full((2, 2), 3.0))
    assert threads == [threading.current_thread()] and batcher.forward_calls == 1
    batcher.stop()


def test_stopped_batcher_drains_its_queue_then_refuses():
    release = threading.Event()
    batcher = Batcher(lambda x: (release.wait(10), x + 1)[1], max_batch_size=1, max_wait_ms=0, max_queue=8)
    futures = [batcher.submit(np.full((1, 1), v, np.float32)) for v in range(4)]
    batcher.stop()
    with pytest.raises(BatcherStopped):
        batcher.submit(np.zeros((1, 1), np.float32))
    release.set()
    assert [float(f.result(10)[0, 0]) for f in futures] == [1.0, 2.0, 3.0, 4.0]  # queued work still answered


@pytest.mark.parametrize("kwargs, fragment", [
    ({"max_batch_size": 0}, "max_batch_size"), ({"max_queue": 0}, "max_queue"), ({"max_wait_ms": -1}, "max_wait_ms"),
])
def test_batcher_rejects_bad_settings(kwargs, fragment):
    settings = {"max_batch_size": 4, "max_wait_ms": 1, "max_queue": 4, **kwargs}
    with pytest.raises(ValueError, match=fragment):
        Batcher(lambda x: x, **settings)


# ---- against the server -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits_version(make_tenant, data_files):
    _, c = make_tenant("batch")
    _, job = train(c["member"], data_files["digits_npz"], "mlp", {"epochs": 5, "learning_rate": 0.01, "units": [16]})
    return c, job["model_version_id"]


def _counter(admin: httpx.Client, name: str) -> float:
    text = admin.get("/metrics").text
    match = re.search(rf"^{name}_total (\S+)$", text, re.M)
    assert match, f"{name} missing from /metrics"
    return float(match.group(1))


def _probabilities(out: dict) -> np.ndarray:
    return np.array([[p["probabilities"][str(k)] for k in range(10)] for p in out["predictions"]])


def test_knobs_on_create_and_patch(digits_version):
    c, version = digits_version
    m = c["member"]
    r = m.post("/v1/endpoints", json={"name": "knobs", "model_version_id": version, "max_batch_size": 16,
                                      "max_wait_ms": 5, "max_queue": 7})
    assert r.status_code == 201, r.text
    assert (r.json()["max_batch_size"], r.json()["max_wait_ms"], r.json()["max_queue"]) == (16, 5, 7)
    r = m.patch("/v1/endpoints/knobs", json={"max_batch_size": 0})  # only the knob: the version stays
    assert r.status_code == 200, r.text
    assert r.json()["max_batch_size"] == 0 and r.json()["max_queue"] == 7 and r.json()["model_version_id"] == version
    assert m.get("/v1/endpoints/knobs").json()["max_batch_size"] == 0
    deploy(m, "defaults", version)
    got = m.get("/v1/endpoints/defaults").json()
    assert (got["max_batch_size"], got["max_wait_ms"], got["max_queue"], got["canary"]) == (32, 2.0, 256, None)
    for bad in ({"max_batch_size": -1}, {"max_queue": 0}, {"max_wait_ms": 1e9}, {"batch": 3}):
        r = m.patch("/v1/endpoints/knobs", json=bad)
        assert r.status_code == 422, (bad, r.text)


def test_concurrent_requests_share_forward_calls(admin, digits_version):
    c, version = digits_version
    m, p = c["member"], c["predict"]
    deploy(m, "unbatched", version)
    assert m.patch("/v1/endpoints/unbatched", json={"max_batch_size": 1}).status_code == 200
    r = m.post("/v1/endpoints", json={"name": "batched", "model_version_id": version, "max_batch_size": 64,
                                      "max_wait_ms": 100})
    assert r.status_code == 201, r.text
    x = load_digits().data[:96]
    reference = _probabilities(p.post("/v1/endpoints/unbatched/predict", json={"instances": x.tolist()}).json())
    requests = [x[i:i + 2] for i in range(0, 96, 2)]  # 48 requests of 2 rows each
    calls_before = _counter(admin, "aiaas_model_forward_calls")
    answered_before = _counter(admin, "aiaas_model_forward_requests")
    barrier = threading.Barrier(16)

    def call(rows: np.ndarray) -> np.ndarray:
        try:
            barrier.wait(10)
        except threading.BrokenBarrierError:
            pass
        r = p.post("/v1/endpoints/batched/predict", json={"instances": rows.tolist()})
        assert r.status_code == 200, r.text
        return _probabilities(r.json())

    with ThreadPoolExecutor(16) as pool:
        outs = list(pool.map(call, requests))
    calls = _counter(admin, "aiaas_model_forward_calls") - calls_before
    answered = _counter(admin, "aiaas_model_forward_requests") - answered_before
    for i, out in enumerate(outs):  # each caller got exactly its own rows
        np.testing.assert_allclose(out, reference[2 * i:2 * i + 2], atol=1e-6)
    assert answered == 48
    assert calls < 48, f"48 concurrent requests took {calls} forward calls"
    assert "aiaas_batch_size_requests_bucket" in admin.get("/metrics").text


def test_full_queue_answers_429_with_retry_after(digits_version):
    c, version = digits_version
    m, p = c["member"], c["predict"]
    r = m.post("/v1/endpoints", json={"name": "tiny-queue", "model_version_id": version, "max_batch_size": 64,
                                      "max_wait_ms": 2000, "max_queue": 1})
    assert r.status_code == 201, r.text
    x = load_digits().data[:24]
    barrier = threading.Barrier(24)

    def call(i: int) -> httpx.Response:
        try:
            barrier.wait(10)
        except threading.BrokenBarrierError:
            pass
        return p.post("/v1/endpoints/tiny-queue/predict", json={"instances": [x[i].tolist()]})

    with ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(call, range(24)))
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {200, 429} and 200 in statuses and 429 in statuses, statuses
    refused = next(a for a in answers if a.status_code == 429)
    assert refused.headers["Retry-After"] == "1" and "queue of this endpoint is full" in refused.json()["detail"]
    reference = _probabilities(p.post("/v1/endpoints/tiny-queue/predict", json={"instances": x.tolist()}).json())
    for i, a in enumerate(answers):
        if a.status_code == 200:
            np.testing.assert_allclose(_probabilities(a.json())[0], reference[i], atol=1e-6)
