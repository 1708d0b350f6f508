"""Saving and loading Keras-style models through the encrypted store (plaintext only in a private temp dir)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from .storage import Storage


def save_model(storage: Storage, kind: str, artifact_id: str, model) -> int:
    """model.save to a temp zip, then encrypt it into the store; returns the plaintext size.

    FloatingPointError for weights holding NaN or infinity: load_model refuses them, so such a
    checkpoint could not be resumed nor such a version deployed (every deploy would be a 500)."""
    for layer in getattr(model, "layers", []):
        for w in layer.get_weights():
            if not np.isfinite(w).all():
                raise FloatingPointError(
                    f"the weights of layer {layer.name!r} became NaN or infinite: training diverged; "
                    "lower the learning rate or scale the data (upload with scaling=standard)")
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
