"""The whole flow for every catalog architecture on real small data: upload -> train -> version ->
deploy -> predict (checked against the downloaded model) -> evaluate."""

from __future__ import annotations

import json
import re
import zipfile

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits

from service_support import upload
from helpers import deploy, local_model, local_predict, predict, train


def test_logistic_on_breast_cancer_csv(make_tenant, data_files, tmp_path):
    _, c = make_tenant("logistic")
    m = c["member"]
    ds, job = train(m, data_files["breast_cancer_csv"], "logistic", {"epochs": 20, "learning_rate": 0.05},
                    label_column="target")
    version = m.get(f"/v1/model-versions/{job['model_version_id']}").json()
    assert version["lineage"]["dataset_id"] == ds["id"] and version["lineage"]["architecture"] == "logistic"
    assert version["lineage"]["hyperparameters"]["learning_rate"] == 0.05
    assert version["input_shape"] == [30] and version["classes"] == ["0", "1"]
    assert version["metrics"]["accuracy"] > 0.9

    deploy(m, "cancer", version["id"])
    bc = load_breast_cancer()
    x_test, y_test = bc.data[300:400], bc.target[300:400]
    out = predict(c["predict"], "cancer", x_test)  # a predict-only key may predict
    assert out["model_version_id"] == version["id"]
    labels = np.array([p["label"] for p in out["predictions"]])
    probs = np.array([[p["probabilities"]["0"], p["probabilities"]["1"]] for p in out["predictions"]])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(probs, local_predict(local_model(m, version["id"], tmp_path), x_test), atol=1e-5)
    assert (labels == y_test).mean() > 0.9

    test_ds = upload(m, data_files["breast_cancer_test_csv"], "held-out", label_column="target").json()
    ev = m.post(f"/v1/model-versions/{version['id']}/evaluate", json={"dataset_id": test_ds["id"]})
    assert ev.status_code == 200, ev.text
    assert ev.json()["rows"] == 100
    assert ev.json()["metrics"]["accuracy"] == pytest.approx((labels == y_test).mean())


def test_mlp_on_digits_npz(make_tenant, data_files, tmp_path):
    _, c = make_tenant("mlp")
    m = c["member"]
    _, job = train(m, data_files["digits_npz"], "mlp",
                   {"epochs": 20, "learning_rate": 0.01, "units": [32], "validation_split": 0.2})
    assert job["metrics"]["val_accuracy"] > 0.85
    deploy(m, "digits", job["model_version_id"])
    digits = load_digits()
    x = digits.data[1000:1100]
    out = predict(m, "digits", x)["predictions"]
    probs = np.array([[p["probabilities"][str(k)] for k in range(10)] for p in out])
    np.testing.assert_allclose(probs, local_predict(local_model(m, job["model_version_id"], tmp_path), x), atol=1e-5)
    assert (np.array([p["label"] for p in out]) == digits.target[1000:1100]).mean() > 0.8


def test_linear_on_diabetes_reaches_least_squares(make_tenant, data_files, tmp_path):
    _, c = make_tenant("linear")
    m = c["member"]
    _, job = train(m, data_files["diabetes_npz"], "linear",
                   {"epochs": 60, "learning_rate": 0.01, "optimizer": "sgd"})
    d = load_diabetes()
    x, y = d.data[:300], d.target[:300]
    design = np.c_[x, np.ones(len(x))]
    best_mse = float(np.mean((design @ np.linalg.lstsq(design, y, rcond=None)[0] - y) ** 2))
    assert job["metrics"]["loss"] < 1.1 * best_mse  # within 10% of the least-squares optimum
    deploy(m, "diabetes", job["model_version_id"])
    out = predict(m, "diabetes", x[:20])["predictions"]
    assert all(isinstance(v, float) for v in out)
    local = local_predict(local_model(m, job["model_version_id"], tmp_path), x[:20])[:, 0]
    np.testing.assert_allclose(out, local, rtol=1e-5, atol=1e-3)


