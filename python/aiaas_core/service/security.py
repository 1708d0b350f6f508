"""API keys (random, stored as sha256, shown once), roles, the auth dependency and a per-key rate limit."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import ApiError
from .models import ApiKey, Tenant

ROLES = ("admin", "member", "predict")
# What each role may do; a role includes the ones after it.
_RANK = {"predict": 0, "member": 1, "admin": 2}


def hash_key(key: str) -> str:
    """sha256 is enough for 256-bit random keys (no dictionary to attack); never store the key itself."""
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key() -> str:
    return "aiaas_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Principal:
    key_id: str
    tenant_id: str
    role: str

    def allows(self, role: str) -> bool:
        return _RANK[self.role] >= _RANK[role]


def create_key(
    session: Session,
    tenant_id: str,
    role: str,
    expires_at: datetime | None = None,
    rate_limit_per_minute: int | None = None,
    key: str | None = None,
) -> tuple[ApiKey, str]:
    """Insert a key row; returns (row, plaintext key). The plaintext is never stored."""
    if role not in ROLES:
        raise ApiError(422, f"role must be one of {list(ROLES)}, got {role!r}")
    plaintext = key or generate_key()
    row = ApiKey(
        tenant_id=tenant_id,
        role=role,
        key_hash=hash_key(plaintext),
        prefix=plaintext[:10],
        expires_at=expires_at,
        rate_limit_per_minute=rate_limit_per_minute,
    )
    session.add(row)
    session.flush()
    return row, plaintext


def ensure_admin(session: Session, key: str | None = None) -> str | None:
    """First start: create the `system` tenant and an admin key (or register `key`). Returns a new key or None."""
    tenant = session.scalar(select(Tenant).where(Tenant.name == "system"))
    if tenant is None:
        tenant = Tenant(name="system")
        session.add(tenant)
        session.flush()
    if key is not None:
        if session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key))) is None:
            create_key(session, tenant.id, "admin", key=key)
        return None
    has_admin = session.scalar(select(ApiKey).where(ApiKey.role == "admin", ApiKey.revoked_at.is_(None)))
    if has_admin is not None:
        return None
    _, plaintext = create_key(session, tenant.id, "admin")
    return plaintext


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)  # SQLite returns naive datetimes


class RateLimiter:
    """Token bucket per key: `limit` requests per minute, bursts up to `limit`."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key_id: str, limit: int) -> float | None:
        """None when allowed, else the seconds to wait."""
        rate = limit / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (float(limit), now))
            tokens = min(float(limit), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return None
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / rate


def _lookup(session: Session, presented: str) -> ApiKey | None:
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(presented)))
    # The index lookup found the row by hash; compare again in constant time before trusting it.
    if row is not None and hmac.compare_digest(row.key_hash, hash_key(presented)):
        return row
    return None


def authenticate(request: Request) -> Principal:
    """FastAPI dependency: the caller of this request, or 401; 429 past the key's rate limit."""
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise ApiError(401, "missing API key: send the header 'Authorization: Bearer <key>'",
                       {"WWW-Authenticate": "Bearer"})
    state = request.app.state.svc
    with state.sessions() as session:
        row = _lookup(session, presented.strip())
        if row is None:
            raise ApiError(401, "invalid API key", {"WWW-Authenticate": "Bearer"})
        if row.revoked_at is not None:
            raise ApiError(401, "API key has been revoked", {"WWW-Authenticate": "Bearer"})
        if row.expires_at is not None and _aware(row.expires_at) <= datetime.now(timezone.utc):
            raise ApiError(401, "API key has expired", {"WWW-Authenticate": "Bearer"})
        principal = Principal(key_id=row.id, tenant_id=row.tenant_id, role=row.role)
        limit = row.rate_limit_per_minute or state.settings.rate_limit_per_minute
    request.state.principal = principal
    wait = state.rate_limiter.check(principal.key_id, limit)
    if wait is not None:
        raise ApiError(429, f"rate limit of {limit} requests per minute exceeded for this key; retry later",
                       {"Retry-After": str(max(1, math.ceil(wait)))})
    return principal


def require(role: str):
    """Dependency factory: the caller must hold `role` or a stronger one (admin > member > predict)."""

    def dependency(request: Request) -> Principal:
        principal = authenticate(request)
        if not principal.allows(role):
            raise ApiError(403, f"this action needs the {role!r} role; your key has role {principal.role!r}")
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency
