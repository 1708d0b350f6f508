"""Keras 3's confusion-count, ranking and regression metrics against sklearn.metrics (where it has
the same metric) or float64 transcriptions of Keras's formulas; weighted updates accumulate over
batches; names resolve in compile as Keras resolves them; configs round-trip."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from aiaas_core import keras
from aiaas_core.keras import metrics

RNG = np.random.default_rng(7)
Y = RNG.integers(0, 2, 300)
P = RNG.random(300)
W = RNG.uniform(0.2, 2.0, 300)


def _batched(metric, y, p, w=None, parts=3):
    for idx in np.array_split(np.arange(len(y)), parts):
        metric.update_state(y[idx], p[idx], None if w is None else w[idx])
    return metric.result()


@pytest.mark.parametrize("weighted", [False, True])
def test_confusion_counts_precision_recall_match_sklearn(weighted):
    w = W if weighted else None
    cm = sk.confusion_matrix(Y, P > 0.5, sample_weight=w)
    for cls, want in ((metrics.TrueNegatives, cm[0, 0]), (metrics.FalsePositives, cm[0, 1]),
                      (metrics.FalseNegatives, cm[1, 0]), (metrics.TruePositives, cm[1, 1])):
        assert float(_batched(cls(), Y, P, w)) == pytest.approx(want, rel=1e-9)
    assert float(_batched(metrics.Precision(), Y, P, w)) == pytest.approx(sk.precision_score(Y, P > 0.5, sample_weight=w))
    assert float(_batched(metrics.Recall(), Y, P, w)) == pytest.approx(sk.recall_score(Y, P > 0.5, sample_weight=w))


def test_several_thresholds_give_a_vector():
    got = metrics.Precision(thresholds=[0.3, 0.7])
    got.update_state(Y, P)
    want = [sk.precision_score(Y, P > t) for t in (0.3, 0.7)]
    np.testing.assert_allclose(got.result(), want, rtol=1e-6)
    tp = metrics.TruePositives(thresholds=[0.2, 0.9])
    tp.update_state(Y, P)
    np.testing.assert_allclose(tp.result(), [((P > t) & (Y == 1)).sum() for t in (0.2, 0.9)])


def test_top_k_and_class_id():
    y = np.eye(4)[RNG.integers(0, 4, 60)]
    p = RNG.random((60, 4))
    m = metrics.Precision(class_id=2)
    m.update_state(y, p)
    assert float(m.result()) == pytest.approx(sk.precision_score(y[:, 2], p[:, 2] > 0.5))
    m = metrics.Recall(top_k=1)
    m.update_state(y, p)
    # top_k=1: a value is positive when it is its row's largest and above 0.5
    pred = (p == p.max(1, keepdims=True)) & (p > 0.5)
    assert float(m.result()) == pytest.approx((pred & (y == 1)).sum() / y.sum())


@pytest.mark.parametrize("weighted", [False, True])
def test_roc_auc_equals_sklearn_when_scores_fall_between_thresholds(weighted):
    # scores strictly between Keras's thresholds i/199: the 200-threshold curve is the exact ROC curve
    p = (RNG.integers(0, 199, 300) + 0.5) / 199
    w = W if weighted else None
    got = _batched(metrics.AUC(), Y, p, w)
    assert float(got) == pytest.approx(sk.roc_auc_score(Y, p, sample_weight=w), abs=1e-9)


def _keras_pr_auc(y, p, n=200):
    th = np.array([-1e-7] + [(i + 1) / (n - 1) for i in range(n - 2)] + [1 + 1e-7])
    above = p[None] > th[:, None]
    tp = (above & (y == 1)).sum(1).astype(float)
    fp = (above & (y == 0)).sum(1).astype(float)
    fn = (~above & (y == 1)).sum(1).astype(float)
    total = 0.0
    for i in range(n - 1):
        dtp = tp[i] - tp[i + 1]
        dp = (tp[i] + fp[i]) - (tp[i + 1] + fp[i + 1])
        slope = dtp / dp if dp > 0 else 0.0
        intercept = tp[i + 1] - slope * (tp[i + 1] + fp[i + 1])
        p0, p1 = tp[i] + fp[i], tp[i + 1] + fp[i + 1]
        ratio = p0 / p1 if (p0 > 0 and p1 > 0) else 1.0
        denom = tp[i + 1] + fn[i + 1]
        total += slope * (dtp + intercept * np.log(ratio)) / denom if denom > 0 else 0.0
    return total


def test_pr_auc_matches_keras_interpolation_and_is_near_average_precision():
    got = float(_batched(metrics.AUC(curve="PR"), Y, P))
    assert got == pytest.approx(_keras_pr_auc(Y, P), rel=1e-9)
    assert got == pytest.approx(sk.average_precision_score(Y, P), abs=0.03)


def test_auc_from_logits_and_config_round_trip():
    z = np.log(P / (1 - P))
    a, b = metrics.AUC(from_logits=True), metrics.AUC()
    a.update_state(Y, z)
    b.update_state(Y, P)
    assert float(a.result()) == pytest.approx(float(b.result()), abs=1e-6)
    c = metrics.deserialize(metrics.serialize(metrics.AUC(curve="PR", num_thresholds=50)))
    assert c.curve == "PR" and c.num_thresholds == 50


def test_top_k_accuracies_match_sklearn():
    ids = RNG.integers(0, 6, 80)
    p = RNG.random((80, 6))
    for k in (1, 3):
        want = sk.top_k_accuracy_score(ids, p, k=k, labels=range(6))
        m = metrics.SparseTopKCategoricalAccuracy(k=k)
        m.update_state(ids, p)
        assert float(m.result()) == pytest.approx(want)
        m = metrics.TopKCategoricalAccuracy(k=k)
        m.update_state(np.eye(6)[ids], p)
        assert float(m.result()) == pytest.approx(want)
    assert metrics.sparse_top_k_categorical_accuracy(ids, p, k=2).shape == (80,)


@pytest.mark.parametrize("agg", ["uniform_average", "variance_weighted_average", None])
def test_r2_matches_sklearn(agg):
    a = RNG.standard_normal((90, 3))
    b = a + 0.5 * RNG.standard_normal((90, 3))
    got = _batched(metrics.R2Score(class_aggregation=agg), a, b, W[:90])
    want = sk.r2_score(a, b, sample_weight=W[:90], multioutput={None: "raw_values", "uniform_average": "uniform_average",
                                                          "variance_weighted_average": "variance_weighted"}[agg])
    np.testing.assert_allclose(got, want, rtol=1e-5)
    adj = _batched(metrics.R2Score(num_regressors=2), a, b)
    r2 = sk.r2_score(a, b)
    assert float(adj) == pytest.approx(1 - (1 - r2) * 89 / 87, rel=1e-6)


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
def test_f1_matches_sklearn(average):
    ids = RNG.integers(0, 4, 120)
    y = np.eye(4)[ids]
    p = RNG.random((120, 4))
    got = _batched(metrics.F1Score(average=average), y, p)
    want = sk.f1_score(ids, p.argmax(1), average=average, labels=range(4))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    got = _batched(metrics.F1Score(average=average, threshold=0.6), y, p)
    want = sk.f1_score(y.astype(int), (p > 0.6).astype(int), average=average, zero_division=0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_mean_iou_matches_sklearn_jaccard():
    t = RNG.integers(0, 4, 200)
    p = RNG.integers(0, 4, 200)
    m = metrics.MeanIoU(num_classes=5)  # class 4 never appears: left out of the mean, as Keras does
    m.update_state(t, p)
    assert float(m.result()) == pytest.approx(sk.jaccard_score(t, p, average="macro"))
    m = metrics.MeanIoU(num_classes=4, sparse_y_pred=False)
    m.update_state(t, np.eye(4)[p])
    assert float(m.result()) == pytest.approx(sk.jaccard_score(t, p, average="macro"))
    with pytest.raises(ValueError, match="num_classes"):
        metrics.MeanIoU(num_classes=0)


def test_rmse():
    a, b = RNG.standard_normal((40, 2)), RNG.standard_normal((40, 2))
    got = _batched(metrics.RootMeanSquaredError(), a, b, W[:40])
    assert float(got) == pytest.approx(np.sqrt(sk.mean_squared_error(a, b, sample_weight=W[:40])), rel=1e-6)  # y_pred read as float32


def test_names_in_compile_as_keras_resolves_them(tmp_path):
    x = RNG.standard_normal((64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    m.compile("adam", "binary_crossentropy",
              metrics=["precision", "recall", "auc", keras.metrics.AUC(curve="PR", name="prc"),
                       "true_positives", "FalseNegatives", keras.metrics.F1Score(threshold=0.5)])
    hist = m.fit(x, y, epochs=1, batch_size=16, verbose=0).history
    assert {"precision", "recall", "auc", "prc", "true_positives", "FalseNegatives", "f1_score"} <= set(hist)
    m.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0)[:4], m.evaluate(x, y, verbose=0)[:4], rtol=1e-6)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="thresholds"):
        metrics.Precision(thresholds=1.5)
    with pytest.raises(ValueError, match="top_k"):
        metrics.Recall(top_k=0)
    with pytest.raises(ValueError, match="curve"):
        metrics.AUC(curve="XY")
    with pytest.raises(ValueError, match="average"):
        metrics.F1Score(average="samples")
    with pytest.raises(ValueError, match="same shape"):
        metrics.Precision().update_state(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="unknown metric"):
        metrics.get("precission", "mse")


def test_vector_results_are_logged_and_printed(capsys):
    x = RNG.standard_normal((32, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, 32)]
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    m.compile("adam", "categorical_crossentropy", [metrics.F1Score(), metrics.Precision(thresholds=[0.3, 0.6])])
    hist = m.fit(x, y, epochs=1, batch_size=16, verbose=2).history
    assert np.shape(hist["f1_score"][0]) == (3,) and np.shape(hist["precision"][0]) == (2,)
    assert "f1_score: [" in capsys.readouterr().out


def test_multi_label_auc_is_the_mean_of_per_label_areas():
    t = RNG.integers(0, 2, (200, 3))
    p = (RNG.integers(0, 199, (200, 3)) + 0.5) / 199
    m = metrics.AUC(multi_label=True)
    _batched(m, t, p)
    assert float(m.result()) == pytest.approx(sk.roc_auc_score(t, p, average="macro"), abs=1e-9)
    weighted = metrics.AUC(multi_label=True, label_weights=[1.0, 0.0, 3.0])
    weighted.update_state(t, p)
    per = [sk.roc_auc_score(t[:, i], p[:, i]) for i in range(3)]
    assert float(weighted.result()) == pytest.approx((per[0] + 3 * per[2]) / 4, abs=1e-9)
    pr = metrics.AUC(multi_label=True, curve="PR")
    pr.update_state(t, p)
    want = np.mean([_keras_pr_auc(t[:, i], p[:, i]) for i in range(3)])
    assert float(pr.result()) == pytest.approx(want, rel=1e-9)
    again = metrics.deserialize(metrics.serialize(weighted))
    assert again.multi_label and again.label_weights == [1.0, 0.0, 3.0]
    with pytest.raises(ValueError, match="label_weights"):
        metrics.AUC(label_weights=[1, 2])


@pytest.mark.parametrize("name,fn", [("mape", "mean_absolute_percentage_error"), ("msle", "mean_squared_logarithmic_error"),
                                     ("kld", "kl_divergence"), ("poisson", "poisson"), ("hinge", "hinge"),
                                     ("squared_hinge", "squared_hinge"), ("categorical_hinge", "categorical_hinge"),
                                     ("logcosh", "log_cosh")])
def test_loss_named_metrics_are_weighted_means_of_the_loss_functions(name, fn):
    from aiaas_core.keras import losses
    t = RNG.uniform(0.1, 1.0, (30, 3))
    p = RNG.uniform(0.1, 1.0, (30, 3))
    m = metrics.get(name, "mse")
    got = _batched(m, t, p, W[:30])
    per = np.asarray(getattr(losses, fn)(t, p.astype(np.float32)), np.float64)
    assert m.name == name and float(got) == pytest.approx((per * W[:30]).sum() / W[:30].sum(), rel=1e-5)
    assert type(metrics.deserialize(metrics.serialize(m))) is type(m)
