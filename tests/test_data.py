"""aiaas_core.data against scikit-learn and against hand-made (and malformed) files."""

from __future__ import annotations

import gzip
import json
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn import model_selection, preprocessing
from sklearn.impute import SimpleImputer

from aiaas_core import data


# ---- CSV ---------------------------------------------------------------------------------------
def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_load_csv_numbers_missing_and_string_labels(tmp_path):
    p = write(tmp_path, "a.csv", "a,b,label\n1,2.5,cat\n,NA,dog\n3,nan,cat\n")
    x, y, cols = data.load_csv(p, "label")
    assert cols == ["a", "b"]
    assert x.dtype == np.float32 and x.shape == (3, 2)
    np.testing.assert_array_equal(np.isnan(x), [[False, False], [True, True], [False, True]])
    assert x[0, 1] == 2.5 and x[2, 0] == 3
    assert y.tolist() == ["cat", "dog", "cat"]


def test_load_csv_integer_and_float_labels_and_no_label(tmp_path):
    p = write(tmp_path, "b.csv", "y,f\n1,0.5\n0,1.5\n")
    x, y, cols = data.load_csv(p, "y")
    assert y.dtype == np.int64 and y.tolist() == [1, 0] and cols == ["f"]
    p2 = write(tmp_path, "c.csv", "f;y\n1;0.25\n2;\n")
    x2, y2, _ = data.load_csv(p2, "y", delimiter=";")
    assert y2.dtype == np.float32 and y2[0] == 0.25 and np.isnan(y2[1])
    x3, y3, cols3 = data.load_csv(p, None)
    assert y3 is None and cols3 == ["y", "f"] and x3.shape == (2, 2)


def test_load_csv_bom_quotes_and_blank_lines(tmp_path):
    p = tmp_path / "d.csv"
    p.write_bytes('\ufeff"x 1",x2\n"1.5",2\n\n3,4\n'.encode("utf-8"))
    x, _, cols = data.load_csv(p)
    assert cols == ["x 1", "x2"]
    np.testing.assert_array_equal(x, [[1.5, 2], [3, 4]])


def test_load_csv_non_numeric_cell_names_row_column_value(tmp_path):
    p = write(tmp_path, "e.csv", "a,b\n1,2\n3,abc\n")
    with pytest.raises(ValueError, match=r"row 3.*'b'.*'abc'"):
        data.load_csv(p)


@pytest.mark.parametrize(
    "text, label, pattern",
    [
        ("a,b\n1,2\n", "zz", r"'zz'.*columns are \['a', 'b'\]"),
        ("", None, "empty"),
        ("a,b\n", None, "no data rows"),
        ("a,b\n1,2,3\n", None, "row 2 has 3 cells, expected 2"),
        ("a,a\n1,2\n", None, "duplicate"),
        ("a,,c\n1,2,3\n", None, "empty column name"),
        ("a,lab\n1,x\n2,\n", "lab", "row 3.*missing"),
    ],
)
def test_load_csv_malformed(tmp_path, text, label, pattern):
    p = write(tmp_path, "m.csv", text)
    with pytest.raises(ValueError, match=pattern):
        data.load_csv(p, label)


def test_load_csv_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError):
        data.load_csv(tmp_path / "nope.csv")
    p = write(tmp_path, "ok.csv", "a\n1\n")
    with pytest.raises(TypeError, match="label_column"):
        data.load_csv(p, 3)
    with pytest.raises(ValueError, match="delimiter"):
        data.load_csv(p, delimiter=";;")


# ---- NPZ ---------------------------------------------------------------------------------------
def test_load_npz_roundtrip(tmp_path):
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    y = np.array(["a", "b", "a", "c"])
    np.savez(tmp_path / "d.npz", x=x, y=y)
    gx, gy = data.load_npz(tmp_path / "d.npz")
    assert gx.dtype == np.float32
    np.testing.assert_array_equal(gx, x)
    assert gy.tolist() == y.tolist()
    np.savez(tmp_path / "only_x.npz", x=x)
    assert data.load_npz(tmp_path / "only_x.npz")[1] is None


