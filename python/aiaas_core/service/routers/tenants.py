"""Tenants and API keys (admins only, except that nothing here is tenant-scoped data)."""

from __future__ import annotations

from datetime import datetime, timezone

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import delete, select, update

from ..batch_predictions import BatchPrediction
from ..deployments import EndpointOptions
from ..errors import ApiError
from ..models import ApiKey, Dataset, Endpoint, Job, JobEvent, ModelVersion, Tenant
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


def _refuse_while_running(tenant_id: str, running_jobs, running_batch) -> None:
    if running_jobs or running_batch is not None:
        what = f"{len(running_jobs)} running job(s)" if running_jobs else "a batch prediction still running"
        raise ApiError(409, f"tenant {tenant_id!r} has {what}; its keys are revoked and its jobs were asked to stop. "
                            "Repeat this DELETE once they have stopped (a job stops at the end of its current epoch)",
                       {"Retry-After": "5"})


@router.delete("/tenants/{tenant_id}", status_code=204,
               responses={409: {"description": "work still running; its keys are revoked, retry after Retry-After"},
                          422: {"description": "the system tenant cannot be deleted"}})
def delete_tenant(tenant_id: str, request: Request, _p: Principal = Depends(require("admin"))) -> Response:
    """Erase a tenant: its keys, datasets, jobs and their events, model versions, endpoints and batch
    predictions, rows and encrypted files. The audit log keeps its rows (the operator's record of who
    did what, this deletion included; they hold ids, paths and statuses, no tenant data).

    Its keys are revoked first, so nothing new starts. A job or batch prediction still running would
    write after the erasure: such work is asked to stop and the answer is 409 with Retry-After; the
    same DELETE then finishes once it has stopped (a job stops at the end of its current epoch)."""
    svc = request.app.state.svc
    with svc.sessions() as session:
        tenant = AdminRepo(session).tenant(tenant_id)
        if tenant.name == "system":
            raise ApiError(422, "the system tenant holds the admin keys and cannot be deleted")
        now = datetime.now(timezone.utc)
        session.execute(update(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.revoked_at.is_(None))
                        .values(revoked_at=now))
        # Queued work never starts: the state change is the same compare-and-set claim_next loses to.
        session.execute(update(Job).where(Job.tenant_id == tenant_id, Job.state == "queued")
                        .values(state="canceled", cancel_requested=True, finished_at=now))
        running_jobs = session.scalars(select(Job.id).where(Job.tenant_id == tenant_id, Job.state == "running")).all()
        running_batches = session.scalar(select(BatchPrediction.id).where(
            BatchPrediction.tenant_id == tenant_id, BatchPrediction.state.in_(("queued", "running"))).limit(1))
        if running_jobs:
            session.execute(update(Job).where(Job.id.in_(running_jobs)).values(cancel_requested=True))
    svc.key_cache.invalidate()  # after the commit: every process re-reads keys within its cache TTL
    _refuse_while_running(tenant_id, running_jobs, running_batches)
    with svc.sessions() as session:
        # Again inside the erasing transaction: a request admitted just before the keys were revoked may
        # have queued work since, and a worker may have claimed it (rows deleted under a running job
        # would leave its checkpoint and model files behind).
        session.execute(update(Tenant).where(Tenant.id == tenant_id).values(name=Tenant.name))  # its write lock first
        session.execute(update(Job).where(Job.tenant_id == tenant_id, Job.state == "queued")
                        .values(state="canceled", cancel_requested=True, finished_at=now))
        _refuse_while_running(
            tenant_id,
            session.scalars(select(Job.id).where(Job.tenant_id == tenant_id, Job.state == "running")).all(),
            session.scalar(select(BatchPrediction.id).where(
                BatchPrediction.tenant_id == tenant_id, BatchPrediction.state.in_(("queued", "running"))).limit(1)))
        datasets = set(session.scalars(select(Dataset.id).where(Dataset.tenant_id == tenant_id)))
        jobs = set(session.scalars(select(Job.id).where(Job.tenant_id == tenant_id)))
        versions = set(session.scalars(select(ModelVersion.id).where(ModelVersion.tenant_id == tenant_id)))
        batches = set(session.scalars(select(BatchPrediction.id).where(BatchPrediction.tenant_id == tenant_id)))
        endpoints = select(Endpoint.id).where(Endpoint.tenant_id == tenant_id)
        # Children first, explicitly: the same result on PostgreSQL and on SQLite whatever its
        # foreign-key pragma (the schema's ON DELETE CASCADE would do it only where enforced).
        session.execute(delete(EndpointOptions).where(EndpointOptions.endpoint_id.in_(endpoints)))
        session.execute(delete(JobEvent).where(JobEvent.job_id.in_(select(Job.id).where(Job.tenant_id == tenant_id))))
        for table in (BatchPrediction, Endpoint, ModelVersion, Job, Dataset, ApiKey):
            session.execute(delete(table).where(table.tenant_id == tenant_id))
        session.execute(delete(Tenant).where(Tenant.id == tenant_id))
    svc.key_cache.invalidate()
    svc.serving.forget_tenant(tenant_id, versions)
    # Files after the rows: a crash in between leaves unreferenced encrypted files, never a row whose
    # file is gone. Deleting a missing file is a no-op, so a repeated erasure finishes the job.
    for kind, ids in (("datasets", datasets), ("checkpoints", jobs), ("models", versions), ("predictions", batches)):
        for artifact_id in ids:
            svc.storage.delete(kind, artifact_id)
    return Response(status_code=204)

