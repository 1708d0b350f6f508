"""Open Inference Protocol v2 against a real `aiaas serve`, spoken by the real tritonclient.http client
(binary and JSON tensors) and by plain HTTP for the error shapes."""

from __future__ import annotations


import httpx
import numpy as np
import pytest
from sklearn.datasets import load_digits

from helpers import deploy, predict, train

tritonclient_http = pytest.importorskip("tritonclient.http")
from tritonclient.utils import InferenceServerException  # noqa: E402


@pytest.fixture(scope="module")
def digits_endpoint(make_tenant, data_files):
    """A tenant with an MLP trained on digits, deployed as 'digits' (batching on by default)."""
    _, c = make_tenant("oip")
    _, job = train(c["member"], data_files["digits_npz"], "mlp", {"epochs": 5, "learning_rate": 0.01, "units": [16]})
    deploy(c["member"], "digits", job["model_version_id"])
    return c, job["model_version_id"]


class _Auth(dict):
    """The key header; a fresh copy per call because tritonclient writes Inference-Header-Content-Length into
    the `headers` dict it is given (a stale length would then reach the next, JSON-only request)."""

    def __call__(self) -> dict[str, str]:
        return dict(self)


def _triton(server, key: str):
    return tritonclient_http.InferenceServerClient(url=server.url.removeprefix("http://"), connection_timeout=60,
                                                   network_timeout=60), _Auth(Authorization=f"Bearer {key}")


def _probabilities(v1_predictions: list[dict]) -> np.ndarray:
    return np.array([[p["probabilities"][str(k)] for k in range(10)] for p in v1_predictions])


def test_tritonclient_health_metadata_and_infer_equal_v1(server, digits_endpoint):
    c, version_id = digits_endpoint
    key = c["keys"]["predict"]["key"]
    client, auth = _triton(server, key)
    assert client.is_server_live() and client.is_server_ready()
    assert client.get_server_metadata()["name"] == "aiaas"
    assert client.is_model_ready("digits", headers=auth())
    assert client.is_model_ready("digits", model_version=version_id, headers=auth())
    assert not client.is_model_ready("no-such-endpoint", headers=auth())
    assert not client.is_model_ready("digits")  # no key: not for this caller

    meta = client.get_model_metadata("digits", headers=auth())
    assert meta["name"] == "digits" and meta["versions"] == [version_id] and meta["platform"] == "aiaas_core"
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 64]}]
    assert meta["outputs"] == [{"name": "output", "datatype": "FP32", "shape": [-1, 10]}]

    x = load_digits().data[1000:1013].astype(np.float32)
    expected = _probabilities(predict(c["predict"], "digits", x)["predictions"])
    for binary in (True, False):
        inp = tritonclient_http.InferInput("input", list(x.shape), "FP32")
        inp.set_data_from_numpy(x, binary_data=binary)
        out = tritonclient_http.InferRequestedOutput("output", binary_data=binary)
        result = client.infer("digits", [inp], outputs=[out], request_id=f"req-{binary}", headers=auth())
        got = result.as_numpy("output")
        assert got.shape == (13, 10) and got.dtype == np.float32
        np.testing.assert_allclose(got, expected, atol=1e-6)
        response = result.get_response()
        assert response["id"] == f"req-{binary}" and response["model_version"] == version_id
    # default request: binary input, binary output chosen by the client; a specific version; FP64 input
    inp = tritonclient_http.InferInput("input", list(x.shape), "FP64")
    inp.set_data_from_numpy(x.astype(np.float64))
    got = client.infer("digits", [inp], model_version=version_id, headers=auth()).as_numpy("output")
    np.testing.assert_allclose(got, expected, atol=1e-6)
    with pytest.raises(InferenceServerException, match="not deployed"):
        client.infer("digits", [inp], model_version="0" * 32, headers=auth())
    client.close()


