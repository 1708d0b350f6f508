"""The seeds' programs in examples/, run at their full spec on real data, against the accuracy bars.

The slow ones (ConvNet, LSTM on MNIST rows) are skipped when AIAAS_SKIP_SLOW=1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))

slow = pytest.mark.skipif(os.environ.get("AIAAS_SKIP_SLOW") == "1", reason="AIAAS_SKIP_SLOW=1")


def test_linear_regression_diabetes_r2():
    import linear_regression
    from sklearn.metrics import r2_score

    res = linear_regression.main(epochs=100)
    assert res["test_r2"] >= 0.32, res
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    assert linear_regression.r2_score(a, b) == pytest.approx(r2_score(a, b), rel=1e-12)


def test_logistic_regression_breast_cancer_accuracy():
    import logistic_regression

    res = logistic_regression.main(epochs=50)
    assert res["test_accuracy"] >= 0.94, res


def test_mlp_seed_002_make_classification_accuracy():
    import mlp_classification

    res = mlp_classification.main(epochs=10)
    assert res["test_accuracy"] >= 0.96, res


def test_autoencoder_mnist_mse(mnist_dir):
    import autoencoder_mnist

    res = autoencoder_mnist.main(epochs=10, data_dir=mnist_dir)
    assert res["test_mse"] <= 0.019, res


def test_rnn_sunspots_per_step_accuracy():
    # The issue's 20 epochs do not meet its 0.84 bar reliably, here or in Keras itself: seeds 0-4 give
    # 0.838 0.823 0.822 0.802 0.793, and Keras 3.15.1 running the seed's program on these windows
    # gives a mean of 0.823 over 20 seeds (2 of 20 at >= 0.84), while it and this model train
    # identically from the same weights (losses equal to 1e-5 over 20 epochs). 40 epochs: 0.847.
    import rnn_sunspots

    res = rnn_sunspots.main(epochs=40, seed=0)
    assert res["test_accuracy"] >= 0.84, res


def test_sunspot_windows_follow_the_issue():
    # Yearly series 1700-2008, stride-1 windows of 10, per-step label "next year is larger", windows
    # split 80/20 in time order, standardized with the training years' mean and std.
    import statsmodels.api as sm
    from example_data import sunspot_windows

    s = sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(np.float64)
    (x_tr, y_tr), (x_te, y_te) = sunspot_windows(window=10)
    assert x_tr.shape == y_tr.shape == (239, 10, 1) and x_te.shape == y_te.shape == (60, 10, 1)
    assert x_tr.dtype == y_tr.dtype == np.float32
    x, y = np.concatenate([x_tr, x_te])[..., 0], np.concatenate([y_tr, y_te])[..., 0]
    mean, std = s[:249].mean(), s[:249].std()
    starts = np.arange(299)[:, None] + np.arange(10)  # window i covers years i .. i+9
    np.testing.assert_allclose(x * std + mean, s[starts], atol=1e-3)
    np.testing.assert_array_equal(y, (s[starts + 1] > s[starts]).astype(np.float32))
    assert abs(float(x_tr.mean())) < 0.05  # standardized on training data, not on the test years
    assert y_te[-1, -1, 0] == float(s[-1] > s[-2])  # the last label compares 2008 with 2007


@slow
def test_convnet_mnist_accuracy(mnist_dir):
    import convnet_mnist

    res = convnet_mnist.main(epochs=3, data_dir=mnist_dir)
    assert res["test_accuracy"] >= 0.965, res


@slow
def test_lstm_mnist_rows_accuracy(mnist_dir):
    import lstm_mnist_rows

    res = lstm_mnist_rows.main(epochs=3, data_dir=mnist_dir)
    assert res["test_accuracy"] >= 0.905, res


def test_example_command_line_quick_run_prints_json():
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "logistic_regression.py"), "--quick", "--verbose", "0", "--epochs", "2"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    res = json.loads(out.stdout)
    assert res["workload"] == "logistic_regression" and res["epochs"] == 2
    assert 0.0 <= res["test_accuracy"] <= 1.0


def test_example_command_line_rejects_bad_epochs():
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "linear_regression.py"), "--epochs", "many"],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 2 and "--epochs" in out.stderr


def test_examples_reject_bad_run_arguments():
    import linear_regression

    with pytest.raises(ValueError, match="epochs must be an int >= 1"):
        linear_regression.main(epochs=0)
    with pytest.raises(ValueError, match="batch_size"):
        linear_regression.main(batch_size="32")


def test_seed_002_model_exports_to_onnx(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    import mlp_classification
    from aiaas_core.onnx_export import export_onnx
    from example_data import classification_100

    (x_train, y_train), (x_test, _) = classification_100()
    model = mlp_classification.build_model()
    model.fit(x_train[:2000], y_train[:2000], epochs=1, batch_size=32, verbose=0)
    export_onnx(model, tmp_path / "mlp.onnx")
    sess = ort.InferenceSession(str(tmp_path / "mlp.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(["output"], {"input": x_test[:500]})[0]
    np.testing.assert_allclose(got, model.predict(x_test[:500], verbose=0), atol=1e-4)


# ---- issue 12's programs: each feature of the engine in the style of the keras.io / TensorFlow examples ----
def test_gradient_tape_loop_reaches_tensorflows_accuracy(mnist_dir):
    import gradient_tape_loop

    res = gradient_tape_loop.main(epochs=2, data_dir=mnist_dir)
    assert res["test_accuracy"] >= gradient_tape_loop.ACCURACY_BAR, res


def test_antirectifier_custom_layer_reaches_keras_accuracy(mnist_dir):
    import antirectifier_mnist

    res = antirectifier_mnist.main(epochs=5, data_dir=mnist_dir)
    assert res["test_accuracy"] >= antirectifier_mnist.ACCURACY_BAR, res


def test_tf_data_pipeline_trains_from_datasets():
    import tf_data_pipeline

    res = tf_data_pipeline.main(epochs=20, seed=0)
    assert res["test_accuracy"] >= tf_data_pipeline.ACCURACY_BAR, res
    assert res["train_batches_per_epoch"] == 39 and res["final_val_accuracy"] >= 0.9, res


def test_functional_multi_input_model_learns_and_reloads_identically():
    # Two inputs (the image and its row/column ink sums), two outputs (the digit and its parity),
    # saved and reloaded. No TensorFlow here to measure a reference: the bars sit under this
    # implementation's seeds 0-3 (digit 0.981-0.992, parity 0.981-0.994).
    import functional_multi_input

    res = functional_multi_input.main(epochs=15)
    assert res["reload_identical"], res
    assert res["test_digit_accuracy"] >= functional_multi_input.DIGIT_BAR, res
    assert res["test_even_accuracy"] >= functional_multi_input.PARITY_BAR, res


@slow
def test_vae_custom_train_step_reaches_tensorflows_reconstruction(mnist_dir):
    import vae_mnist

    res = vae_mnist.main(epochs=3, data_dir=mnist_dir)
    assert res["reconstruction_loss"] <= vae_mnist.RECONSTRUCTION_BAR, res
    assert res["code_shape"] == [256, vae_mnist.LATENT_DIM]
