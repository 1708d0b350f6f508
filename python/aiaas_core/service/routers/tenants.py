"""Tenants and API keys (admins only, except that nothing here is tenant-scoped data)."""

from __future__ import annotations

from datetime import datetime, timezone

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select

from ..errors import ApiError
from ..models import Tenant
from ..repository import AdminRepo
from ..schemas import KeyCreate, KeyOut, TenantCreate, TenantOut
from ..security import Principal, create_key, require

router = APIRouter(prefix="/v1", tags=["tenants"])


def _out(t: Tenant) -> TenantOut:
    return TenantOut(id=t.id, name=t.name, max_concurrent_jobs=t.max_concurrent_jobs,
                     max_epochs=t.max_epochs, max_dataset_bytes=t.max_dataset_bytes)


@router.post("/tenants", status_code=201, response_model=TenantOut)
def create_tenant(body: TenantCreate, request: Request, _p: Principal = Depends(require("admin"))) -> TenantOut:
    """Create a tenant (optionally with its own quotas)."""
    with request.app.state.svc.sessions() as session:
        if session.scalar(select(Tenant).where(Tenant.name == body.name)) is not None:
            raise ApiError(409, f"a tenant named {body.name!r} already exists; choose another name")
        tenant = Tenant(**body.model_dump())
        session.add(tenant)
        session.flush()
        return _out(tenant)


@router.get("/tenants", response_model=list[TenantOut])
def list_tenants(request: Request, _p: Principal = Depends(require("admin"))) -> list[TenantOut]:
    with request.app.state.svc.sessions() as session:
        return [_out(t) for t in session.scalars(select(Tenant).order_by(Tenant.created_at))]


@router.post("/tenants/{tenant_id}/keys", status_code=201, response_model=KeyOut)
def create_tenant_key(tenant_id: str, body: KeyCreate, request: Request,
                      _p: Principal = Depends(require("admin"))) -> KeyOut:
    """Create an API key for a tenant; the key is in this answer only."""
    if body.expires_at is not None and body.expires_at <= datetime.now(timezone.utc):  # UTC (KeyCreate)
        raise ApiError(422, f"expires_at must be in the future, got {body.expires_at.isoformat()}")
    with request.app.state.svc.sessions() as session:
        tenant = AdminRepo(session).tenant(tenant_id)
        if body.role == "admin" and tenant.name != "system":
            # An admin key can create tenants and keys for everyone: only operators (the system
            # tenant) hold one, never a customer tenant.
            raise ApiError(422, "admin keys belong to the 'system' tenant; give a customer tenant member or predict keys")
        row, plaintext = create_key(session, tenant.id, body.role, body.expires_at, body.rate_limit_per_minute)
        return KeyOut(id=row.id, key=plaintext, role=row.role, tenant_id=tenant.id, expires_at=row.expires_at)


@router.delete("/keys/{key_id}", status_code=204)
def revoke_key(key_id: str, request: Request, _p: Principal = Depends(require("admin"))) -> Response:
    """Revoke a key: it stops working at once."""
    svc = request.app.state.svc
    with svc.sessions() as session:
        row = AdminRepo(session).key(key_id)
        if row.revoked_at is None:
            row.revoked_at = datetime.now(timezone.utc)
    svc.key_cache.invalidate(key_id)  # after the commit: the next request with this key reads the revocation
    return Response(status_code=204)
