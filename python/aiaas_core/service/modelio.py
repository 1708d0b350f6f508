"""Saving and loading Keras-style models through the encrypted store (plaintext only in a private temp dir)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from .storage import Storage


def save_model(storage: Storage, kind: str, artifact_id: str, model) -> int:
    """model.save to a temp zip, then encrypt it into the store; returns the plaintext size."""
    with tempfile.TemporaryDirectory(prefix="aiaas-") as tmp:
        path = Path(tmp) / "model.zip"
        model.save(str(path))
        return storage.write_file(kind, artifact_id, path)


def load_model(storage: Storage, kind: str, artifact_id: str):
    """Decrypt to a temp file and aiaas_core.load_model it (the temp file is removed at once)."""
    from aiaas_core import load_model as _load

    with tempfile.TemporaryDirectory(prefix="aiaas-") as tmp:
        path = Path(tmp) / "model.zip"
        storage.read_to_file(kind, artifact_id, path)
        return _load(str(path))
