"""Tenant-scoped data access: every lookup of a tenant-owned row goes through here.

Routes never query tenant-owned tables directly, so forgetting a tenant filter is not possible there;
another tenant's id looks exactly like a missing id (404).
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from .errors import ApiError, not_found
from .models import ApiKey, Dataset, Endpoint, Job, ModelVersion, Tenant

T = TypeVar("T", Dataset, Job, ModelVersion, Endpoint)

_LABELS = {Dataset: "dataset", Job: "job", ModelVersion: "model version", Endpoint: "endpoint"}


class TenantRepo:
    """Rows of one tenant. `session` is the caller's unit of work."""

    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session, self.tenant_id = session, tenant_id

    def get(self, model: type[T], object_id: str) -> T:
        row = self.session.scalar(select(model).where(model.id == object_id, model.tenant_id == self.tenant_id))
        if row is None:
            raise not_found(_LABELS[model], object_id)
        return row

    def list(self, model: type[T], limit: int = 100, offset: int = 0) -> list[T]:
        if not (1 <= limit <= 1000) or offset < 0:
            raise ApiError(422, f"limit must be in 1..1000 and offset >= 0, got limit={limit}, offset={offset}")
        stmt = (
            select(model).where(model.tenant_id == self.tenant_id)
            .order_by(model.created_at.desc(), model.id).limit(limit).offset(offset)
        )
        return list(self.session.scalars(stmt))

    def add(self, row: T) -> T:
        row.tenant_id = self.tenant_id
        self.session.add(row)
        self.session.flush()
        return row

    def delete(self, row: T) -> None:
        if row.tenant_id != self.tenant_id:  # defence in depth; get() already filtered
            raise not_found(_LABELS[type(row)], row.id)
        self.session.delete(row)

    def endpoint_by_name(self, name: str) -> Endpoint:
        row = self.session.scalar(
            select(Endpoint).where(Endpoint.name == name, Endpoint.tenant_id == self.tenant_id)
        )
        if row is None:
            raise not_found("endpoint", name)
        return row

    def lock_tenant(self) -> None:
        """Hold the tenant's row until this transaction ends, so a quota count and the insert it allows are
        one step: a no-op UPDATE takes PostgreSQL's row lock and SQLite's write lock (pysqlite opens the
        transaction at the first write; reads before it hold no snapshot), so a second request waits
        here and then counts what the first one inserted."""
        self.session.execute(update(Tenant).where(Tenant.id == self.tenant_id).values(name=Tenant.name))

    def active_job_count(self) -> int:
        return int(self.session.scalar(
            select(func.count()).select_from(Job)
            .where(Job.tenant_id == self.tenant_id, Job.state.in_(("queued", "running")))
        ) or 0)

    def tenant(self) -> Tenant:
        row = self.session.get(Tenant, self.tenant_id)
        if row is None:
            raise not_found("tenant", self.tenant_id)
        return row


class AdminRepo:
    """Cross-tenant operations reserved for admin keys (tenants and their keys)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def tenant(self, tenant_id: str) -> Tenant:
        row = self.session.get(Tenant, tenant_id)
        if row is None:
            raise not_found("tenant", tenant_id)
        return row

    def key(self, key_id: str) -> ApiKey:
        row = self.session.get(ApiKey, key_id)
        if row is None:
            raise not_found("key", key_id)
        return row