def test_cnn_on_mnist_idx(make_tenant, data_files, mnist_dir, tmp_path):
    from aiaas_core.data import load_idx

    _, c = make_tenant("cnn")
    m = c["member"]
    ds, job = train(m, data_files["mnist_images"], "cnn",
                    {"epochs": 3, "learning_rate": 0.01, "filters": [8], "dense_units": 32, "validation_split": 0.2},
                    labels=data_files["mnist_labels"])
    assert ds["format"] == "idx" and ds["x_shape"] == [28, 28]
    assert job["metrics"]["val_accuracy"] > 0.75
    deploy(m, "mnist", job["model_version_id"])
    images = load_idx(mnist_dir / "t10k-images-idx3-ubyte.gz")[9000:9250].astype(np.float32)
    labels = load_idx(mnist_dir / "t10k-labels-idx1-ubyte.gz")[9000:9250]
    out = predict(c["predict"], "mnist", images)["predictions"]  # raw 0..255 pixels, as users send them
    probs = np.array([[p["probabilities"][str(k)] for k in range(10)] for p in out])
    np.testing.assert_allclose(probs, local_predict(local_model(m, job["model_version_id"], tmp_path), images), atol=1e-5)
    assert (np.array([p["label"] for p in out]) == labels).mean() > 0.8
    images = images[:50]
    r = c["predict"].post("/v1/endpoints/mnist/predict", json={"instances": images.reshape(50, -1).tolist()})
    assert r.status_code == 422 and "[n, 28, 28]" in r.json()["detail"] and "float32" in r.json()["detail"]


def test_lstm_on_digit_rows_as_sequences(make_tenant, data_files):
    _, c = make_tenant("lstm")
    m = c["member"]
    _, job = train(m, data_files["digits_seq_npz"], "lstm",
                   {"epochs": 15, "learning_rate": 0.02, "units": 16, "validation_split": 0.2})
    assert job["metrics"]["val_accuracy"] > 0.6 and job["metrics"]["accuracy"] > 0.9
    deploy(m, "seq", job["model_version_id"])
    digits = load_digits()
    out = predict(m, "seq", digits.images[1000:1100] / 16)["predictions"]
    assert (np.array([p["label"] for p in out]) == digits.target[1000:1100]).mean() > 0.6


def test_autoencoder_reconstructs(make_tenant, data_files):
    _, c = make_tenant("ae")
    m = c["member"]
    _, job = train(m, data_files["digits_npz"], "autoencoder", {"epochs": 20, "learning_rate": 0.01, "encoding_dim": 8})
    epochs = [json.loads(line.split(" ", 2)[2]) for line in m.get(f"/v1/jobs/{job['id']}/logs").json()["lines"]
              if line.split(" ")[1] == "epoch"]
    assert [e["epoch"] for e in epochs] == list(range(1, 21))
    assert epochs[-1]["metrics"]["loss"] < 0.7 * epochs[0]["metrics"]["loss"]
    deploy(m, "ae", job["model_version_id"])
    x = load_digits().data[:5]
    out = np.array(predict(m, "ae", x)["predictions"])
    assert out.shape == (5, 64) and np.isfinite(out).all()


def test_custom_architecture_config(make_tenant, data_files, tmp_path):
    from aiaas_core import keras

    net = keras.Sequential([keras.Input((64,)), keras.layers.Dense(24, activation="tanh"),
                            keras.layers.Dense(10, activation="softmax")])
    net.save(str(tmp_path / "arch.zip"))
    config = json.loads(zipfile.ZipFile(tmp_path / "arch.zip").read("config.json"))["model"]
    _, c = make_tenant("custom")
    m = c["member"]
    _, job = train(m, data_files["digits_npz"], config, {"epochs": 10, "learning_rate": 0.01})
    assert job["metrics"]["accuracy"] > 0.85
    version = m.get(f"/v1/model-versions/{job['model_version_id']}").json()
    assert version["lineage"]["architecture"]["class_name"] == "Sequential"
    ds = m.get("/v1/datasets").json()[0]
    wrong_in = json.loads(json.dumps(config))
    wrong_in["config"]["layers"][0]["config"]["batch_shape"] = [None, 30]
    r = m.post("/v1/jobs", json={"dataset_id": ds["id"], "architecture": wrong_in})
    assert r.status_code == 422 and "[30]" in r.json()["detail"] and "[64]" in r.json()["detail"]
    wrong_out = json.loads(json.dumps(config))
    wrong_out["config"]["layers"][-1]["config"]["units"] = 3
    r = m.post("/v1/jobs", json={"dataset_id": ds["id"], "architecture": wrong_out})
    assert r.status_code == 422 and "10 classes" in r.json()["detail"]
    for bad in ({"class_name": "Sequential", "config": {"layers": [{"class_name": "Exec", "config": {}}]}},
                {"class_name": "Lambda", "config": {"function": "import os"}}):
        r = m.post("/v1/jobs", json={"dataset_id": ds["id"], "architecture": bad})
        assert r.status_code == 422 and "invalid architecture config" in r.json()["detail"], r.text


