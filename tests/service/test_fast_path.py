"""The prediction hot path: the in-memory API-key cache (revocation and expiry still immediate), the
body parsed once with json.loads (malformed bodies are 4xx JSON errors), the pure ASGI middleware
(413 before parsing, unexpected errors as a JSON 500, refusals audited)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_digits

from helpers import deploy, train
from aiaas_core.service.errors import ApiError
from aiaas_core.service.security import CachedKey, KeyCache, Principal
from aiaas_core.service.serving import format_outputs, parse_predict_body


# ---- KeyCache alone ----------------------------------------------------------------------------------

def _entry(key_id: str, loaded: float | None = None) -> CachedKey:
    return CachedKey(Principal(key_id, "tenant", "predict"), None, None, time.monotonic() if loaded is None else loaded)


def test_key_cache_invalidates_by_key_id_and_refuses_stale_puts():
    cache = KeyCache(ttl_s=60)
    gen = cache.generation
    cache.put("hash-a", _entry("a"), gen)
    cache.put("hash-b", _entry("b"), gen)
    assert cache.get("hash-a").principal.key_id == "a"
    cache.invalidate("a")
    assert cache.get("hash-a") is None and cache.get("hash-b").principal.key_id == "b"
    # a lookup that started before the invalidation (old generation) must not re-add what it read
    cache.put("hash-a", _entry("a"), gen)
    assert cache.get("hash-a") is None
    cache.put("hash-a", _entry("a"), cache.generation)
    assert cache.get("hash-a") is not None
    cache.invalidate()
    assert cache.get("hash-a") is None and cache.get("hash-b") is None


def test_key_cache_entries_expire_after_their_ttl():
    cache = KeyCache(ttl_s=5)
    cache.put("old", _entry("k", loaded=time.monotonic() - 6), cache.generation)
    cache.put("new", _entry("k2"), cache.generation)
    assert cache.get("old") is None and cache.get("new") is not None


# ---- the body parser ---------------------------------------------------------------------------------

@pytest.mark.parametrize("body, fragment", [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[[1, 2]]", "expected a JSON object"),
    (b'{"instances": [[1]], "extra": 1}', "extra: Extra inputs are not permitted"),
    (b"{}", "instances: Field required"),
    (b'{"instances": []}', "non-empty list"),
    (b'{"instances": {"a": 1}}', "non-empty list"),
])
def test_parse_predict_body_names_what_is_wrong(body, fragment):
    with pytest.raises(ApiError) as info:
        parse_predict_body(body)
    assert info.value.status == 422 and fragment in info.value.detail


def test_parse_predict_body_returns_the_instances():
    assert parse_predict_body(b'{"instances": [[1.5, 2], [3, 4]]}') == [[1.5, 2], [3, 4]]


def test_format_outputs_matches_a_per_row_reference():
    rng = np.random.default_rng(1)
    out = rng.dirichlet(np.ones(4), size=5)
    sig = {"task": "classification", "classes": ["a", "b", "c", "d"], "label_dtype": "object"}
    got = format_outputs(out, sig)
    assert [g["label"] for g in got] == [sig["classes"][k] for k in out.argmax(axis=1)]
    for g, row in zip(got, out):
        assert g["probabilities"] == {c: float(p) for c, p in zip(sig["classes"], row)}
    numeric = format_outputs(out, {"task": "classification", "classes": ["0", "1", "2", "3"], "label_dtype": "int64"})
    assert [g["label"] for g in numeric] == out.argmax(axis=1).tolist()
    assert format_outputs(out[:, :1], {"task": "regression"}) == [float(v) for v in out[:, 0]]


# ---- against the server ------------------------------------------------------------------------------

def test_revoking_a_key_stops_it_at_once_although_it_was_cached(admin, make_tenant):
    tid, c = make_tenant("revoke-cache")
    k = admin.post(f"/v1/tenants/{tid}/keys", json={"role": "predict"}).json()
    with httpx.Client(base_url=str(c["predict"].base_url), headers={"Authorization": f"Bearer {k['key']}"}) as client:
        for _ in range(3):  # the first request caches the key; the next ones are answered from the cache
            assert client.get("/v1/endpoints").status_code == 200
        assert admin.delete(f"/v1/keys/{k['id']}").status_code == 204
        r = client.get("/v1/endpoints")
        assert r.status_code == 401 and "revoked" in r.json()["detail"]
        r = client.post("/v1/endpoints/any/predict", json={"instances": [[0.0]]})
        assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert c["predict"].get("/v1/endpoints").status_code == 200  # the tenant's other keys still work


def test_a_cached_key_still_expires_on_time(admin, make_tenant):
    tid, _ = make_tenant("expiry-cache")
    expires = datetime.now(timezone.utc) + timedelta(seconds=2)
    k = admin.post(f"/v1/tenants/{tid}/keys", json={"role": "predict", "expires_at": expires.isoformat()})
    assert k.status_code == 201, k.text
    with httpx.Client(base_url=str(admin.base_url), headers={"Authorization": f"Bearer {k.json()['key']}"}) as client:
        assert client.get("/v1/endpoints").status_code == 200  # cached now
        time.sleep(max(0.0, (expires - datetime.now(timezone.utc)).total_seconds()) + 0.3)
        r = client.get("/v1/endpoints")
        assert r.status_code == 401 and "expired" in r.json()["detail"]


@pytest.fixture(scope="module")
def digits_endpoint(make_tenant, data_files):
    _, c = make_tenant("fastpath")
    _, job = train(c["member"], data_files["digits_npz"], "mlp", {"epochs": 2, "learning_rate": 0.01, "units": [16]})
    deploy(c["member"], "fast", job["model_version_id"])
    return c


def test_malformed_predict_bodies_are_4xx_json_errors(digits_endpoint):
    p = digits_endpoint["predict"]
    cases = [(b"{\"instances\": [[1, 2", "not valid JSON"), (b"42", "expected a JSON object"),
             (b'{"instances": [], "x": 1}', "Extra inputs"), (b'{"instances": []}', "non-empty list"),
             (b'{"instances": [[1, 2, 3]]}', "[n, 64]"), (b'{"instances": [["a"]]}', "[n, 64]"),
             (b'{"instances": [[1e999]]}', "[n, 64]")]
    for body, fragment in cases:
        r = p.post("/v1/endpoints/fast/predict", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/json"), (body, r.text)
        assert fragment in r.json()["detail"], (body, r.text)
    inf = [[float("inf")] + [0.0] * 63]
    r = p.post("/v1/endpoints/fast/predict", content=b'{"instances": [[Infinity' + b", 0" * 63 + b"]]}",
               headers={"content-type": "application/json"})
    assert r.status_code == 422 and "infinite" in r.json()["detail"], (inf, r.text)
    r = p.post("/v1/endpoints/missing/predict", json={"instances": [[0.0] * 64]})
    assert r.status_code == 404 and "not found" in r.json()["detail"]


def test_predictions_agree_with_and_without_batching(digits_endpoint):
    m, p = digits_endpoint["member"], digits_endpoint["predict"]
    x = load_digits().data[:6].tolist()
    batched = p.post("/v1/endpoints/fast/predict", json={"instances": x})
    assert batched.status_code == 200, batched.text
    assert m.patch("/v1/endpoints/fast", json={"max_batch_size": 0}).status_code == 200
    single = p.post("/v1/endpoints/fast/predict", json={"instances": x})
    assert single.status_code == 200, single.text
    a, b = batched.json()["predictions"], single.json()["predictions"]
    assert [r["label"] for r in a] == [r["label"] for r in b]
    for ra, rb in zip(a, b):
        np.testing.assert_allclose([ra["probabilities"][str(k)] for k in range(10)],
                                   [rb["probabilities"][str(k)] for k in range(10)], atol=1e-6)
        assert abs(sum(ra["probabilities"].values()) - 1.0) < 1e-4


# ---- the middleware stack in process (a real app, no server) ------------------------------------------

def test_unexpected_errors_are_a_json_500_and_oversized_bodies_413(tmp_path, monkeypatch):
    import asyncio

    from aiaas_core.service.app import create_app
    from aiaas_core.service.settings import Settings

    monkeypatch.setenv("AIAAS_ADMIN_KEY", "aiaas_inprocess_admin_key_0123456789")
    app = create_app(Settings(data_dir=tmp_path / "data", max_predict_values=10))

    @app.get("/boom")
    async def boom() -> dict:
        raise RuntimeError("a bug")

    async def run() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        body = b"[" + b"0," * (1 << 20) + b"0]"
        json_type = {"content-type": "application/json"}
        # with a key: an anonymous request is answered 401 before anything else (test_anonymous_bodies.py)
        auth = {"Authorization": "Bearer aiaas_inprocess_admin_key_0123456789"}
        async with httpx.AsyncClient(transport=transport, base_url="http://app", headers=auth) as client:
            crash = await client.get("/boom")
            big = await client.post("/v1/endpoints/x/predict", content=body, headers=json_type)
            big_v2 = await client.post("/v2/models/x/infer", content=body, headers=json_type)
            return crash, big, big_v2

    crash, big, big_v2 = asyncio.run(run())
    assert crash.status_code == 500 and "internal server error (reference" in crash.json()["detail"]
    assert big.status_code == 413 and "exceeds the limit" in big.json()["detail"]
    # /v2 answers in the Open Inference Protocol's error shape, even from the body-size guard.
    assert big_v2.status_code == 413 and "exceeds the limit" in big_v2.json()["error"]


# ---- the Batcher from the event loop ----------------------------------------------------------------

def test_predict_async_joins_one_loop_turn_and_returns_each_its_rows():
    import asyncio

    from aiaas_core.service.batching import Batcher

    rng = np.random.default_rng(2)
    w = rng.normal(size=(5, 3)).astype(np.float32)
    calls: list[tuple[int, int]] = []
    batcher = Batcher(lambda x: x @ w, max_batch_size=16, max_wait_ms=0, max_queue=1000,
                      on_batch=lambda rows, reqs: calls.append((rows, reqs)))
    xs = [rng.normal(size=(1 + i % 2, 5)).astype(np.float32) for i in range(40)]

    async def run() -> list[np.ndarray]:
        return await asyncio.gather(*(batcher.predict_async(x) for x in xs))

    outs = asyncio.run(run())
    for x, out in zip(xs, outs):
        np.testing.assert_allclose(out, x @ w, rtol=1e-6, atol=1e-6)
    assert sum(r for _, r in calls) == 40 and sum(rows for rows, _ in calls) == sum(len(x) for x in xs)
    assert len(calls) < 40 and all(rows <= 16 for rows, _ in calls)  # joined, never past max_batch_size
    batcher.stop()


def test_predict_async_never_runs_the_model_on_the_event_loop_thread():
    import asyncio
    import threading

    from aiaas_core.service.batching import Batcher, QueueFull

    threads: list[threading.Thread] = []

    def forward(x):
        threads.append(threading.current_thread())
        return x + 1

    batcher = Batcher(forward, max_batch_size=8, max_wait_ms=0, max_queue=3, name="the-worker")
    loop_threads = []

    async def run():
        loop_threads.append(threading.current_thread())
        return await asyncio.gather(*(batcher.predict_async(np.full((1, 2), v, np.float32)) for v in range(3)))

    outs = asyncio.run(run())
    assert [float(o[0, 0]) for o in outs] == [1.0, 2.0, 3.0]
    assert threads and loop_threads[0] not in threads  # joined into one forward call, off the loop

    async def overfill():
        return await asyncio.gather(*(batcher.predict_async(np.zeros((1, 2), np.float32)) for _ in range(4)),
                                    return_exceptions=True)

    results = asyncio.run(overfill())
    assert sum(isinstance(r, QueueFull) for r in results) == 1 and sum(isinstance(r, np.ndarray) for r in results) == 3
    batcher.stop()
