"""A small Python client for the aiaas HTTP service (httpx).

    from aiaas_core.client import Client
    with Client("http://127.0.0.1:8000", api_key) as c:
        ds = c.upload_dataset("iris.csv", name="iris", label_column="species")
        job = c.wait(c.create_job(ds["id"], "mlp", {"epochs": 20})["id"])
        c.deploy("iris", job["model_version_id"])
        c.predict("iris", [[5.1, 3.5, 1.4, 0.2]])
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import httpx


class ApiError(Exception):
    """The service answered with an error status; `detail` is its explanation."""

    def __init__(self, status: int, detail: str, headers: httpx.Headers | None = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status, self.detail, self.headers = status, detail, headers


def _json_ready(array) -> list:
    import numpy as np

    arr = np.asarray(array, dtype=np.float64)
    return np.where(np.isnan(arr), None, arr).tolist()


def _segment(value: str, what: str) -> str:
    """An id or name as one URL path segment: '../endpoints/x' must not become another route."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return quote(value, safe="")


class Client:
    """Every method returns the decoded JSON answer or raises ApiError."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 60.0) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout,
                                  headers={"Authorization": f"Bearer {api_key}"})

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @staticmethod
    def _raise_for_status(r: httpx.Response) -> None:
        """ApiError for a 4xx/5xx answer, its `detail` (or the raw text of a body that is not our JSON)."""
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail", r.text)
            except (ValueError, AttributeError):
                detail = r.text
            raise ApiError(r.status_code, str(detail), r.headers)

    def _call(self, method: str, path: str, **kwargs) -> Any:
        r = self._http.request(method, path, **kwargs)
        self._raise_for_status(r)
        if r.status_code == 204 or not r.content:
            return None
        return r.json() if r.headers.get("content-type", "").startswith("application/json") else r.content

    # tenants and keys (admin)
    def create_tenant(self, name: str, **limits: int) -> dict:
        return self._call("POST", "/v1/tenants", json={"name": name, **limits})

    def create_key(self, tenant_id: str, role: str, expires_at: str | None = None,
                   rate_limit_per_minute: int | None = None) -> dict:
        body: dict[str, Any] = {"role": role}
        if expires_at is not None:
            body["expires_at"] = expires_at
        if rate_limit_per_minute is not None:
            body["rate_limit_per_minute"] = rate_limit_per_minute
        return self._call("POST", f"/v1/tenants/{_segment(tenant_id, 'tenant_id')}/keys", json=body)

    def revoke_key(self, key_id: str) -> None:
        self._call("DELETE", f"/v1/keys/{_segment(key_id, 'key_id')}")

    def architectures(self) -> list[dict]:
        return self._call("GET", "/v1/architectures")

    # datasets
    def upload_dataset(self, path: str | os.PathLike, name: str, label_column: str | None = None,
                       labels: str | os.PathLike | None = None, **options: str | None) -> dict:
        """Upload a .csv (give label_column), .npz (x, y) or IDX images (give labels); options:
        scaling, missing, task, one_hot."""
        fields = {"name": name, **({"label_column": label_column} if label_column else {}),
                  **{k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in options.items() if v is not None}}
        with open(path, "rb") as fh:
            files: list[tuple[str, Any]] = [("file", (Path(path).name, fh))]
            if labels is not None:
                lab = open(labels, "rb")
                files.append(("labels", (Path(labels).name, lab)))
            try:
                return self._call("POST", "/v1/datasets", data=fields, files=files)
            finally:
                if labels is not None:
                    lab.close()

    def list_datasets(self) -> list[dict]:
        return self._call("GET", "/v1/datasets")

    def get_dataset(self, dataset_id: str) -> dict:
        return self._call("GET", f"/v1/datasets/{_segment(dataset_id, 'dataset_id')}")

    def delete_dataset(self, dataset_id: str) -> None:
        self._call("DELETE", f"/v1/datasets/{_segment(dataset_id, 'dataset_id')}")

    # jobs
    def create_job(self, dataset_id: str, architecture: str | dict, hyperparameters: dict | None = None) -> dict:
        return self._call("POST", "/v1/jobs", json={"dataset_id": dataset_id, "architecture": architecture,
                                                   "hyperparameters": hyperparameters or {}})

    def get_job(self, job_id: str) -> dict:
        return self._call("GET", f"/v1/jobs/{_segment(job_id, 'job_id')}")

    def cancel_job(self, job_id: str) -> dict:
        return self._call("POST", f"/v1/jobs/{_segment(job_id, 'job_id')}/cancel")

    def job_logs(self, job_id: str) -> dict:
        return self._call("GET", f"/v1/jobs/{_segment(job_id, 'job_id')}/logs")

    def job_events(self, job_id: str) -> Iterator[dict]:
        """Server-sent events as {"id", "event", "data"} dicts until the job ends."""
        with self._http.stream("GET", f"/v1/jobs/{_segment(job_id, 'job_id')}/events", timeout=None) as r:
            if r.status_code >= 400:
                r.read()
                self._raise_for_status(r)
            event: dict[str, Any] = {}
            for line in r.iter_lines():
                if not line:
                    if event.get("event") == "end":
                        return
                    if "data" in event:
                        event["data"] = json.loads(event["data"])
                        yield event
                    event = {}
                elif line.startswith(":"):
                    continue
                else:
                    field, _, value = line.partition(":")
                    event[field] = value.lstrip(" ")

    def wait(self, job_id: str, timeout: float = 600.0, poll: float = 0.5) -> dict:
        """Poll until the job is succeeded, failed or canceled; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_job(job_id)
            if job["state"] in ("succeeded", "failed", "canceled"):
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['state']} after {timeout} s")
            time.sleep(poll)

    # models
    def list_model_versions(self) -> list[dict]:
        return self._call("GET", "/v1/model-versions")

    def get_model_version(self, version_id: str) -> dict:
        return self._call("GET", f"/v1/model-versions/{_segment(version_id, 'version_id')}")

    def download_model(self, version_id: str, format: str = "safetensors") -> bytes:
        return self._call("GET", f"/v1/model-versions/{_segment(version_id, 'version_id')}/download", params={"format": format})

    def evaluate(self, version_id: str, dataset_id: str) -> dict:
        return self._call("POST", f"/v1/model-versions/{_segment(version_id, 'version_id')}/evaluate", json={"dataset_id": dataset_id})

    # endpoints
    def deploy(self, name: str, model_version_id: str) -> dict:
        """Create the endpoint, or repoint it if it exists (promote / roll back)."""
        try:
            return self._call("POST", "/v1/endpoints", json={"name": name, "model_version_id": model_version_id})
        except ApiError as exc:
            if exc.status != 409:
                raise
        return self._call("PATCH", f"/v1/endpoints/{_segment(name, 'name')}", json={"model_version_id": model_version_id})

    def undeploy(self, name: str) -> None:
        self._call("DELETE", f"/v1/endpoints/{_segment(name, 'name')}")

    def predict(self, name: str, instances: list) -> dict:
        """`instances`: a list of inputs (or a numpy array of them); null / NaN marks a missing value."""
        if hasattr(instances, "tolist"):  # numpy: JSON has no arrays, only lists (NaN becomes null)
            instances = _json_ready(instances)
        return self._call("POST", f"/v1/endpoints/{_segment(name, 'name')}/predict", json={"instances": instances})
