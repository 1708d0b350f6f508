"""Integrated-gradients explanations: input gradients vs finite differences, completeness
(sum of attributions = f(x) - f(baseline)) on trained models through a real server, image maps."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

import aiaas_core.keras as keras
from aiaas_core.service.explain import integrated_gradients, output_and_input_gradient
from helpers import deploy, train


def _small_model() -> keras.Sequential:
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.layers.Dense(6, activation="tanh", input_shape=(4,)),
                              keras.layers.BatchNormalization(), keras.layers.Dropout(0.5),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(64, 4)).astype(np.float32), rng.integers(0, 3, 64), epochs=2, verbose=0)
    return model


def test_input_gradient_matches_central_differences():
    model = _small_model()
    x = np.random.default_rng(1).normal(size=(2, 4)).astype(np.float32)
    out, grad = output_and_input_gradient(model, x, 1)
    np.testing.assert_allclose(out, model.predict(x, verbose=0), atol=1e-6)  # inference mode: no dropout
    eps = 1e-2
    for i in range(4):
        step = np.zeros_like(x)
        step[:, i] = eps
        fd = (model.predict(x + step, verbose=0)[:, 1] - model.predict(x - step, verbose=0)[:, 1]) / (2 * eps)
        np.testing.assert_allclose(grad[:, i], fd, atol=2e-3)


def test_completeness_and_errors_locally():
    model = _small_model()
    x = np.array([0.5, -1.0, 2.0, 0.3], np.float32)
    base = np.array([0.1, 0.1, -0.2, 0.0], np.float32)
    res = integrated_gradients(model, x, base, target=2, steps=128)
    f = model.predict(np.stack([x, base]), verbose=0)[:, 2]
    assert res["attributions"].shape == (4,)
    assert abs(res["attributions"].sum() - (f[0] - f[1])) < 1e-3 and abs(res["convergence_delta"]) < 1e-3
    assert res["target"] == 2 and res["prediction"] == pytest.approx(f[0], abs=1e-6)
    with pytest.raises(ValueError, match="steps"):
        integrated_gradients(model, x, base, steps=0)
    with pytest.raises(ValueError, match="baseline has shape"):
        integrated_gradients(model, x, base[:3])
    with pytest.raises(ValueError, match="target must be an output index"):
        integrated_gradients(model, x, base, target=3)


@pytest.fixture(scope="module")
def tenant(make_tenant):
    return make_tenant("explain")[1]


def test_explain_mlp_completeness_through_the_api(tenant, data_files):
    m = tenant["member"]
    _, job = train(m, data_files["digits_npz"], "mlp", {"epochs": 5, "learning_rate": 0.01, "units": [16]})
    deploy(m, "digits-explain", job["model_version_id"])
    x = load_digits().data[1234]
    probs = m.post("/v1/endpoints/digits-explain/predict", json={"instances": [x.tolist()]}).json()["predictions"][0]
    zero = m.post("/v1/endpoints/digits-explain/predict", json={"instances": [[0.0] * 64]}).json()["predictions"][0]
    r = tenant["predict"].post("/v1/endpoints/digits-explain/explain", json={"instance": x.tolist(), "steps": 128})
    assert r.status_code == 200, r.text
    out = r.json()
    label = out["target_label"]
    assert label == str(probs["label"]) and out["model_version_id"] == job["model_version_id"]
    assert len(out["attributions"]) == 64
    f_x, f_0 = probs["probabilities"][label], zero["probabilities"][label]
    assert out["prediction"] == pytest.approx(f_x, abs=1e-5) and out["baseline_prediction"] == pytest.approx(f_0, abs=1e-5)
    assert abs(sum(out["attributions"]) - (f_x - f_0)) < 1e-2
    # a chosen class and baseline: attributions explain that output against that reference
    base = load_digits().data[7]
    r = m.post("/v1/endpoints/digits-explain/explain", json={"instance": x.tolist(), "baseline": base.tolist(),
                                                             "target": "3", "steps": 128})
    assert r.status_code == 200, r.text
    out = r.json()
    f_b = m.post("/v1/endpoints/digits-explain/predict", json={"instances": [base.tolist()]}).json()["predictions"][0]
    f_x3, f_b3 = probs["probabilities"]["3"], f_b["probabilities"]["3"]
    assert out["target"] == 3 and abs(sum(out["attributions"]) - (f_x3 - f_b3)) < 1e-2
    assert out["prediction"] == pytest.approx(f_x3, abs=1e-5)
    for bad, fragment in (({"instance": [1.0] * 63}, "expected [64]"), ({"instance": x.tolist(), "target": "cat"}, "not one of"),
                          ({"instance": x.tolist(), "target": 10}, "output index"), ({"instance": x.tolist(), "steps": 0}, "steps")):
        r = m.post("/v1/endpoints/digits-explain/explain", json=bad)
        assert r.status_code == 422 and fragment in r.json()["detail"], (bad, r.text)


def test_explain_convnet_gives_an_image_map(tenant, data_files, mnist_dir):
    from aiaas_core.data import load_idx

    m = tenant["member"]
    _, job = train(m, data_files["mnist_images"], "cnn", {"epochs": 1, "learning_rate": 0.01, "filters": [4], "dense_units": 16},
                   labels=data_files["mnist_labels"])
    deploy(m, "mnist-explain", job["model_version_id"])
    image = load_idx(mnist_dir / "t10k-images-idx3-ubyte.gz")[9100].astype(np.float32)  # raw 0..255 pixels
    r = m.post("/v1/endpoints/mnist-explain/explain", json={"instance": image.tolist(), "steps": 200})
    assert r.status_code == 200, r.text
    out = r.json()
    attr = np.array(out["attributions"])
    assert attr.shape == (28, 28)
    assert np.all(attr[image == 0] == 0)  # zero baseline: pixels equal to it carry no attribution
    assert abs(attr.sum() - (out["prediction"] - out["baseline_prediction"])) < 1e-2
    probs = m.post("/v1/endpoints/mnist-explain/predict", json={"instances": [image.tolist()]}).json()["predictions"][0]
    assert out["prediction"] == pytest.approx(probs["probabilities"][out["target_label"]], abs=1e-5)
