"""Checks shared by the flow tests: train through the API, then compare with the downloaded model."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import httpx
import numpy as np

from service_support import upload, wait_job


def train(client: httpx.Client, path: Path, architecture, hp: dict, **fields) -> tuple[dict, dict]:
    """Upload, queue, wait: (dataset, finished job); the job must succeed."""
    r = upload(client, path, path.stem, **fields)
    assert r.status_code == 201, r.text
    ds = r.json()
    r = client.post("/v1/jobs", json={"dataset_id": ds["id"], "architecture": architecture, "hyperparameters": hp})
    assert r.status_code == 202, r.text
    assert r.json()["state"] == "queued"
    job = wait_job(client, r.json()["id"])
    assert job["state"] == "succeeded", job
    assert job["epoch"] == job["epochs"] == hp["epochs"] and job["model_version_id"]
    return ds, job


def local_model(client: httpx.Client, version_id: str, tmp_path: Path):
    """Download the version (zip of config.json + safetensors) and load it with aiaas_core.load_model."""
    import aiaas_core

    r = client.get(f"/v1/model-versions/{version_id}/download")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    names = set(zipfile.ZipFile(io.BytesIO(r.content)).namelist())
    assert "config.json" in names and any(n.endswith(".safetensors") for n in names)
    path = tmp_path / f"{version_id}.zip"
    path.write_bytes(r.content)
    return aiaas_core.load_model(str(path))


def local_predict(model, x: np.ndarray) -> np.ndarray:
    """What the service should answer: the saved preprocessing, then the model."""
    x = np.asarray(x, np.float32)
    flat = model.preprocessing.transform(x.reshape(len(x), -1)) if model.preprocessing is not None else x.reshape(len(x), -1)
    return np.asarray(model.predict(flat.reshape(x.shape), verbose=0))


def deploy(client: httpx.Client, name: str, version_id: str) -> None:
    r = client.post("/v1/endpoints", json={"name": name, "model_version_id": version_id})
    assert r.status_code == 201, r.text


def predict(client: httpx.Client, name: str, instances) -> dict:
    r = client.post(f"/v1/endpoints/{name}/predict", json={"instances": np.asarray(instances).tolist()})
    assert r.status_code == 200, r.text
    return r.json()


def metric_samples(admin: httpx.Client) -> dict[str, float]:
    """The /metrics exposition as {series: value} (an admin client is required)."""
    r = admin.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    out = {}
    for line in r.text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out
