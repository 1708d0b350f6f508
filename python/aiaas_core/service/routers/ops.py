"""Health, readiness and the audit log."""

from __future__ import annotations

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
    """Readiness: the database answers and the training workers are alive."""
    svc = request.app.state.svc
    try:
        with svc.sessions() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:
        raise ApiError(503, f"database not reachable: {type(exc).__name__}") from exc
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