def test_load_npz_rejects_wrong_names_objects_and_non_zip(tmp_path):
    np.savez(tmp_path / "names.npz", features=np.ones(3), y=np.ones(3))
    with pytest.raises(ValueError, match=r"\['features', 'y'\]"):
        data.load_npz(tmp_path / "names.npz")
    np.savez(tmp_path / "extra.npz", x=np.ones((2, 1)), w=np.ones(2))
    with pytest.raises(ValueError, match=r"\['w', 'x'\]"):
        data.load_npz(tmp_path / "extra.npz")
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(ValueError, match="object array"):
        data.load_npz(tmp_path / "obj.npz")
    np.savez(tmp_path / "len.npz", x=np.ones((3, 2)), y=np.ones(2))
    with pytest.raises(ValueError, match="same number of samples"):
        data.load_npz(tmp_path / "len.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="not an .npz"):
        data.load_npz(tmp_path / "junk.npz")


# ---- IDX / MNIST -------------------------------------------------------------------------------
def idx_bytes(arr: np.ndarray, code: int) -> bytes:
    be = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    head = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(be).tobytes()


@pytest.mark.parametrize("code, dtype", [(0x08, np.uint8), (0x09, np.int8), (0x0B, np.int16),
                                         (0x0C, np.int32), (0x0D, np.float32), (0x0E, np.float64)])
@pytest.mark.parametrize("gz", [False, True])
def test_load_idx_all_types_plain_and_gzip(tmp_path, code, dtype, gz):
    arr = (np.arange(24).reshape(2, 3, 4) - (0 if code == 0x08 else 5)).astype(dtype)
    raw = idx_bytes(arr, code)
    p = tmp_path / "f.idx"  # the name says nothing: gzip is detected from the bytes
    p.write_bytes(gzip.compress(raw) if gz else raw)
    got = data.load_idx(p)
    assert got.dtype == np.dtype(dtype) and got.shape == (2, 3, 4)
    np.testing.assert_array_equal(got, arr)


def test_load_idx_malformed(tmp_path):
    good = idx_bytes(np.arange(6, dtype=np.uint8).reshape(2, 3), 0x08)
    cases = {
        "bad_magic": (b"\x01\x00" + good[2:], "magic"),
        "bad_type": (good[:2] + b"\x07" + good[3:], "type code"),
        "truncated_header": (good[:6], "truncated"),
        "short": (good[:2], "truncated"),
        "size_mismatch": (good[:-1], r"\(2, 3\).*5 bytes"),
        "too_long": (good + b"\x00", "7 bytes"),
        "bad_gzip": (gzip.compress(good)[:-10], "gzip"),
    }
    for name, (raw, pattern) in cases.items():
        p = tmp_path / name
        p.write_bytes(raw)
        with pytest.raises(ValueError, match=pattern):
            data.load_idx(p)


def test_load_mnist_splits(mnist_dir):
    x_tr, y_tr = data.load_mnist(mnist_dir, "train")
    x_te, y_te = data.load_mnist(mnist_dir, split="test")
    assert x_tr.shape == (8000, 28, 28) and x_te.shape == (2000, 28, 28)
    assert x_tr.dtype == np.float32 and y_tr.dtype == np.int64
    assert 0.0 == x_tr.min() and x_tr.max() == 1.0
    # Published facts about the MNIST t10k set: first labels 7 2 1 0 4, all 10 classes present.
    assert y_tr[:5].tolist() == [7, 2, 1, 0, 4]
    assert set(y_te.tolist()) == set(range(10))
    raw = data.load_idx(mnist_dir / "t10k-images-idx3-ubyte.gz")
    np.testing.assert_allclose(x_te[-1], raw[-1] / 255.0, atol=1e-7)
    with pytest.raises(ValueError, match="split"):
        data.load_mnist(mnist_dir, "validation")


def test_load_mnist_missing_folder_and_digits_fallback(tmp_path):
    with pytest.raises(FileNotFoundError, match="t10k-images"):
        data.load_mnist(tmp_path)
    x_tr, y_tr = data.load_digits_fallback("train")
    x_te, y_te = data.load_digits_fallback("test")
    assert x_tr.shape[1:] == (8, 8) and len(x_tr) + len(x_te) == 1797
    assert x_tr.max() == 1.0 and y_te.dtype == np.int64


# ---- split -------------------------------------------------------------------------------------
@pytest.mark.parametrize("test_size", [0.2, 0.33, 7])
def test_train_test_split_matches_sklearn(test_size):
    x = np.arange(100).reshape(50, 2)
    y = np.arange(50)
    ours = data.train_test_split(x, y, test_size=test_size, random_state=0)
    ref = model_selection.train_test_split(x, y, test_size=test_size, random_state=0)
    for a, b in zip(ours, ref):
        np.testing.assert_array_equal(a, b)


def test_train_test_split_no_shuffle_and_x_only():
    x = np.arange(10)
    tr, te = data.train_test_split(x, test_size=0.3, shuffle=False)
    assert tr.tolist() == list(range(7)) and te.tolist() == [7, 8, 9]
    ref = model_selection.train_test_split(x, test_size=0.3, shuffle=False)
    np.testing.assert_array_equal(te, ref[1])


@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        (dict(x=np.ones(5), y=np.ones(4)), ValueError, "same number"),
        (dict(x=np.ones(5), test_size=1.5), ValueError, r"\(0, 1\)"),
        (dict(x=np.ones(5), test_size=5), ValueError, "1..4"),
        (dict(x=np.ones(1)), ValueError, "at least 2"),
        (dict(x=np.ones(5), test_size="a"), TypeError, "test_size"),
        (dict(x=np.ones(5), random_state=1.5), TypeError, "random_state"),
    ],
)
def test_train_test_split_errors(kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        data.train_test_split(**kwargs)


# ---- scalers -----------------------------------------------------------------------------------
def sample_matrix():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(40, 4)).astype(np.float32)
    x[:, 2] = 5.0  # a constant column: zero variance must not divide by zero
    return x