def test_onnx_download(make_tenant, data_files):
    import importlib.util

    _, c = make_tenant("onnx")
    m = c["member"]
    _, job = train(m, data_files["digits_npz"], "mlp", {"epochs": 3, "units": [16]})
    r = m.get(f"/v1/model-versions/{job['model_version_id']}/download", params={"format": "onnx"})
    if importlib.util.find_spec("aiaas_core.onnx_export") is None:
        assert r.status_code == 501 and "onnx" in r.json()["detail"].lower()
        return
    assert r.status_code == 200, r.text
    import onnxruntime as ort

    sess = ort.InferenceSession(r.content, providers=["CPUExecutionProvider"])
    x = load_digits().data[:7].astype(np.float32)
    deploy(m, "onnx", job["model_version_id"])
    served = predict(m, "onnx", x)["predictions"]
    from aiaas_core.data import preprocessor_from_config

    sig = m.get(f"/v1/model-versions/{job['model_version_id']}").json()
    assert sig["input_shape"] == [64]
    # the ONNX graph is the network alone; apply the saved preprocessing the way the service does
    zip_bytes = m.get(f"/v1/model-versions/{job['model_version_id']}/download").content
    import io

    pre = preprocessor_from_config(json.loads(zipfile.ZipFile(io.BytesIO(zip_bytes)).read("config.json"))["preprocessing"])
    onnx_out = sess.run(None, {sess.get_inputs()[0].name: pre.transform(x)})[0]
    np.testing.assert_allclose(onnx_out, [[p["probabilities"][str(k)] for k in range(10)] for p in served], atol=1e-5)
    assert m.get(f"/v1/model-versions/{job['model_version_id']}/download", params={"format": "pickle"}).status_code == 422


def test_imputed_missing_values_and_one_hot_labels(make_tenant, tmp_path):
    from service_support import write_csv

    bc = load_breast_cancer()
    x = bc.data[:300].copy()
    rng = np.random.default_rng(0)
    holes = rng.random(x.shape) < 0.05
    x[holes] = np.nan
    path = write_csv(tmp_path / "holes.csv", x, np.where(bc.target[:300] == 1, "benign", "malignant"), label="diagnosis")
    path.write_text(re.sub(r"\bnan\b", "", path.read_text()))  # empty cells, as spreadsheets write them
    _, c = make_tenant("impute")
    m = c["member"]
    ds, job = train(m, path, "mlp", {"epochs": 15, "learning_rate": 0.01, "units": [16]},
                    label_column="diagnosis", missing="mean", one_hot="true")
    assert ds["summary"]["missing_values"]["total"] == int(holes.sum())
    assert ds["summary"]["classes"] == ["benign", "malignant"] and ds["preprocessing"]["one_hot"] is True
    assert job["metrics"]["accuracy"] > 0.9
    deploy(m, "holes", job["model_version_id"])
    row = bc.data[350].tolist()
    row[3] = None  # a missing value: filled with the training mean, as at training time
    out = predict(m, "holes", [row, bc.data[351].tolist()])["predictions"]
    assert {p["label"] for p in out} <= {"benign", "malignant"}
    ev = m.post(f"/v1/model-versions/{job['model_version_id']}/evaluate", json={"dataset_id": ds["id"]})
    assert ev.status_code == 200 and ev.json()["metrics"]["accuracy"] > 0.9 and ev.json()["rows"] == 300
