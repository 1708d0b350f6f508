"""Health, readiness and the audit log."""

from __future__ import annotations

import shutil
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select, text

from ..errors import ApiError
from ..models import AuditEntry
from ..security import Principal, require

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> dict[str, Any]:
    """Readiness: the database answers, the data folder has room to write, and the training workers are alive."""
    svc = request.app.state.svc
    try:
        with svc.sessions() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:
        raise ApiError(503, f"database not reachable: {type(exc).__name__}") from exc
    # A full disk failed uploads, checkpoints and key creation while /readyz said 200: a load balancer
    # or an operator must hear it here first.
    free, need = shutil.disk_usage(svc.settings.data_dir).free, svc.settings.min_free_bytes
    if free < need:
        raise ApiError(503, f"only {free // 2**20} MiB free in the data folder, under the {need // 2**20} MiB "
                            "needed to write uploads, checkpoints and models (AIAAS_MIN_FREE_BYTES)")
    alive = svc.executor.alive_workers() if svc.executor is not None else 0
    if alive == 0:
        raise ApiError(503, "no training worker is running")
    return {"status": "ready", "workers": alive}


@router.get("/v1/audit")
def audit(
    request: Request,
    principal: Principal = Depends(require("admin")),
    limit: int = Query(100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    """Who did what, when (newest first). Admins only."""
    with request.app.state.svc.sessions() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
        return [
            {"at": r.at, "tenant_id": r.tenant_id, "key_id": r.key_id, "action": r.action,
             "target": r.target, "status": r.status}
            for r in rows
        ]
