"""Canary deployments: an endpoint splits traffic between two versions; the split is checked within
4 binomial standard deviations, changed live with PATCH, and every answer comes from the version it names."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.datasets import load_digits

from helpers import train


@pytest.fixture(scope="module")
def two_versions(make_tenant, data_files):
    _, c = make_tenant("canary")
    versions = []
    for seed, epochs in ((1, 4), (2, 2)):  # two different models of the same task
        _, job = train(c["member"], data_files["digits_npz"], "mlp",
                       {"epochs": epochs, "learning_rate": 0.01, "units": [16], "seed": seed})
        versions.append(job["model_version_id"])
    return c, versions


def _count_versions(client, name: str, n: int, x: list) -> tuple[dict[str, int], dict[str, list]]:
    def call(_: int) -> dict:
        r = client.post(f"/v1/endpoints/{name}/predict", json={"instances": x})
        assert r.status_code == 200, r.text
        return r.json()

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, range(n)))
    counts: dict[str, int] = {}
    examples: dict[str, list] = {}
    for a in answers:
        counts[a["model_version_id"]] = counts.get(a["model_version_id"], 0) + 1
        examples.setdefault(a["model_version_id"], a["predictions"])
    return counts, examples


def _within_4_sigma(count: int, n: int, p: float) -> bool:
    return abs(count - n * p) <= 4 * math.sqrt(n * p * (1 - p))


def test_canary_split_live_changes_and_removal(two_versions):
    c, (a, b) = two_versions
    m, p = c["member"], c["predict"]
    r = m.post("/v1/endpoints", json={"name": "split", "model_version_id": a,
                                      "canary": {"model_version_id": b, "percent": 10}})
    assert r.status_code == 201, r.text
    assert r.json()["canary"] == {"model_version_id": b, "percent": 10.0}
    x = load_digits().data[1500:1501].tolist()
    counts, examples = _count_versions(p, "split", 1000, x)
    assert set(counts) == {a, b} and sum(counts.values()) == 1000
    assert _within_4_sigma(counts[b], 1000, 0.10), counts
    # each answer comes from the version it names: compare with that version asked directly over /v2
    for version, predictions in examples.items():
        r = p.post(f"/v2/models/split/versions/{version}/infer",
                   json={"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP64", "data": x[0]}]})
        assert r.status_code == 200 and r.json()["model_version"] == version
        probs = [predictions[0]["probabilities"][str(k)] for k in range(10)]
        np.testing.assert_allclose(r.json()["outputs"][0]["data"], probs, atol=1e-6)
    assert examples[a] != examples[b]  # the two versions really differ
    assert p.get("/v2/models/split").json()["versions"] == [a, b]

    r = m.patch("/v1/endpoints/split", json={"canary": {"model_version_id": b, "percent": 50}})  # live change
    assert r.status_code == 200 and r.json()["canary"]["percent"] == 50.0 and r.json()["model_version_id"] == a
    counts, _ = _count_versions(p, "split", 400, x)
    assert _within_4_sigma(counts.get(b, 0), 400, 0.5), counts

    r = m.patch("/v1/endpoints/split", json={"canary": None})  # remove the canary
    assert r.status_code == 200 and r.json()["canary"] is None
    counts, _ = _count_versions(p, "split", 50, x)
    assert counts == {a: 50}
    r = m.patch("/v1/endpoints/split", json={"model_version_id": b, "canary": {"model_version_id": a, "percent": 100}})
    assert r.status_code == 200, r.text
    counts, _ = _count_versions(p, "split", 30, x)  # promote B, send everything to A: percent 100 is all
    assert counts == {a: 30}


def test_canary_must_be_the_tenants_own_version(two_versions, make_tenant):
    c, (a, b) = two_versions
    _, other = make_tenant("canary-other")
    r = c["member"].post("/v1/endpoints", json={"name": "bad-canary", "model_version_id": a,
                                                "canary": {"model_version_id": "f" * 32, "percent": 5}})
    assert r.status_code == 404 and "model version" in r.json()["detail"]
    r = other["member"].post("/v1/endpoints", json={"name": "steal", "model_version_id": "f" * 32})
    assert r.status_code == 404
    for bad in ({"model_version_id": b, "percent": 101}, {"model_version_id": b, "percent": -1}, {"percent": 5}):
        r = c["member"].post("/v1/endpoints", json={"name": "bad-pct", "model_version_id": a, "canary": bad})
        assert r.status_code == 422, (bad, r.text)
    assert c["member"].get("/v1/endpoints/bad-canary").status_code == 404  # nothing half-created