def test_standard_scaler_matches_sklearn():
    x = sample_matrix()
    ours = data.StandardScaler().fit(x)
    ref = preprocessing.StandardScaler().fit(x.astype(np.float64))
    np.testing.assert_allclose(ours.transform(x), ref.transform(x.astype(np.float64)), atol=1e-5)
    np.testing.assert_allclose(ours.scale_, ref.scale_, rtol=1e-6)
    z = ours.fit_transform(x)
    assert z.dtype == np.float32 and np.all(z[:, 2] == 0)
    np.testing.assert_allclose(ours.inverse_transform(z), x, atol=1e-5)


def test_minmax_scaler_matches_sklearn():
    x = sample_matrix()
    for fr in [(0, 1), (-1, 2)]:
        ours = data.MinMaxScaler(feature_range=fr).fit(x)
        ref = preprocessing.MinMaxScaler(feature_range=fr).fit(x.astype(np.float64))
        np.testing.assert_allclose(ours.transform(x), ref.transform(x.astype(np.float64)), atol=1e-5)
        np.testing.assert_allclose(ours.inverse_transform(ours.transform(x)), x, atol=1e-5)


@given(arrays(np.float32, st.tuples(st.integers(1, 20), st.integers(1, 5)),
              elements=st.floats(-1e3, 1e3, width=32)))
def test_scalers_match_sklearn_on_any_finite_matrix(x):
    x64 = x.astype(np.float64)
    for ours, ref in ((data.StandardScaler(), preprocessing.StandardScaler()),
                      (data.MinMaxScaler(), preprocessing.MinMaxScaler())):
        got = ours.fit_transform(x)
        want = ref.fit_transform(x64)
        np.testing.assert_allclose(got, want, atol=1e-3, rtol=1e-4)
        assert np.isfinite(got).all()


@pytest.mark.parametrize("cls", [data.StandardScaler, data.MinMaxScaler])
def test_scaler_config_roundtrip_through_json(cls):
    x = sample_matrix()
    s = cls().fit(x)
    cfg = json.loads(json.dumps(s.get_config()))
    assert cfg["class_name"] == cls.__name__
    back = data.preprocessor_from_config(cfg)
    assert type(back) is cls
    np.testing.assert_array_equal(back.transform(x), s.transform(x))
    unfitted = data.preprocessor_from_config(json.loads(json.dumps(cls().get_config())))
    with pytest.raises(ValueError, match="not fitted"):
        unfitted.transform(x)


@pytest.mark.parametrize("cls", [data.StandardScaler, data.MinMaxScaler])
def test_scaler_input_errors(cls):
    s = cls()
    with pytest.raises(ValueError, match="not fitted"):
        s.transform(np.ones((2, 2)))
    with pytest.raises(TypeError, match="2-D"):
        s.fit(np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        s.fit(np.array([[1.0, np.nan]]))
    with pytest.raises(TypeError, match="numeric"):
        s.fit(np.array([["a"]]))
    s.fit(np.ones((3, 2)))
    with pytest.raises(ValueError, match="3 features.*fitted on 2"):
        s.transform(np.ones((1, 3)))


def test_minmax_bad_range_and_bad_configs():
    with pytest.raises(ValueError, match="min < max"):
        data.MinMaxScaler((1, 0))
    with pytest.raises(ValueError, match="unknown preprocessor"):
        data.preprocessor_from_config({"class_name": "Evil"})
    with pytest.raises(TypeError):
        data.preprocessor_from_config("StandardScaler")
    with pytest.raises(ValueError, match="scale"):
        data.preprocessor_from_config({"class_name": "StandardScaler", "config": {"mean": [0, 1], "scale": [1]}})
    with pytest.raises(ValueError, match="data_min"):
        data.preprocessor_from_config({"class_name": "MinMaxScaler", "config": {"data_min": [2], "data_max": [1]}})


# ---- labels ------------------------------------------------------------------------------------
def test_one_hot_matches_keras_semantics():
    y = np.array([0, 2, 1, 2])
    oh = data.one_hot(y)
    np.testing.assert_array_equal(oh, np.eye(3, dtype=np.float32)[y])
    assert data.to_categorical(y.reshape(4, 1), num_classes=5).shape == (4, 5)
    assert data.one_hot(np.array([1.0, 0.0])).tolist() == [[0, 1], [1, 0]]
    with pytest.raises(ValueError, match="out of range"):
        data.one_hot(y, num_classes=2)
    with pytest.raises(ValueError, match=">= 0"):
        data.one_hot([-1, 0])
    with pytest.raises(ValueError, match="whole-number"):
        data.one_hot([0.5])
    with pytest.raises(TypeError, match="encode_labels"):
        data.one_hot(["a"])
    with pytest.raises(ValueError, match="empty"):
        data.one_hot(np.array([], dtype=np.int64))
    assert data.one_hot(np.array([], dtype=np.int64), 3).shape == (0, 3)


def test_encode_labels_matches_sklearn_label_encoder():
    y = np.array(["dog", "cat", "bird", "cat"])
    ids, classes = data.encode_labels(y)
    le = preprocessing.LabelEncoder().fit(y)
    np.testing.assert_array_equal(ids, le.transform(y))
    np.testing.assert_array_equal(classes, le.classes_)
    np.testing.assert_array_equal(data.decode_labels(ids, classes), y)
    with pytest.raises(ValueError, match="1-D"):
        data.encode_labels(np.ones((2, 2)))
    with pytest.raises(ValueError, match="NaN"):
        data.encode_labels(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="0..2"):
        data.decode_labels(np.array([3]), classes)


# ---- missing values ----------------------------------------------------------------------------
def nan_matrix():
    return np.array([[1.0, np.nan, 3.0], [4.0, 5.0, np.nan], [7.0, 8.0, 9.0], [np.nan, 2.0, 6.0]], dtype=np.float32)


@pytest.mark.parametrize("strategy, sk", [("mean", "mean"), ("median", "median"), ("zero", "constant")])
def test_handle_missing_imputation_matches_sklearn(strategy, sk):
    x = nan_matrix()
    out, y, report = data.handle_missing(x, None, strategy, columns=["a", "b", "c"])
    ref = SimpleImputer(strategy=sk, fill_value=0.0).fit_transform(x.astype(np.float64))
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    assert y is None and report["rows_dropped"] == 0
    assert report["values_imputed"] == {"a": 1, "b": 1, "c": 1}
    json.dumps(report)


def test_handle_missing_drop_and_nan_labels():
    x = nan_matrix()
    y = np.array([0.0, 1.0, np.nan, 1.0])
    out, y_out, report = data.handle_missing(x, y, "drop")
    assert out.shape == (0, 3) and y_out.shape == (0,) and report["rows_dropped"] == 4
    out, y_out, report = data.handle_missing(x, y, "mean")
    # Row 2 goes (its label is missing); the means come from the rows kept.
    assert out.shape == (3, 3) and report["rows_missing_label"] == 1 and not np.isnan(out).any()
    np.testing.assert_allclose(out[2, 0], np.mean([1.0, 4.0]))
    ok = np.array([[1.0, 2.0], [np.nan, 1.0], [3.0, 4.0]])
    out, y_out, report = data.handle_missing(ok, np.array(["a", "b", "c"]), "drop")
    assert y_out.tolist() == ["a", "c"] and report["rows_out"] == 2


def test_handle_missing_errors():
    with pytest.raises(ValueError, match="strategy"):
        data.handle_missing(np.ones((2, 2)), strategy="mode")
    with pytest.raises(ValueError, match="same number"):
        data.handle_missing(np.ones((2, 2)), np.ones(3))
    with pytest.raises(ValueError, match="infinite"):
        data.handle_missing(np.array([[np.inf]]))
    with pytest.raises(TypeError, match="2-D"):
        data.handle_missing(np.ones(3))
    with pytest.raises(ValueError, match="columns has 1"):
        data.handle_missing(np.ones((2, 2)), columns=["a"])


# ---- Preprocessor ------------------------------------------------------------------------------
def test_preprocessor_applies_same_steps_after_json_roundtrip():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 3)).astype(np.float32) * 4 + 2
    x[::7, 1] = np.nan
    y = np.arange(30)
    pre = data.Preprocessor(missing="median", scaler="standard")
    xt, yt, report = pre.fit_clean(x, y)
    ref = preprocessing.StandardScaler().fit_transform(SimpleImputer(strategy="median").fit_transform(x))
    np.testing.assert_allclose(xt, ref, atol=1e-5)
    assert report["values_imputed"]["1"] == 5 and yt.tolist() == y.tolist()
    back = data.preprocessor_from_config(json.loads(json.dumps(pre.get_config())))
    new = np.array([[1.0, np.nan, 0.0]], dtype=np.float32)
    np.testing.assert_array_equal(back.transform(new), pre.transform(new))
    assert not np.isnan(back.transform(new)).any()


