"""Prometheus /metrics of a real server: counters move with traffic, gauges follow the service state."""

from __future__ import annotations

import re

import httpx
from sklearn.datasets import load_digits

from helpers import deploy, metric_samples as _samples, train


def test_metrics_count_requests_latency_jobs_and_models(server, admin, make_tenant, data_files):
    _, c = make_tenant("metrics")
    m = c["member"]
    before = _samples(admin)
    _, job = train(m, data_files["digits_npz"], "mlp", {"epochs": 2, "units": [8]})
    deploy(m, "metered", job["model_version_id"])
    x = load_digits().data[:3].tolist()
    for _ in range(3):
        assert m.post("/v1/endpoints/metered/predict", json={"instances": x}).status_code == 200
    assert m.post("/v1/endpoints/nope/predict", json={"instances": x}).status_code == 404
    after = _samples(admin)

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    ok = 'aiaas_http_requests_total{method="POST",route="/v1/endpoints/{name}/predict",status="200"}'
    missing = 'aiaas_http_requests_total{method="POST",route="/v1/endpoints/{name}/predict",status="404"}'
    assert delta(ok) == 3 and delta(missing) == 1  # by route template, never by endpoint name
    assert not any("metered" in name for name in after)
    assert delta('aiaas_http_request_duration_seconds_count{method="POST",route="/v1/endpoints/{name}/predict"}') == 4
    assert delta("aiaas_model_forward_requests_total") == 3
    assert delta("aiaas_batch_size_rows_sum") == 9  # 3 requests x 3 rows
    assert after['aiaas_jobs{state="succeeded"}'] >= before.get('aiaas_jobs{state="succeeded"}', 0) + 1
    assert after["aiaas_models_loaded"] >= 1 and after["aiaas_batch_queue_depth"] == 0
    # unmatched paths are one series, not one per path
    admin.get(f"/no/such/path/{job['id']}")  # with a key (an anonymous one is a 401 before routing)
    httpx.get(f"{server.url}/no/such/path/{job['id']}")
    text = admin.get("/metrics").text
    assert 'route="unmatched",status="404"' in text and 'route="unmatched",status="401"' in text


def test_metrics_need_an_admin_key(server, make_tenant):
    _, c = make_tenant("metrics-auth")
    assert c["member"].get("/metrics").status_code == 403
    assert httpx.get(f"{server.url}/metrics").status_code == 401
    assert re.search(r"needs the 'admin' role", c["predict"].get("/metrics").json()["detail"])


def test_predictions_are_counted_not_audited_but_refusals_are(server, admin, make_tenant, data_files):
    tid, c = make_tenant("audit-reads")
    _, job = train(c["member"], data_files["digits_npz"], "mlp", {"epochs": 1, "units": [8]})
    deploy(c["member"], "quiet", job["model_version_id"])
    x = load_digits().data[:1].tolist()
    assert c["predict"].post("/v1/endpoints/quiet/predict", json={"instances": x}).status_code == 200
    infer = {"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP64", "data": x[0]}]}
    assert c["predict"].post("/v2/models/quiet/infer", json=infer).status_code == 200
    assert httpx.post(f"{server.url}/v1/endpoints/quiet/predict", json={"instances": x},
                      headers={"Authorization": "Bearer nope"}).status_code == 401
    entries = admin.get("/v1/audit", params={"limit": 200}).json()
    ours = [e for e in entries if e["tenant_id"] == tid]
    actions = {e["action"] for e in ours}
    assert "POST /v1/endpoints" in actions  # the deployment changed state: audited
    assert not any("predict" in a or "infer" in a for a in actions)
    assert any(e["status"] == 401 and e["target"] == "/v1/endpoints/quiet/predict" for e in entries)
