"""Audit of aiaas_core.data: a Keras-style .npz (mnist.npz holds x_train/y_train/x_test/y_test) loads
by naming its arrays, and the missing-value report says which rows were dropped and why."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aiaas_core import data


def test_keras_style_npz_loads_by_naming_its_arrays(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (6, 4, 4), dtype=np.uint8), "y_train": np.arange(6) % 3,
              "x_test": rng.integers(0, 256, (2, 4, 4), dtype=np.uint8), "y_test": np.array([1, 2])}
    path = tmp_path / "mnist.npz"
    np.savez(path, **arrays)
    # The default (one dataset per file: x and y) says which names to pass.
    with pytest.raises(ValueError, match=r"x_key='x_train', y_key='y_train'"):
        data.load_npz(path)
    x, y = data.load_npz(path, x_key="x_train", y_key="y_train")
    assert x.dtype == np.float32 and x.shape == (6, 4, 4)
    np.testing.assert_array_equal(x, arrays["x_train"].astype(np.float32))
    np.testing.assert_array_equal(y, arrays["y_train"])
    x, y = data.load_npz(path, x_key="x_test", y_key="y_test")
    assert x.shape == (2, 4, 4) and y.tolist() == [1, 2]
    x, y = data.load_npz(path, x_key="x_test", y_key=None)
    assert y is None
    with pytest.raises(ValueError, match=r"no array named 'x_val'.*\['x_test', 'x_train', 'y_test', 'y_train'\]"):
        data.load_npz(path, x_key="x_val")
    with pytest.raises(ValueError, match="same number of samples"):
        data.load_npz(path, x_key="x_train", y_key="y_test")
    with pytest.raises(TypeError, match="x_key must be"):
        data.load_npz(path, x_key=3)


def test_missing_value_report_names_the_dropped_rows_and_the_columns():
    x = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0], [np.nan, np.nan, 9.0], [7.0, 8.0, 9.0]], np.float32)
    y = np.array([0.0, np.nan, 1.0, 1.0])
    out, y_out, report = data.handle_missing(x, y, "drop", columns=["a", "b", "c"])
    assert out.tolist() == [[7.0, 8.0, 9.0]] and y_out.tolist() == [1.0]
    assert report["dropped_rows"] == [0, 1, 2] and report["rows_dropped"] == 3
    assert report["missing_values"] == {"a": 1, "b": 2, "c": 0}
    _, _, report = data.handle_missing(x, y, "mean", columns=["a", "b", "c"])
    assert report["dropped_rows"] == [1]  # only the row without a label
    assert report["missing_values"] == {"a": 1, "b": 2, "c": 0}
    json.dumps(report)


def test_the_dropped_row_list_is_capped_but_the_count_is_not():
    x = np.full((5000, 2), np.nan, np.float32)
    x[::2] = 1.0  # 2500 rows survive
    _, _, report = data.handle_missing(x, None, "drop")
    assert report["rows_dropped"] == 2500
    assert report["dropped_rows"] == list(range(1, 2 * data.missing.MAX_REPORTED_ROWS, 2))
    assert report["dropped_rows_truncated"] is True


# ---- gzipped IDX: decompress only what the header declares -----------------------------------------
def _idx_header(dims, code=0x08) -> bytes:
    return bytes([0, 0, code, len(dims)]) + np.array(dims, ">u4").tobytes()


def test_gzipped_idx_with_more_data_than_declared_is_refused_without_inflating_it(tmp_path, monkeypatch):
    import gzip
    # 64 MB of zeros behind a header declaring 10 bytes: a 64 KB file (a small gzip bomb).
    path = tmp_path / "bomb-idx1-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(_idx_header([10]))
        chunk = bytes(1 << 20)
        for _ in range(64):
            f.write(chunk)
    assert path.stat().st_size < 1 << 17
    monkeypatch.setattr(gzip, "decompress", lambda *a, **k: pytest.fail("the whole stream was inflated"))
    with pytest.raises(ValueError, match="more data than its header declares"):
        data.load_idx(path)


def test_gzipped_idx_declaring_a_huge_array_is_refused_from_its_header(tmp_path):
    import gzip
    path = tmp_path / "huge-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_idx_header([60000, 1000, 1000]) + bytes(16)))
    with pytest.raises(ValueError, match=r"declares shape \(60000, 1000, 1000\).*at most"):
        data.load_idx(path)


def test_gzipped_idx_still_loads_and_reports_damage(tmp_path):
    import gzip
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    raw = _idx_header([3, 4]) + arr.tobytes()
    (tmp_path / "ok.gz").write_bytes(gzip.compress(raw))
    np.testing.assert_array_equal(data.load_idx(tmp_path / "ok.gz"), arr)
    (tmp_path / "short.gz").write_bytes(gzip.compress(raw[:-2]))
    with pytest.raises(ValueError, match=r"\(3, 4\).*10 bytes"):
        data.load_idx(tmp_path / "short.gz")
    (tmp_path / "cut.gz").write_bytes(gzip.compress(raw)[:-10])
    with pytest.raises(ValueError, match="damaged or truncated gzip"):
        data.load_idx(tmp_path / "cut.gz")


# ---- npz: sizes checked from the zip directory and the .npy headers before allocating --------------
def _npz_with_header_only(path, shape):
    """An .npz whose x.npy has a valid header (magic included) for `shape` and no data."""
    import io
    import zipfile
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x.npy", buf.getvalue())


def test_npz_whose_header_declares_more_than_it_holds_is_a_value_error(tmp_path):
    path = tmp_path / "evil.npz"
    _npz_with_header_only(path, (10**11,))  # 745 GiB declared, a few bytes stored
    with pytest.raises(ValueError, match=r"'x' in .* declares shape \(100000000000,\).*holds"):
        data.load_npz(path)


def test_npz_member_beyond_the_size_limit_is_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "big.npz"
    np.savez_compressed(path, x=np.zeros((64, 64)), y=np.zeros(64))
    monkeypatch.setattr(data.npz_loader, "MAX_NPZ_BYTES", 4096)
    with pytest.raises(ValueError, match=r"'x' in .* is 32,896 bytes.*at most 4,096"):
        data.load_npz(path)
    monkeypatch.undo()
    x, y = data.load_npz(path)
    assert x.shape == (64, 64) and y.shape == (64,)


# ---- CSV: cells numpy would turn into inf, and files that are not UTF-8 -------------------------------
@pytest.mark.parametrize("text,where", [
    ("a,b,y\n1,2,0\n3,inf,1\n", r"row 3, column 'b': value 'inf'"),
    ("a,b,y\n1,-1e39,0\n", r"row 2, column 'b': value '-1e39'"),  # finite in float64, inf in float32
    ("a,y\n1,0\n2,1e300\n", r"row 3, column 'y': value '1e300'"),   # a numeric label
])
def test_csv_infinite_or_out_of_range_cells_are_named(tmp_path, text, where):
    path = tmp_path / "d.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=where + r".*infinite or beyond float32's range"):
        data.load_csv(path, "y")


def test_csv_that_is_not_utf8_says_so(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("city,y\n1,Zürich\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.csv is not UTF-8 text \(it holds byte 0xfc.*save it as UTF-8"):
        data.load_csv(path, "y")
    path.write_bytes("city,y\n1,Zürich\n".encode("utf-8"))
    x, y, cols = data.load_csv(path, "y")
    assert y.tolist() == ["Zürich"] and cols == ["city"]


def test_npz_with_infinite_features_is_refused_but_nan_means_missing(tmp_path):
    x = np.ones((3, 2))
    x[0, 1] = np.nan
    np.savez(tmp_path / "ok.npz", x=x, y=np.arange(3))
    got, _ = data.load_npz(tmp_path / "ok.npz")
    assert np.isnan(got[0, 1]) and np.isfinite(got[1:]).all()
    for bad in (np.inf, -1e300):
        x[2, 0] = bad
        np.savez(tmp_path / "bad.npz", x=x, y=np.arange(3))
        with pytest.raises(ValueError, match=r"array 'x' .* holds 1 infinite value\(s\) or value\(s\) beyond float32"):
            data.load_npz(tmp_path / "bad.npz")


# ---- train_test_split(stratify=...) -------------------------------------------------------------------
@pytest.mark.parametrize("counts,test_size,seed", [
    ((50, 30, 20), 0.2, 0), ((7, 7, 7, 3), 0.25, 1), ((5, 4), 3, 42), ((2, 2, 2, 2, 2), 0.5, 7),
    ((40, 9), 0.33, 3),
])
def test_stratified_split_picks_sklearns_rows(counts, test_size, seed):
    from sklearn.model_selection import train_test_split as sk_split
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.repeat(np.arange(len(counts)), counts))
    x = np.arange(len(y) * 2, dtype=np.float32).reshape(len(y), 2)
    ours = data.train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    theirs = sk_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)
    # each class keeps its share (to within one sample) in the test part
    share = np.bincount(ours[3], minlength=len(counts)) / len(ours[3])
    assert np.all(np.abs(share - np.array(counts) / sum(counts)) <= 1 / len(ours[3]) + 1e-9)


def test_stratified_split_on_one_hot_rows_and_errors():
    y = np.repeat(np.arange(3), 10)
    onehot = np.eye(3)[y]
    a = data.train_test_split(np.arange(30), onehot, test_size=0.2, random_state=5, stratify=onehot)
    assert sorted(a[3].argmax(1).tolist()) == [0, 0, 1, 1, 2, 2]
    with pytest.raises(ValueError, match=r"classes \[2\] have a single sample"):
        data.train_test_split(np.arange(5), stratify=np.array([0, 0, 1, 1, 2]))
    with pytest.raises(ValueError, match="cannot each hold all 3 classes"):
        data.train_test_split(np.arange(30), y, test_size=2, stratify=y)
    with pytest.raises(ValueError, match="shuffle=True"):
        data.train_test_split(np.arange(30), y, shuffle=False, stratify=y)
    with pytest.raises(ValueError, match="one label per sample"):
        data.train_test_split(np.arange(30), y, stratify=y[:5])


def test_one_hot_of_a_stray_huge_label_is_refused_before_allocating():
    from aiaas_core import keras
    for encode in (data.one_hot, keras.utils.to_categorical):
        with pytest.raises(ValueError, match=r"4 labels into 1,000,000,000 classes would hold 4,000,000,000 values"):
            encode(np.array([0, 1, 2, 3]), 1_000_000_000)
        with pytest.raises(ValueError, match="largest id sets the class count"):  # an id column taken for labels
            encode(np.array([0, 2_000_000_000]))
        assert encode([0, 2]).shape == (2, 3)