def test_preprocessor_drop_policy_and_errors():
    x = np.array([[1.0, 2.0], [np.nan, 1.0], [3.0, 6.0]], dtype=np.float32)
    pre = data.Pipeline(missing="drop", scaler="minmax")
    xt, yt, report = pre.fit_clean(x, np.array([0, 1, 0]))
    np.testing.assert_allclose(xt, [[0, 0], [1, 1]])
    assert yt.tolist() == [0, 0] and report["rows_dropped"] == 1
    with pytest.raises(ValueError, match=r"rows \[1\].*missing"):
        pre.transform(x)
    with pytest.raises(ValueError, match="fitted on 2"):
        pre.transform(np.ones((1, 3)))
    with pytest.raises(ValueError, match="not fitted"):
        data.Preprocessor().transform(np.ones((1, 2)))
    with pytest.raises(ValueError, match="missing=None"):
        data.Preprocessor(missing=None).fit(x)
    with pytest.raises(ValueError, match="scaler must be"):
        data.Preprocessor(scaler="robust")
    with pytest.raises(ValueError, match="no rows left"):
        data.Preprocessor(missing="drop").fit(np.full((2, 2), np.nan))
    np.testing.assert_allclose(data.Preprocessor(missing=None, scaler=None).fit_transform(x[[0, 2]]), x[[0, 2]])


# ---- end to end: CSV -> Preprocessor -> model -> save/load -> the same serving path ---------------
def test_csv_to_saved_model_applies_identical_preprocessing(tmp_path):
    from aiaas_core import keras

    rng = np.random.default_rng(5)
    rows = ["size,weight,kind"]
    for i in range(60):
        size, weight = rng.normal(10, 3), rng.normal(200, 50)
        kind = "big" if size + weight / 20 > 20 else "small"
        rows.append(f"{'' if i % 9 == 0 else f'{size:.3f}'},{weight:.2f},{kind}")
    x, y, cols = data.load_csv(write(tmp_path, "train.csv", "\n".join(rows) + "\n"), "kind")
    ids, classes = data.encode_labels(y)
    assert classes.tolist() == ["big", "small"]
    pre = data.Preprocessor(missing="mean", scaler="standard", columns=cols)
    x_ready, ids_ready, report = pre.fit_clean(x, ids)
    assert report["values_imputed"]["size"] == 7 and not np.isnan(x_ready).any()

    keras.set_random_seed(0)
    model = keras.Sequential([keras.layers.Dense(2, activation="softmax", input_shape=(2,))])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x_ready, ids_ready, epochs=2, batch_size=16, verbose=0)
    model.preprocessing = pre
    model.save(tmp_path / "model.zip")

    loaded = keras.load_model(tmp_path / "model.zip")
    raw = np.array([[np.nan, 180.0], [12.5, 260.0]], dtype=np.float32)
    assert isinstance(loaded.preprocessing, data.Preprocessor)
    np.testing.assert_array_equal(loaded.preprocessing.transform(raw), pre.transform(raw))
    np.testing.assert_allclose(
        loaded.predict(loaded.preprocessing.transform(raw), verbose=0),
        model.predict(pre.transform(raw), verbose=0), atol=1e-6,
    )


def test_load_csv_reads_a_very_wide_header(tmp_path):
    # 100,000 columns: the duplicate-name check is one pass (it was quadratic: over a minute).
    n = 100_000
    p = tmp_path / "wide.csv"
    p.write_text(",".join(f"c{i}" for i in range(n)) + "\n" + ",".join(str(i % 7) for i in range(n)) + "\n")
    x, y, columns = data.load_csv(p)
    assert x.shape == (1, n) and x[0, 13] == 6.0 and y is None and columns[-1] == f"c{n - 1}"
