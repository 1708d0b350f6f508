"""Model versions: immutable results of successful jobs, with lineage; download and evaluate."""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ..dataset_files import load_arrays
from ..errors import ApiError
from ..models import Dataset, ModelVersion
from ..preparation import apply_features, encode_targets
from ..repository import TenantRepo
from ..schemas import EvaluateRequest, Page, page
from ..security import Principal, require

router = APIRouter(prefix="/v1/model-versions", tags=["models"])


def version_out(v: ModelVersion) -> dict[str, Any]:
    sig = v.signature or {}
    return {
        "id": v.id, "created_at": v.created_at, "metrics": v.metrics,
        "input_shape": sig.get("input_shape"), "task": sig.get("task"), "classes": sig.get("classes"),
        "lineage": {"job_id": v.job_id, "dataset_id": v.dataset_id, "architecture": v.architecture,
                    "hyperparameters": v.hyperparameters},
    }


@router.get("")
def list_versions(request: Request, principal: Principal = Depends(require("member")),
                  pages: Page = Depends(page)) -> list[dict[str, Any]]:
    with request.app.state.svc.sessions() as session:
        return [version_out(v) for v in TenantRepo(session, principal.tenant_id).list(ModelVersion, pages.limit, pages.offset)]


@router.get("/{version_id}")
def get_version(version_id: str, request: Request, principal: Principal = Depends(require("member"))) -> dict[str, Any]:
    with request.app.state.svc.sessions() as session:
        return version_out(TenantRepo(session, principal.tenant_id).get(ModelVersion, version_id))


def _onnx_bytes(svc, version: ModelVersion) -> bytes:
    from aiaas_core.onnx_export import export_onnx

    from ..modelio import load_model

    model = svc.serving.get_model(version).model if svc.serving else load_model(svc.storage, "models", version.id)
    with tempfile.TemporaryDirectory(prefix="aiaas-") as tmp:
        path = Path(tmp) / "model.onnx"
        export_onnx(model, str(path))
        return path.read_bytes()


@router.get("/{version_id}/download", response_class=Response,
            responses={200: {"content": {"application/zip": {}, "application/octet-stream": {}}}})
async def download_version(version_id: str, request: Request, principal: Principal = Depends(require("member")),
                           format: str = Query("safetensors", pattern="^(safetensors|onnx)$")) -> Response:
    """`safetensors`: the model.save zip (config.json + safetensors weights). `onnx`: an ONNX graph."""
    svc = request.app.state.svc

    def load() -> ModelVersion:
        with svc.sessions() as session:
            return TenantRepo(session, principal.tenant_id).get(ModelVersion, version_id)

    version = await run_in_threadpool(load)
    if format == "onnx":
        if importlib.util.find_spec("aiaas_core.onnx_export") is None:
            raise ApiError(501, "ONNX export is not available in this installation (module aiaas_core.onnx_export is missing); use format=safetensors")
        try:
            data = await run_in_threadpool(_onnx_bytes, svc, version)
        except (ValueError, TypeError, NotImplementedError) as exc:
            raise ApiError(422, f"this model cannot be exported to ONNX: {exc}") from exc
        return Response(data, media_type="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{version.id}.onnx"'})
    data = await run_in_threadpool(svc.storage.read_bytes, "models", version.id)
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{version.id}.zip"'})


def _evaluate(svc, tenant_id: str, version_id: str, dataset_id: str) -> dict[str, Any]:
    with svc.sessions() as session:
        repo = TenantRepo(session, tenant_id)
        version = repo.get(ModelVersion, version_id)
        dataset = repo.get(Dataset, dataset_id)
    sig = version.signature
    x, y = load_arrays(svc.storage, dataset.id)
    if list(x.shape[1:]) != list(sig["input_shape"]):
        raise ApiError(422, f"dataset samples have shape {list(x.shape[1:])}; the model expects {sig['input_shape']}")
    if sig["task"] != "reconstruction" and y is None:
        raise ApiError(422, f"dataset {dataset_id!r} has no labels to evaluate against")
    if sig.get("preprocessor") is not None:
        try:
            flat_nan = np.isnan(x.reshape(x.shape[0], -1)).any(axis=1)
            keep = ~flat_nan if sig["preprocessor"]["config"].get("missing") in ("drop", None) else np.ones(len(x), bool)
            x, y = x[keep], (y[keep] if y is not None else None)
            if len(x) == 0:
                raise ApiError(422, f"every row of dataset {dataset_id!r} has a missing value and this model's "
                                    "preprocessing drops such rows (missing='drop'): no row is left to evaluate")
            x = apply_features(x, sig["preprocessor"])
        except ValueError as exc:
            raise ApiError(422, f"dataset rejected by the model's preprocessing: {exc}") from exc
    one_hot = sig.get("one_hot", False) or version.hyperparameters.get("loss") == "categorical_crossentropy"
    targets = x if sig["task"] == "reconstruction" else encode_targets(y, sig["task"], sig.get("classes"), one_hot)
    model = svc.serving.get_model(version)
    with model.lock:
        result = model.model.evaluate(x, targets, verbose=0)
    values = [float(v) for v in np.atleast_1d(np.asarray(result, dtype=np.float64))]
    names = ["loss"] + [m for m in ("accuracy", "mae") if (m == "accuracy") == (sig["task"] == "classification")]
    return {"model_version_id": version.id, "dataset_id": dataset.id, "rows": int(x.shape[0]),
            "metrics": dict(zip(names, values))}


@router.post("/{version_id}/evaluate")
def evaluate_version(version_id: str, body: EvaluateRequest, request: Request,
                     principal: Principal = Depends(require("member"))) -> dict[str, Any]:
    """Evaluate a version on another dataset of the same shape (its preprocessing applied)."""
    return _evaluate(request.app.state.svc, principal.tenant_id, version_id, body.dataset_id)
