"""Hostile input against a real server: every answer is a 4xx with a JSON body naming what was wrong
and what was expected; never a 500, a hang, a leaked server path or a file left behind.

One server (the session's), one small trained model, small bodies: the whole file runs in seconds.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile

import httpx
import numpy as np
import pytest

from service_support import MAX_UPLOAD, idx_bytes, upload, wait_job, write_csv

JSON = {"content-type": "application/json"}
BIG = 2**63  # one past the largest 64-bit signed integer a database column holds
DEEP = b"[" * 100_000 + b"]" * 100_000  # nesting no JSON parser recursion survives


def assert_error(r: httpx.Response, status: int, *words: str, key: str = "detail") -> str:
    """The answer is `status` with a JSON `{key: message}` whose message holds every word."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {key}, body
    message = body[key]
    for word in words:
        assert word.lower() in message.lower(), (word, message)
    return message


@pytest.fixture(scope="module")
def tenant(make_tenant):
    return make_tenant("hostile")


@pytest.fixture(scope="module")
def member(tenant) -> httpx.Client:
    return tenant[1]["member"]


@pytest.fixture(scope="module")
def deployed(member, tmp_path_factory) -> dict:
    """A 4-feature binary classifier trained for one epoch and deployed as endpoint 'ep'."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4)).astype(np.float32)
    path = write_csv(tmp_path_factory.mktemp("hostile") / "small.csv", x, (x[:, 0] > 0).astype(int))
    r = upload(member, path, "small", label_column="target")
    assert r.status_code == 201, r.text
    dataset_id = r.json()["id"]
    r = member.post("/v1/jobs", json={"dataset_id": dataset_id, "architecture": "logistic", "hyperparameters": {"epochs": 1}})
    assert r.status_code == 202, r.text
    job = wait_job(member, r.json()["id"])
    assert job["state"] == "succeeded", job
    r = member.post("/v1/endpoints", json={"name": "ep", "model_version_id": job["model_version_id"]})
    assert r.status_code == 201, r.text
    return {"dataset_id": dataset_id, "version_id": job["model_version_id"], "job_id": job["id"]}


def leftovers(server) -> list[str]:
    """Plaintext upload temp files still on disk (every request must remove its own)."""
    tmp = server.data_dir / "tmp"
    return sorted(p.name for p in tmp.iterdir()) if tmp.exists() else []


# ---- integers a database cannot hold ------------------------------------------------------------

def test_list_offsets_beyond_64_bits_are_422(member):
    for path in ("/v1/datasets", "/v1/jobs", "/v1/model-versions"):
        assert_error(member.get(path, params={"offset": BIG}), 422, "offset")
        assert member.get(path, params={"offset": BIG - 1}).json() == []


def test_event_stream_last_event_id_beyond_64_bits_is_422(member, deployed):
    r = member.get(f"/v1/jobs/{deployed['job_id']}/events", headers={"Last-Event-ID": str(BIG)}, timeout=10)
    assert_error(r, 422, "Last-Event-ID")


def test_tenant_quota_beyond_64_bits_is_422(admin):
    r = admin.post("/v1/tenants", json={"name": "quota-overflow", "max_dataset_bytes": BIG})
    assert_error(r, 422, "max_dataset_bytes")
    assert "quota-overflow" not in [t["name"] for t in admin.get("/v1/tenants").json()]


# ---- JSON no parser should choke on ----------------------------------------------------------

def test_deeply_nested_json_is_refused_not_a_500(member, deployed):
    r = member.post("/v1/endpoints/ep/predict", content=b'{"instances": ' + DEEP + b"}", headers=JSON)
    assert_error(r, 422, "nested")
    r = member.post("/v2/models/ep/infer", content=b'{"inputs": ' + DEEP + b"}", headers=JSON)
    assert_error(r, 400, "nested", key="error")
    r = member.post("/v1/jobs", content=b'{"dataset_id": "x", "architecture": ' + DEEP + b"}", headers=JSON)
    assert r.status_code in (400, 422) and "detail" in r.json(), r.text


def test_integers_too_large_for_a_float_are_422(member, deployed):
    r = member.post("/v1/endpoints/ep/predict", json={"instances": [[10**400, 0, 0, 0]]})
    assert_error(r, 422, "instances", "too large")
    r = member.post("/v1/endpoints/ep/explain", json={"instance": [10**400, 0, 0, 0]})
    assert_error(r, 422, "instance", "too large")


def test_v2_parameters_must_be_objects(member, deployed):
    tensor = {"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0, 0, 0, 0]}
    r = member.post("/v2/models/ep/infer", json={"inputs": [tensor], "parameters": [1]})
    assert_error(r, 400, "'parameters'", "object", key="error")
    r = member.post("/v2/models/ep/infer", json={"inputs": [tensor], "outputs": [{"name": "output", "parameters": "x"}]})
    assert_error(r, 400, "'parameters'", "object", key="error")
    ok = member.post("/v2/models/ep/infer", json={"inputs": [tensor], "parameters": {"binary_data_output": False}})
    assert ok.status_code == 200 and len(ok.json()["outputs"][0]["data"]) == 2


def test_strings_and_booleans_are_not_numbers(member, deployed):
    ds = deployed["dataset_id"]
    for bad in ("5", True, 2.0):
        r = member.post("/v1/jobs", json={"dataset_id": ds, "architecture": "logistic", "hyperparameters": {"epochs": bad}})
        assert_error(r, 422, "epochs", "integer")
    r = member.post("/v1/jobs", json={"dataset_id": ds, "architecture": "logistic", "hyperparameters": {"learning_rate": True}})
    assert_error(r, 422, "learning_rate")
    for literal in (b"NaN", b"Infinity", b"-Infinity"):
        body = b'{"dataset_id": "%s", "architecture": "logistic", "hyperparameters": {"learning_rate": %s}}' % (ds.encode(), literal)
        assert_error(member.post("/v1/jobs", content=body, headers=JSON), 422, "learning_rate", "finite")
    r = member.post("/v1/endpoints/ep/predict", json={"instances": [["1", "2", "3", "4"]]})
    assert_error(r, 422, "instances", "string", "numbers")
    r = member.post("/v1/endpoints/ep/predict", json={"instances": [[True, False, 0, 1]]})
    assert_error(r, 422, "instances", "boolean", "numbers")
    r = member.post("/v1/endpoints/ep/explain", json={"instance": [0, 0, "1", 0]})
    assert_error(r, 422, "instance", "string")
    r = member.post("/v1/endpoints/ep/explain", json={"instance": [0, 0, 0, 0], "target": True})
    assert_error(r, 422, "target")
    # null is a missing value and numbers stay numbers: the same request with numbers is answered
    ok = member.post("/v1/endpoints/ep/predict", json={"instances": [[1, 2.5, 3, 4]]})
    assert ok.status_code == 200 and len(ok.json()["predictions"]) == 1


def test_custom_architecture_with_an_unknown_loss_is_refused_before_queueing(member, deployed):
    before = len(member.get("/v1/jobs").json())
    arch = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 4]}},
        {"class_name": "Dense", "config": {"units": 2, "activation": "softmax"}}]}}
    r = member.post("/v1/jobs", json={"dataset_id": deployed["dataset_id"], "architecture": arch,
                                      "hyperparameters": {"epochs": 1, "loss": "nonsense"}})
    assert_error(r, 422, "loss", "nonsense", "sparse_categorical_crossentropy")
    assert len(member.get("/v1/jobs").json()) == before  # no row was queued


# ---- uploads ---------------------------------------------------------------------------------

def post_file(client: httpx.Client, filename: str, content: bytes, **fields) -> httpx.Response:
    return client.post("/v1/datasets", data={"name": "hostile", **fields}, files={"file": (filename, content)})


def npz_bytes(compressed: bool = False, **arrays) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def test_upload_errors_name_the_client_file_never_a_server_path(server, member):
    cases = [
        post_file(member, "empty.csv", b"", label_column="y"),
        post_file(member, "header.csv", b"a,y\n", label_column="y"),
        post_file(member, "nolabel.csv", b"a,b\n1,2\n", label_column="y"),
        post_file(member, "notzip.npz", b"not a zip"),
        post_file(member, "short-idx3-ubyte.gz", gzip.compress(idx_bytes(np.zeros((4, 3, 3)), 8))[:-12]),
        post_file(member, "liar-idx3-ubyte", idx_bytes(np.zeros((4, 3, 3)), 8)[:-9]),  # header: 4 images, holds 3
        post_file(member, "latin1.csv", "a,y\n1,0\nné,1\n".encode("latin-1"), label_column="y"),
    ]
    names = ("empty.csv", "header.csv", "nolabel.csv", "notzip.npz", "short-idx3-ubyte.gz", "liar-idx3-ubyte", "latin1.csv")
    for r, name in zip(cases, names, strict=True):
        message = assert_error(r, 422, name)
        assert str(server.data_dir) not in message and "/tmp" not in message and "part0" not in message, message


def test_uploads_without_feature_columns_are_refused(member):
    assert_error(post_file(member, "one.csv", b"y\n1\n2\n", label_column="y"), 422, "feature")
    assert_error(post_file(member, "nofeat.npz", npz_bytes(x=np.zeros((3, 0)), y=np.zeros(3))), 422, "feature")
    assert_error(post_file(member, "flat.npz", npz_bytes(x=np.zeros(3), y=np.zeros(3))), 422, "x", "[samples, features")
    assert_error(post_file(member, "scalar.npz", npz_bytes(x=np.array(5.0))), 422, "[samples, features")
    assert_error(post_file(member, "labels-idx1-ubyte", idx_bytes(np.zeros(10), 8)), 422, "[samples, features")


def test_uploads_with_infinite_values_are_refused(member):
    assert_error(post_file(member, "inf.csv", b"a,y\ninf,1\n2,0\n", label_column="y"), 422, "infinite", "x")
    assert_error(post_file(member, "big.csv", b"a,y\n1e999,1\n2,0\n", label_column="y"), 422, "infinite")
    assert_error(post_file(member, "f64.npz", npz_bytes(x=np.array([[1e300], [1.0]]), y=np.zeros(2))), 422, "infinite")
    assert_error(post_file(member, "labinf.csv", b"a,y\n1,inf\n2,0.5\n", label_column="y"), 422, "infinite", "column 'y'")


def crafted_npz(shape: tuple[int, ...]) -> bytes:
    """An .npz whose x.npy header claims `shape` but holds no data (reading it would allocate it)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": shape})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("x.npy", header.getvalue())
    return buf.getvalue()


