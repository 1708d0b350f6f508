"""Read-only routes a client (the web console first) needs beyond the resources: who am I, a preview of
a dataset, a tenant's keys, an endpoint's recent traffic. Each reads through the same tenant-scoped
repository as the resource routes, so another tenant's id is a 404 here too."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from ..dataset_files import load_arrays
from ..errors import ApiError
from ..models import ApiKey, Dataset, ModelVersion
from ..repository import AdminRepo, TenantRepo
from ..security import Principal, require

router = APIRouter(prefix="/v1", tags=["introspection"])
MAX_IMAGE_PREVIEW = 8


@router.get("/whoami")
def whoami(request: Request, principal: Principal = Depends(require("predict"))) -> dict[str, Any]:
    """The caller's key: its role and tenant (a client shows only what that role may do)."""
    with request.app.state.svc.sessions() as session:
        tenant = TenantRepo(session, principal.tenant_id).tenant()
        return {"key_id": principal.key_id, "role": principal.role, "tenant_id": tenant.id, "tenant_name": tenant.name}


def _column_stats(name: str, column: np.ndarray) -> dict[str, Any]:
    finite = column[np.isfinite(column)]
    integral = bool(finite.size) and bool(np.all(finite == np.round(finite)))
    return {"name": name, "type": "integer" if integral else "number", "missing": int((~np.isfinite(column)).sum()),
            "min": float(finite.min()) if finite.size else None, "max": float(finite.max()) if finite.size else None,
            "mean": float(finite.mean()) if finite.size else None, "distinct": int(np.unique(finite).size)}


def _finite_or_none(values: np.ndarray) -> list:
    return [None if not np.isfinite(v) else float(v) for v in values.tolist()]


def _preview(svc, tenant_id: str, dataset_id: str, rows: int) -> dict[str, Any]:
    with svc.sessions() as session:
        dataset = TenantRepo(session, tenant_id).get(Dataset, dataset_id)
        columns = dataset.summary.get("columns")
    x, y = load_arrays(svc.storage, dataset.id)
    labels = None if y is None else (_finite_or_none(y[:rows]) if y.dtype.kind == "f" else y[:rows].tolist())
    out: dict[str, Any] = {"dataset_id": dataset.id, "x_shape": [int(d) for d in x.shape[1:]], "labels": labels}
    if x.ndim == 2:  # tabular: first rows and a summary of every column
        names = columns or [f"x{i}" for i in range(x.shape[1])]
        out["columns"] = names
        out["rows"] = [_finite_or_none(r) for r in np.asarray(x[:rows], dtype=np.float64)]
        out["column_stats"] = [_column_stats(n, np.asarray(x[:, i], dtype=np.float64)) for i, n in enumerate(names)]
    elif x.ndim in (3, 4) and (x.ndim == 3 or x.shape[3] == 1):  # grayscale images: a few to look at
        images = np.asarray(x[:min(rows, MAX_IMAGE_PREVIEW)], dtype=np.float64).reshape(-1, x.shape[1], x.shape[2])
        out["images"] = [[_finite_or_none(r) for r in img] for img in images]
    return out


@router.get("/datasets/{dataset_id}/preview")
async def preview_dataset(dataset_id: str, request: Request, principal: Principal = Depends(require("member")),
                          rows: int = Query(10, ge=1, le=100, description="leading rows to return")) -> dict[str, Any]:
    """The first rows (tabular) or images (grayscale), and per column: type, missing values, range, mean."""
    return await run_in_threadpool(_preview, request.app.state.svc, principal.tenant_id, dataset_id, rows)


@router.get("/tenants/{tenant_id}/keys")
def list_tenant_keys(tenant_id: str, request: Request, _p: Principal = Depends(require("admin"))) -> list[dict[str, Any]]:
    """A tenant's keys (never the secret: only its first characters), newest first. Admins only."""
    with request.app.state.svc.sessions() as session:
        tenant = AdminRepo(session).tenant(tenant_id)
        rows = session.scalars(select(ApiKey).where(ApiKey.tenant_id == tenant.id).order_by(ApiKey.created_at.desc()))
        return [{"id": k.id, "prefix": k.prefix, "role": k.role, "created_at": k.created_at, "expires_at": k.expires_at,
                 "revoked_at": k.revoked_at, "rate_limit_per_minute": k.rate_limit_per_minute} for k in rows]


@router.get("/endpoints/{name}/stats")
def endpoint_stats(name: str, request: Request, principal: Principal = Depends(require("predict"))) -> dict[str, Any]:
    """Prediction requests of this endpoint over the last minute, as this server process saw them."""
    with request.app.state.svc.sessions() as session:
        endpoint = TenantRepo(session, principal.tenant_id).endpoint_by_name(name)
    return {"endpoint": endpoint.name, **request.app.state.traffic.summary(principal.tenant_id, endpoint.name)}


@router.get("/endpoints/{name}/signature")
def endpoint_signature(name: str, request: Request, principal: Principal = Depends(require("predict"))) -> dict[str, Any]:
    """What a prediction form needs: the input shape, the task, the classes and, for tabular models, the
    feature names of the dataset the primary version was trained on (when that dataset still exists)."""
    with request.app.state.svc.sessions() as session:
        repo = TenantRepo(session, principal.tenant_id)
        endpoint = repo.endpoint_by_name(name)
        version = repo.get(ModelVersion, endpoint.model_version_id)
        sig = version.signature or {}
        features = None
        if version.dataset_id is not None and len(sig.get("input_shape") or ()) == 1:
            try:
                features = repo.get(Dataset, version.dataset_id).summary.get("columns")
            except ApiError:  # the dataset was deleted since: the form numbers the features instead
                features = None
        return {"endpoint": endpoint.name, "model_version_id": version.id, "input_shape": sig.get("input_shape"),
                "task": sig.get("task"), "classes": sig.get("classes"), "feature_names": features}