def test_json_tensors_nested_data_and_int_types(server, digits_endpoint):
    c, version_id = digits_endpoint
    p = c["predict"]
    x = load_digits().data[:3]
    expected = _probabilities(predict(p, "digits", x)["predictions"])
    body = {"id": "abc", "inputs": [{"name": "input", "shape": [3, 64], "datatype": "INT64",
                                     "data": x.astype(np.int64).tolist()}]}  # nested data
    r = p.post("/v2/models/digits/infer", json=body)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["id"] == "abc" and doc["model_name"] == "digits" and doc["model_version"] == version_id
    (out,) = doc["outputs"]
    assert out["name"] == "output" and out["datatype"] == "FP32" and out["shape"] == [3, 10]
    np.testing.assert_allclose(np.reshape(out["data"], (3, 10)), expected, atol=1e-6)


@pytest.mark.parametrize("body, fragment", [
    ({"inputs": [{"name": "x", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 64}]}, "unknown input"),
    ({"inputs": [{"name": "input", "shape": [1, 63], "datatype": "FP32", "data": [0.0] * 63}]}, "does not match"),
    ({"inputs": [{"name": "input", "shape": [2, 64], "datatype": "FP32", "data": [0.0] * 64}]}, "needs 128"),
    ({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "BYTES", "data": ["a"] * 64}]}, "not supported"),
    ({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": ["a"] * 64}]}, "rectangular"),
    ({"inputs": []}, "'inputs' must be a list"),
    ({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 64}],
      "outputs": [{"name": "label"}]}, "unknown output"),
])
def test_bad_requests_answer_400_in_oip_error_shape(digits_endpoint, body, fragment):
    c, _ = digits_endpoint
    r = c["predict"].post("/v2/models/digits/infer", json=body)
    assert r.status_code == 400, r.text
    assert set(r.json()) == {"error"} and fragment in r.json()["error"]


def test_not_json_unknown_model_other_tenant_and_auth(server, make_tenant, digits_endpoint):
    c, _ = digits_endpoint
    r = c["predict"].post("/v2/models/digits/infer", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    r = c["predict"].get("/v2/models/nope")
    assert r.status_code == 404 and set(r.json()) == {"error"}
    _, other = make_tenant("oip-other")
    r = other["predict"].get("/v2/models/digits")  # another tenant's endpoint name is simply unknown
    assert r.status_code == 404 and "not found" in r.json()["error"]
    r = httpx.post(f"{server.url}/v2/models/digits/infer", json={"inputs": []})
    assert r.status_code == 401 and set(r.json()) == {"error"}
    r = httpx.get(f"{server.url}/v2/models/digits", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.json() == {"error": "invalid API key"}


def test_binary_size_mismatch_is_400(digits_endpoint):
    c, _ = digits_endpoint
    head = b'{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","parameters":{"binary_data_size":256}}]}'
    r = c["predict"].post("/v2/models/digits/infer", content=head + b"\0" * 100,
                          headers={"Inference-Header-Content-Length": str(len(head))})
    assert r.status_code == 400 and "binary_data_size" in r.json()["error"]


def test_regression_model_over_v2(make_tenant, data_files):
    from sklearn.datasets import load_diabetes

    _, c = make_tenant("oip-reg")
    _, job = train(c["member"], data_files["diabetes_npz"], "linear", {"epochs": 5, "learning_rate": 0.01, "optimizer": "sgd"})
    deploy(c["member"], "diabetes", job["model_version_id"])
    meta = c["predict"].get("/v2/models/diabetes").json()
    assert meta["inputs"][0]["shape"] == [-1, 10] and meta["outputs"][0]["shape"] == [-1, 1]
    assert meta["parameters"]["task"] == "regression"
    x = load_diabetes().data[:5]
    v1 = predict(c["predict"], "diabetes", x)["predictions"]
    r = c["predict"].post("/v2/models/diabetes/infer",
                          json={"inputs": [{"name": "input", "shape": [5, 10], "datatype": "FP64", "data": x.ravel().tolist()}]})
    assert r.status_code == 200, r.text
    out = r.json()["outputs"][0]
    assert out["shape"] == [5, 1]
    np.testing.assert_allclose(out["data"], v1, rtol=1e-6, atol=1e-5)
