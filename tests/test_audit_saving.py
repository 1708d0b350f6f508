"""Audit of load_model against hostile files: a member whose declared size is beyond what any
valid model holds (a zip bomb) is refused from the zip directory, before it is decompressed."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

import aiaas_core as tf
from aiaas_core import keras
from aiaas_core.keras import layers
from aiaas_core.keras.engine import saving


@pytest.fixture()
def saved(tmp_path):
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    model.compile("adam", "mse")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    return path


def _with_member(src, dst, name, data):
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members[name] = data
    with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for n, d in members.items():
            zf.writestr(n, d)


@pytest.mark.parametrize("member", [
    "config.json",
    "model.weights.safetensors",
])
def test_a_member_larger_than_any_valid_model_is_refused_before_reading(saved, tmp_path, member, monkeypatch):
    # Keep the test small: lower the limit, then declare one byte more than it allows.
    monkeypatch.setattr(saving, "MAX_CONFIG_BYTES", 4096)
    monkeypatch.setattr(saving, "MAX_WEIGHTS_BYTES", 8192)
    small = 4096 if member == "config.json" else 8192
    bomb = tmp_path / "bomb.keras"
    _with_member(saved, bomb, member, b" " * (small + 1))  # deflates to a few bytes
    assert bomb.stat().st_size < small
    read = []
    monkeypatch.setattr(zipfile.ZipFile, "read", lambda self, name, pwd=None: read.append(name))
    with pytest.raises(ValueError, match=rf"member {member} declares {small + 1:,} bytes.*at most {small:,}"):
        tf.load_model(bomb)
    assert read == []  # refused from the directory: nothing was decompressed


def test_a_normal_file_still_loads(saved):
    model = tf.load_model(saved)
    assert model.optimizer.iterations == 1


def test_a_directory_is_named_as_such(tmp_path):
    (tmp_path / "saved_model").mkdir()
    with pytest.raises(ValueError, match="is a directory, not a model file"):
        tf.load_model(tmp_path / "saved_model")
    with pytest.raises(ValueError, match="not found"):
        tf.load_model(tmp_path / "missing.keras")