def test_compressed_uploads_expanding_past_the_limit_are_413(server, member):
    before = len(member.get("/v1/datasets").json())
    over = MAX_UPLOAD + 10_000  # bytes once decompressed; a few kilobytes on the wire
    bomb = npz_bytes(compressed=True, x=np.zeros((over // 1000, 1000), np.uint8), y=np.zeros(over // 1000))
    assert len(bomb) < 100_000
    assert_error(post_file(member, "bomb.npz", bomb), 413, "limit", str(MAX_UPLOAD))
    assert_error(post_file(member, "liar.npz", crafted_npz((10**6, 10**6))), 413, "limit")
    gz = gzip.compress(idx_bytes(np.zeros((over // 100, 10, 10)), 8))
    assert len(gz) < 100_000
    assert_error(post_file(member, "bomb-idx3-ubyte.gz", gz), 413, "limit", str(MAX_UPLOAD))
    # just under the limit is still fine
    fine = gzip.compress(idx_bytes(np.zeros((50, 10, 10)), 8))
    assert post_file(member, "fine-idx3-ubyte.gz", fine).status_code == 201
    assert len(member.get("/v1/datasets").json()) == before + 1
    assert leftovers(server) == []


def test_a_csv_with_a_huge_header_is_refused_quickly(member):
    columns = 100_000
    content = b",".join(b"c%d" % i for i in range(columns)) + b"\n" + b",".join(b"1" for _ in range(columns)) + b"\n"
    assert len(content) < MAX_UPLOAD
    r = member.post("/v1/datasets", data={"name": "wide", "label_column": "c0"}, files={"file": ("wide.csv", content)},
                    timeout=15)
    assert_error(r, 422, "columns", "10000")
    long_name = b"c" * 200_000  # one header cell beyond the csv module's field limit
    r = post_file(member, "longname.csv", long_name + b",y\n1,0\n", label_column="y")
    assert_error(r, 422, "longname.csv", "field limit")


def test_malformed_multipart_bodies_are_400(server, member):
    ctype = {"content-type": "multipart/form-data; boundary=XX"}
    truncated = (b'--XX\r\nContent-Disposition: form-data; name="name"\r\n\r\nt\r\n'
                 b'--XX\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\na,y\n1,2')
    assert_error(member.post("/v1/datasets", content=truncated, headers=ctype), 400, "multipart", "ended")
    two = [("file", ("a.csv", b"a,y\n1,0\n2,1\n")), ("file", ("b.csv", b"a,y\n1,0\n2,1\n"))]
    r = member.post("/v1/datasets", data={"name": "two", "label_column": "y"}, files=two)
    assert_error(r, 422, "'file'", "once")
    assert leftovers(server) == []


def test_size_limit_holds_for_a_streamed_body_without_content_length(server, member):
    boundary = b"SB"
    head = (b"--SB\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nstream\r\n"
            b"--SB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.csv\"\r\n\r\na,y\n")
    sent = {"bytes": 0}

    def body():
        yield head
        chunk = b"1,0\n" * 16384
        while sent["bytes"] < 4 * MAX_UPLOAD:  # a client that would go on far past the limit
            sent["bytes"] += len(chunk)
            yield chunk
        yield b"\r\n--SB--\r\n"

    try:
        r = member.post("/v1/datasets", content=body(), timeout=30,
                        headers={"content-type": f"multipart/form-data; boundary={boundary.decode()}"})
    except httpx.HTTPError:
        r = None  # the server may close the connection once it has answered 413
    if r is not None:
        assert_error(r, 413, "limit")
    assert "stream" not in [d["name"] for d in member.get("/v1/datasets").json()]
    assert leftovers(server) == []


# ---- training that diverges ------------------------------------------------------------------

def test_training_that_diverges_fails_the_job_instead_of_registering_a_broken_version(member):
    x = np.zeros((60, 4), np.float32)
    x[:5] = [[1e30, -1e30, 3e38, -3e38]]  # finite float32, but no unscaled model survives them
    buf = io.StringIO()
    buf.write("a,b,c,d,y\n" + "".join(",".join(repr(float(v)) for v in row) + f",{i % 2}\n" for i, row in enumerate(x)))
    r = post_file(member, "huge.csv", buf.getvalue().encode(), label_column="y", scaling="none")
    assert r.status_code == 201, r.text
    versions_before = len(member.get("/v1/model-versions").json())
    r = member.post("/v1/jobs", json={"dataset_id": r.json()["id"], "architecture": "logistic", "hyperparameters": {"epochs": 1}})
    assert r.status_code == 202, r.text
    job = wait_job(member, r.json()["id"])
    assert job["state"] == "failed" and job["model_version_id"] is None, job
    assert "NaN or infinite" in job["error"] and "learning rate or scale" in job["error"], job["error"]
    assert len(member.get("/v1/model-versions").json()) == versions_before


def test_catalog_architectures_that_cannot_fit_are_refused_before_queueing(member, deployed):
    before = len(member.get("/v1/jobs").json())
    ds = deployed["dataset_id"]  # tabular: samples shaped [4]
    r = member.post("/v1/jobs", json={"dataset_id": ds, "architecture": "cnn", "hyperparameters": {"epochs": 1}})
    assert_error(r, 422, "cnn", "images", "[4]")
    r = member.post("/v1/jobs", json={"dataset_id": ds, "architecture": "mlp",
                                      "hyperparameters": {"epochs": 1, "units": 4096, "layers": 16}})
    assert_error(r, 422, "mlp", "weights", "100,000,000")
    assert len(member.get("/v1/jobs").json()) == before
    r = member.post("/v1/jobs", json={"dataset_id": ds, "architecture": "mlp", "hyperparameters": {"epochs": 1, "units": [8]}})
    assert r.status_code == 202, r.text
    assert wait_job(member, r.json()["id"])["state"] == "succeeded"


# ---- the Python client -------------------------------------------------------------------------

def test_client_ids_stay_one_path_segment(server, tenant, deployed):
    from aiaas_core.client import ApiError, Client

    with Client(server.url, tenant[1]["keys"]["member"]["key"]) as c:
        with pytest.raises(ApiError) as info:
            c.delete_dataset("../endpoints/ep")  # once a DELETE of the endpoint itself
        assert info.value.status == 404 and "no route takes DELETE '/v1/datasets/../endpoints/ep'" in info.value.detail
        assert c._call("GET", "/v1/endpoints/ep")["model_version_id"] == deployed["version_id"]
        with pytest.raises(ApiError) as info:
            c.get_job("x?limit=1")
        assert info.value.status == 404 and "job 'x?limit=1' not found" in info.value.detail
        with pytest.raises(ValueError, match="job_id"):
            c.cancel_job("")
        # numpy instances are sent as JSON lists: the same answer as the list itself
        x = np.array([[0.5, -1.0, 2.0, 0.25]], np.float32)
        assert c.predict("ep", x) == c.predict("ep", x.tolist())


# ---- JSON bodies without a Content-Length ----------------------------------------------------

def test_json_body_limit_holds_while_streaming(server, member, deployed):
    """A chunked body declares no size: the limit must be counted as it arrives, not after it is all in
    memory. Padding valid JSON with whitespace makes a body the service would otherwise accept."""
    limit = 200_000 * 32 + (1 << 20)  # AIAAS_MAX_PREDICT_VALUES of the test server, as app.py derives it
    ok = b'{"instances": [[0, 0, 0, 0]]}'
    assert member.post("/v1/endpoints/ep/predict", content=iter([ok]), headers=JSON).status_code == 200

    def padded(target: bytes):
        yield target[:-1]
        for _ in range(2 * limit // 65536):
            yield b" " * 65536
        yield target[-1:]

    cases = [("/v1/endpoints/ep/predict", ok, "detail"),
             ("/v2/models/ep/infer", json.dumps({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32",
                                                              "data": [0, 0, 0, 0]}]}).encode(), "error"),
             (f"/v1/model-versions/{deployed['version_id']}/evaluate",
              json.dumps({"dataset_id": deployed["dataset_id"]}).encode(), "detail")]
    for path, target, key in cases:
        try:
            r = member.post(path, content=padded(target), headers=JSON, timeout=30)
        except httpx.TransportError:
            continue  # the server answered 413 and closed the connection while the client was still sending
        assert_error(r, 413, "limit", key=key)
    assert member.post("/v1/endpoints/ep/predict", json={"instances": [[0, 0, 0, 0]]}).status_code == 200


def test_error_messages_do_not_echo_huge_inputs_back(member, deployed):
    ds = deployed["dataset_id"]
    r = member.post("/v1/jobs", json={"dataset_id": ds, "architecture": "mlp", "hyperparameters": {"units": [1] * 100_000}})
    assert len(assert_error(r, 422, "units", "characters")) < 1000
    r = member.post("/v1/jobs", json={"dataset_id": ds, "architecture": "mlp", "hyperparameters": {"x" * 100_000: 1}})
    assert len(assert_error(r, 422, "unknown hyperparameter")) < 1000
    tensor = {"name": "input", "shape": [1] * 100_000, "datatype": "FP32", "data": [0]}
    assert len(assert_error(member.post("/v2/models/ep/infer", json={"inputs": [tensor]}), 400, "shape", key="error")) < 1000
    assert len(assert_error(member.get("/v1/datasets/" + "d" * 5000), 404, "dataset", "not found")) < 1000
    r = member.post("/v1/jobs", json={"dataset_id": ds, "architecture": "a" * 100_000})
    assert len(assert_error(r, 422, "unknown architecture")) < 1000
    arch = {"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense", "config": {"units": [1] * 100_000}}]}}
    assert len(assert_error(member.post("/v1/jobs", json={"dataset_id": ds, "architecture": arch}), 422, "units")) < 1000
    cell = b"x" * 100_000
    r = post_file(member, "wide.csv", b"a,y\n" + cell + b",1\n", label_column="y")
    assert len(assert_error(r, 422, "wide.csv")) < 1000


# ---- outputs JSON cannot carry -----------------------------------------------------------------

def test_outputs_that_overflow_are_422_not_500(member, tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    path = write_csv(tmp_path / "reg.csv", x, x @ np.array([1, 2, 3, 4], np.float32))
    r = upload(member, path, "reg", label_column="target", scaling="none")
    assert r.status_code == 201, r.text
    r = member.post("/v1/jobs", json={"dataset_id": r.json()["id"], "architecture": "linear", "hyperparameters": {"epochs": 1}})
    job = wait_job(member, r.json()["id"])
    assert job["state"] == "succeeded", job
    r = member.post("/v1/endpoints", json={"name": "reg", "model_version_id": job["model_version_id"], "max_batch_size": 0})
    assert r.status_code == 201, r.text
    huge = [[3e38, 3e38, -3e38, 3e38], [0.1, 0.2, 0.3, 0.4]]  # float32, but w.x overflows
    assert_error(member.post("/v1/endpoints/reg/predict", json={"instances": huge}), 422, "overflowed", "index 0")
    tensor = {"name": "input", "shape": [2, 4], "datatype": "FP32", "data": huge}
    assert_error(member.post("/v2/models/reg/infer", json={"inputs": [tensor]}), 400, "overflowed", key="error")
    ok = member.post("/v1/endpoints/reg/predict", json={"instances": huge[1:]})
    assert ok.status_code == 200 and np.isfinite(ok.json()["predictions"]).all()


# ---- leftovers of a killed server ----------------------------------------------------------------

def test_a_restart_removes_what_a_killed_server_left_half_done(tmp_path):
    from service_support import Server

    data = tmp_path / "data"
    first = Server(data).start()
    first.kill()  # SIGKILL: nothing of the dying process cleans up
    stale_upload = data / "tmp" / "tmpkilled" / "part0"
    stale_upload.parent.mkdir(parents=True)
    stale_upload.write_bytes(b"a,y\n1,secret\n")  # plaintext, as an interrupted upload leaves it
    partial = data / "artifacts" / "models" / ("ab" * 16 + ".tmp12345")
    partial.write_bytes(b"half an encrypted model")
    kept = data / "artifacts" / "models" / ("cd" * 16 + ".enc")
    kept.write_bytes(b"a finished artifact")
    second = Server(data).start()
    try:
        assert not stale_upload.parent.exists() and not partial.exists()
        assert kept.read_bytes() == b"a finished artifact"
    finally:
        second.stop()


def test_custom_architectures_are_checked_against_the_task_the_job_asks_for(member, deployed):
    def dense(units: int, **cfg) -> dict:
        return {"class_name": "Sequential", "config": {"layers": [
            {"class_name": "InputLayer", "config": {"batch_shape": [None, 4]}},
            {"class_name": "Dense", "config": {"units": units, **cfg}}]}}

    ds = deployed["dataset_id"]  # integer labels 0/1: a classification dataset, or a regression target
    r = member.post("/v1/jobs", json={"dataset_id": ds, "architecture": dense(2),
                                      "hyperparameters": {"epochs": 1, "task": "reconstruction"}})
    assert_error(r, 422, "reconstruction", "[2]", "[4]")
    r = member.post("/v1/jobs", json={"dataset_id": ds, "architecture": dense(1),
                                      "hyperparameters": {"epochs": 1, "task": "regression"}})
    assert r.status_code == 202, r.text  # one output is right for regression, whatever the classes
    assert wait_job(member, r.json()["id"])["state"] == "succeeded"


def test_a_canary_must_take_the_same_requests_as_the_endpoint(member, deployed, tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    r = upload(member, write_csv(tmp_path / "three.csv", x, (x[:, 0] > 0).astype(int)), "three", label_column="target")
    r = member.post("/v1/jobs", json={"dataset_id": r.json()["id"], "architecture": "logistic", "hyperparameters": {"epochs": 1}})
    other = wait_job(member, r.json()["id"])["model_version_id"]
    r = member.patch("/v1/endpoints/ep", json={"canary": {"model_version_id": other, "percent": 50}})
    assert_error(r, 422, "canary", "[3]", "[4]")
    endpoint = member.get("/v1/endpoints/ep").json()
    assert endpoint["canary"] is None and endpoint["model_version_id"] == deployed["version_id"]
    r = member.post("/v1/endpoints", json={"name": "ep3", "model_version_id": deployed["version_id"],
                                           "canary": {"model_version_id": other, "percent": 10}})
    assert_error(r, 422, "canary")
    assert member.get("/v1/endpoints/ep3").status_code == 404  # the refused create left no endpoint behind
    predictions = [member.post("/v1/endpoints/ep/predict", json={"instances": [[0, 0, 0, 0]]}).status_code for _ in range(10)]
    assert predictions == [200] * 10


def test_key_expiry_beyond_what_utc_can_hold_is_422(admin, tenant):
    tenant_id = tenant[0]
    r = admin.post(f"/v1/tenants/{tenant_id}/keys", json={"role": "predict", "expires_at": "9999-12-31T23:59:59-14:00"})
    assert_error(r, 422, "expires_at", "9999-12-31")
    r = admin.post(f"/v1/tenants/{tenant_id}/keys", json={"role": "predict", "expires_at": "2999-12-31T23:59:59-14:00"})
    assert r.status_code == 201 and r.json()["expires_at"].startswith("3000-01-01T13:59:59"), r.text


def test_v2_bool_tensors_hold_only_booleans(member, deployed):
    tensor = {"name": "input", "shape": [1, 4], "datatype": "BOOL", "data": [True, False, True, "x"]}
    assert_error(member.post("/v2/models/ep/infer", json={"inputs": [tensor]}), 400, "booleans", "'x'", key="error")
    tensor["data"] = [True, False, True, False]
    r = member.post("/v2/models/ep/infer", json={"inputs": [tensor]})
    assert r.status_code == 200 and len(r.json()["outputs"][0]["data"]) == 2


def test_unknown_or_too_many_form_parts_are_refused(server, member):
    csv_file = {"file": ("a.csv", b"a,y\n1,0\n2,1\n")}
    r = member.post("/v1/datasets", data={"name": "typo", "label_column": "y", "scalling": "none"}, files=csv_file)
    assert_error(r, 422, "'scalling'", "scaling")
    r = member.post("/v1/datasets", data={"name": "text", "label_column": "y", "file": "a,y\n1,0\n"},
                    files={"labels": ("l.idx", idx_bytes(np.zeros(2), 8))})
    assert_error(r, 422, "'file'", "files")
    many = [(f"extra{i}", (f"x{i}.csv", b"x")) for i in range(40)]
    r = member.post("/v1/datasets", data={"name": "many", "label_column": "y"}, files=[("file", csv_file["file"]), *many])
    assert_error(r, 413, "parts")
    assert not {"typo", "text", "many"} & {d["name"] for d in member.get("/v1/datasets").json()}
    assert leftovers(server) == []


def test_evaluating_on_rows_that_are_all_dropped_says_so(member, deployed):
    r = post_file(member, "holes.csv", b"f0,f1,f2,f3,target\nnan,1,2,3,0\n1,,2,3,1\n", label_column="target")
    assert r.status_code == 201, r.text
    r = member.post(f"/v1/model-versions/{deployed['version_id']}/evaluate", json={"dataset_id": r.json()["id"]})
    assert_error(r, 422, "missing value", "no row is left")


# ---- auth and other tenants' ids (regression guards for what already held) --------------------

def test_another_tenants_ids_look_exactly_like_unknown_ids(make_tenant, member, deployed):
    _, other = make_tenant("intruder")
    intruder = other["member"]
    unknown = "0" * 32
    ids = {"dataset": deployed["dataset_id"], "job": deployed["job_id"], "version": deployed["version_id"], "endpoint": "ep"}
    requests = [
        ("GET", "/v1/datasets/{dataset}", None), ("DELETE", "/v1/datasets/{dataset}", None),
        ("GET", "/v1/jobs/{job}", None), ("POST", "/v1/jobs/{job}/cancel", None), ("GET", "/v1/jobs/{job}/logs", None),
        ("GET", "/v1/model-versions/{version}", None), ("GET", "/v1/model-versions/{version}/download", None),
        ("POST", "/v1/endpoints", {"name": "stolen", "model_version_id": "{version}"}),
        ("GET", "/v1/endpoints/{endpoint}", None), ("DELETE", "/v1/endpoints/{endpoint}", None),
        ("POST", "/v1/endpoints/{endpoint}/predict", {"instances": [[0, 0, 0, 0]]}),
        ("POST", "/v1/jobs", {"dataset_id": "{dataset}", "architecture": "logistic"}),
    ]
    for method, template, body in requests:
        def send(values: dict) -> httpx.Response:
            fill = (lambda v: v.format(**values) if isinstance(v, str) else v)
            payload = None if body is None else {k: fill(v) for k, v in body.items()}
            return intruder.request(method, template.format(**values), json=payload)

        foreign = send(ids)
        missing = send({k: (unknown if k != "endpoint" else "no-such-endpoint") for k in ids})
        assert foreign.status_code == missing.status_code == 404, (method, template, foreign.text, missing.text)
        assert set(foreign.json()) == {"detail"}
        detail = foreign.json()["detail"]
        for k, v in ids.items():  # the same words, only the id differs
            detail = detail.replace(v, unknown if k != "endpoint" else "no-such-endpoint")
        assert detail == missing.json()["detail"], (foreign.text, missing.text)
    # the owner still has everything
    assert member.get(f"/v1/datasets/{deployed['dataset_id']}").status_code == 200
    assert member.post("/v1/endpoints/ep/predict", json={"instances": [[0, 0, 0, 0]]}).status_code == 200


def test_requests_without_a_valid_key_get_401_json_everywhere(server, admin, tenant):
    expired_soon = admin.post(f"/v1/tenants/{tenant[0]}/keys", json={"role": "member"}).json()
    assert admin.delete(f"/v1/keys/{expired_soon['id']}").status_code == 204
    headers = [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic dXNlcjpwYXNz"},
               {"Authorization": "Bearer not-a-key"}, {"Authorization": f"Bearer {expired_soon['key']}"}]
    for h in headers:
        for method, path in (("GET", "/v1/datasets"), ("POST", "/v1/jobs"), ("POST", "/v1/endpoints/ep/predict"),
                             ("POST", "/v2/models/ep/infer"), ("GET", "/v1/audit")):
            r = httpx.request(method, server.url + path, headers=h, json={}, timeout=10)
            key = "error" if path.startswith("/v2") else "detail"
            assert_error(r, 401, "key", key=key)
            assert r.headers.get("www-authenticate") == "Bearer"


# ---- the CLI ----------------------------------------------------------------------------------

def test_cli_errors_are_one_line_never_a_traceback(server, tenant, capsys):
    from aiaas_core.cli import main
    from service_support import free_port

    key = tenant[1]["keys"]["member"]["key"]
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    assert main(["datasets", "list", "--url", nowhere, "--api-key", key]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"aiaas: cannot reach the service at {nowhere}") and "Traceback" not in err
    assert main(["jobs", "cancel", "", "--url", server.url, "--api-key", key]) == 2
    err = capsys.readouterr().err
    assert "job_id must be a non-empty string" in err and "Traceback" not in err
    assert main(["predict", "ep", "--instances", "[[1, 2", "--url", server.url, "--api-key", key]) == 2
    assert capsys.readouterr().err.startswith("aiaas: ")


def patched_zip(raw: bytes, flag: int | None = None, method: int | None = None) -> bytes:
    """The zip with every entry's flag bits (0x1: encrypted) or compression method overwritten."""
    out = bytearray(raw)
    for signature, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        at = out.find(signature)
        while at >= 0:
            if flag is not None:
                out[at + flag_at:at + flag_at + 2] = flag.to_bytes(2, "little")
            if method is not None:
                out[at + method_at:at + method_at + 2] = method.to_bytes(2, "little")
            at = out.find(signature, at + 4)
    return bytes(out)


def test_npz_archives_numpy_did_not_write_are_422(server, member):
    raw = npz_bytes(x=np.zeros((3, 2)), y=np.zeros(3))
    assert_error(post_file(member, "locked.npz", patched_zip(raw, flag=1)), 422, "locked.npz", "password")
    assert_error(post_file(member, "odd.npz", patched_zip(raw, method=99)), 422, "odd.npz", "compression")
    fractions = bytes([0, 0, 0x0D, 1]) + (4).to_bytes(4, "big") + np.array([0, 1, 0.5, 1], ">f4").tobytes()  # float32 IDX
    r = member.post("/v1/datasets", data={"name": "frac"}, files={"file": ("i.idx", idx_bytes(np.zeros((4, 2, 2)), 8)),
                                                                 "labels": ("l.idx", fractions)})
    assert_error(r, 422, "whole numbers", "l.idx")
    assert leftovers(server) == []


def test_a_training_batch_too_big_for_memory_is_refused_before_queueing(member):
    images = np.zeros((100, 64, 64), np.uint8)
    r = member.post("/v1/datasets", data={"name": "big-images"},
                    files={"file": ("img-idx3-ubyte", idx_bytes(images, 8)), "labels": ("lab-idx1-ubyte", idx_bytes(np.arange(100) % 2, 8))})
    assert r.status_code == 201, r.text
    before = len(member.get("/v1/jobs").json())
    hp = {"epochs": 1, "filters": [512] * 6, "batch_size": 100}  # 2.3 M weights, but ~2.7 GB of outputs per batch
    r = member.post("/v1/jobs", json={"dataset_id": r.json()["id"], "architecture": "cnn", "hyperparameters": hp})
    message = assert_error(r, 422, "batch", "GiB", "batch_size <=")
    fits = int(message.rsplit("batch_size <= ", 1)[1].split()[0])
    assert 1 <= fits < 100
    assert len(member.get("/v1/jobs").json()) == before


def test_an_explanation_too_big_for_memory_is_413_naming_the_steps_that_fit(member):
    """20 Activation layers after a 512-filter 1x1 Conv2D: 66 k weights, cheap to train, but each of
    1025 path points of an explanation would keep 721 k layer outputs for the backward pass (~5.5 GB)."""
    layers = [{"class_name": "InputLayer", "config": {"batch_shape": [None, 8, 8]}},
              {"class_name": "Reshape", "config": {"target_shape": [8, 8, 1]}},
              {"class_name": "Conv2D", "config": {"filters": 512, "kernel_size": [1, 1]}},
              *[{"class_name": "Activation", "config": {"activation": "relu"}}] * 20,
              {"class_name": "Flatten", "config": {}}, {"class_name": "Dense", "config": {"units": 2, "activation": "softmax"}}]
    r = member.post("/v1/datasets", data={"name": "tiny-images"},
                    files={"file": ("t-idx3-ubyte", idx_bytes(np.arange(40 * 64).reshape(40, 8, 8) % 256, 8)),
                           "labels": ("l-idx1-ubyte", idx_bytes(np.arange(40) % 2, 8))})
    assert r.status_code == 201, r.text
    r = member.post("/v1/jobs", json={"dataset_id": r.json()["id"], "hyperparameters": {"epochs": 1, "batch_size": 8},
                                      "architecture": {"class_name": "Sequential", "config": {"layers": layers}}})
    assert r.status_code == 202, r.text
    job = wait_job(member, r.json()["id"])
    assert job["state"] == "succeeded", job
    assert member.post("/v1/endpoints", json={"name": "wide", "model_version_id": job["model_version_id"]}).status_code == 201
    instance = np.zeros((8, 8)).tolist()
    message = assert_error(member.post("/v1/endpoints/wide/explain", json={"instance": instance, "steps": 1024}),
                           413, "1024 steps", "GiB", "steps <=")
    per_input = 64 + 64 + 64 * 512 * 22 + 2  # input, reshape, conv + 20 activations + flatten, dense
    assert f"{per_input:,} values per input" in message
    assert int(message.rsplit("steps <= ", 1)[1].split()[0]) == 2**31 // (per_input * 8) - 1
    r = member.post("/v1/endpoints/wide/explain", json={"instance": instance, "steps": 4})
    assert r.status_code == 200 and np.asarray(r.json()["attributions"]).shape == (8, 8), r.text


def test_finite_inputs_that_overflow_in_preprocessing_are_422_naming_the_feature(member, tmp_path):
    """3.4e38 is a finite float32, but standard scaling (x - mean) / std takes it past float32's range:
    refused naming the feature, on /v1 predict, v2 infer and explain, never a 500 or null attributions."""
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(60, 4)) * 0.01).astype(np.float32)  # small std: scaling multiplies by ~100
    path = write_csv(tmp_path / "scaled.csv", x, (x[:, 0] > 0).astype(int))
    r = upload(member, path, "scaled", label_column="target", scaling="standard")
    assert r.status_code == 201, r.text
    r = member.post("/v1/jobs", json={"dataset_id": r.json()["id"], "architecture": "logistic", "hyperparameters": {"epochs": 1}})
    job = wait_job(member, r.json()["id"])
    assert job["state"] == "succeeded", job
    r = member.post("/v1/endpoints", json={"name": "scaled", "model_version_id": job["model_version_id"]})
    assert r.status_code == 201, r.text
    huge = [[0.0, 0.0, 3.4e38, 0.0]]
    assert_error(member.post("/v1/endpoints/scaled/predict", json={"instances": huge}), 422, "'f2'", "preprocessing")
    tensor = {"name": "input", "shape": [1, 4], "datatype": "FP32", "data": huge}
    assert_error(member.post("/v2/models/scaled/infer", json={"inputs": [tensor]}), 400, "'f2'", "preprocessing",
                 key="error")
    assert_error(member.post("/v1/endpoints/scaled/explain", json={"instance": huge[0]}), 422, "'f2'", "preprocessing")
    ok = member.post("/v1/endpoints/scaled/predict", json={"instances": [[0.0, 0.0, 0.01, 0.0]]})
    assert ok.status_code == 200, ok.text


def test_the_catalog_offers_exactly_the_activations_the_kernels_have(member, deployed):
    """selu, softplus and swish passed the 422 check, then failed the job in the worker; gelu passed for
    an LSTM, whose kernels lack it. The catalog's lists come from keras.activations now."""
    from aiaas_core.keras import activations

    body = {"dataset_id": deployed["dataset_id"], "architecture": "mlp"}
    for name in ("selu", "softplus", "swish"):
        r = member.post("/v1/jobs", json={**body, "hyperparameters": {"epochs": 1, "activation": name}})
        assert_error(r, 422, "activation", name, "relu")
    r = member.post("/v1/jobs", json={**body, "architecture": "lstm", "hyperparameters": {"epochs": 1, "activation": "gelu"}})
    assert_error(r, 422, "activation", "gelu")
    schemas = {a["name"]: a for a in member.get("/v1/architectures").json()}
    hidden = [a for a in activations.KNOWN if a != "softmax"]
    assert schemas["mlp"]["hyperparameters_schema"]["properties"]["activation"]["enum"] == hidden
    assert schemas["cnn"]["hyperparameters_schema"]["properties"]["activation"]["enum"] == hidden
    assert schemas["lstm"]["hyperparameters_schema"]["properties"]["activation"]["enum"] == list(activations.RECURRENT)


def test_a_damaged_artifact_is_an_error_that_says_so(server, member, deployed, tmp_path):
    """A flipped byte in a stored model fails AES-GCM's check; the answer says the stored model is damaged
    and must be restored (it was an opaque 500), on deploy and download alike, never a server path."""
    r = member.post("/v1/jobs", json={"dataset_id": deployed["dataset_id"], "architecture": "logistic",
                                      "hyperparameters": {"epochs": 1}})
    job = wait_job(member, r.json()["id"])
    assert job["state"] == "succeeded", job
    version = job["model_version_id"]
    path = server.data_dir / "artifacts" / "models" / f"{version}.enc"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    for r in (member.post("/v1/endpoints", json={"name": "damaged", "model_version_id": version}),
              member.get(f"/v1/model-versions/{version}/download", params={"format": "safetensors"})):
        message = assert_error(r, 500, "integrity check", version, "restore it from a backup")
        assert str(server.data_dir) not in message
    assert member.get("/v1/endpoints/damaged").status_code == 404  # nothing half-created
