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
from starlette.concurrency import run_in_threadpool
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


ADMIN_KEY_MIN_CHARS = 32
ADMIN_KEY_MIN_DISTINCT = 16  # a word, a repeated character or a keyboard walk has fewer
_KEY_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def check_admin_key(key: str) -> None:
    """ValueError unless an operator-chosen admin key (AIAAS_ADMIN_KEY) looks like one generate_key()
    makes: it opens every tenant, so 'x' or 'password' must not start a server. The key is not quoted."""
    if len(key) >= ADMIN_KEY_MIN_CHARS and set(key) <= _KEY_ALPHABET and len(set(key)) >= ADMIN_KEY_MIN_DISTINCT:
        return
    raise ValueError(
        f"AIAAS_ADMIN_KEY is too easy to guess ({len(key)} characters, {len(set(key))} different): it must be at least "
        f"{ADMIN_KEY_MIN_CHARS} characters of A-Z a-z 0-9 _ - with at least {ADMIN_KEY_MIN_DISTINCT} different "
        "ones, like the keys the server generates. Make one with: python -c \"import secrets; "
        "print('aiaas_' + secrets.token_urlsafe(32))\" (or leave AIAAS_ADMIN_KEY unset: the first start prints one)")


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

    max_buckets = 100_000

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key_id: str, limit: int) -> float | None:
        """None when allowed, else the seconds to wait."""
        rate = limit / 60.0
        now = time.monotonic()
        with self._lock:
            if key_id not in self._buckets and len(self._buckets) >= self.max_buckets:
                self._buckets.clear()  # bounded memory against many distinct callers; they start afresh
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


@dataclass(frozen=True)
class CachedKey:
    """What a request needs of a valid (not revoked) key row, held in memory by KeyCache."""

    principal: Principal
    expires_at: datetime | None  # timezone-aware; checked on every request
    rate_limit_per_minute: int | None
    loaded: float  # time.monotonic() when read from the database


class KeyCache:
    """key hash -> CachedKey of valid keys, so a request with a known key needs no database query.

    Only valid keys are cached (an unknown key always asks the database: keys created by `aiaas admin
    create-key` work at once). `invalidate(key_id)` drops a key immediately (revocation, deletion);
    the generation counter keeps a lookup that raced with an invalidation from re-adding the stale row.
    Entries are re-read after `ttl_s` so changes made outside this process are picked up too.
    """

    # Re-read every 2 s: a key revoked through another API process on the same database (PostgreSQL
    # replicas, or several processes on one SQLite file) stopped working here only after 30 s. One indexed
    # read per key per 2 s costs nothing measurable; a request within the window is still served.
    def __init__(self, ttl_s: float = 2.0, max_entries: int = 10_000) -> None:
        self.ttl_s, self.max_entries = ttl_s, max_entries
        self._entries: dict[str, CachedKey] = {}
        self._lock = threading.Lock()
        self._generation = 0

    @property
    def generation(self) -> int:
        return self._generation

    def get(self, key_hash: str) -> CachedKey | None:
        hit = self._entries.get(key_hash)
        if hit is not None and time.monotonic() - hit.loaded > self.ttl_s:
            return None
        return hit

    def put(self, key_hash: str, entry: CachedKey, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return  # an invalidation happened while this row was read: it may be stale
            if len(self._entries) >= self.max_entries:
                self._entries.clear()  # bounded memory; valid keys are simply read again
            self._entries[key_hash] = entry

    def invalidate(self, key_id: str | None = None) -> None:
        """Forget one key (by id), or every key when key_id is None."""
        with self._lock:
            self._generation += 1
            if key_id is None:
                self._entries.clear()
            else:
                for h in [h for h, e in self._entries.items() if e.principal.key_id == key_id]:
                    del self._entries[h]


def _unauthorized(detail: str) -> ApiError:
    return ApiError(401, detail, {"WWW-Authenticate": "Bearer"})


def _presented_key(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise _unauthorized("missing API key: send the header 'Authorization: Bearer <key>'")
    return presented.strip()


def _load_key(state, presented: str, key_hash: str) -> CachedKey:
    """Read the key row from the database (401 unless valid); caches it. Blocking: call from a thread."""
    cache: KeyCache = state.key_cache
    generation = cache.generation
    with state.sessions() as session:
        row = _lookup(session, presented)
        if row is None:
            raise _unauthorized("invalid API key")
        if row.revoked_at is not None:
            raise _unauthorized("API key has been revoked")
        entry = CachedKey(Principal(key_id=row.id, tenant_id=row.tenant_id, role=row.role),
                          _aware(row.expires_at) if row.expires_at is not None else None,
                          row.rate_limit_per_minute, time.monotonic())
    cache.put(key_hash, entry, generation)
    return entry


def _admit(request: Request, state, entry: CachedKey) -> Principal:
    """Expiry (checked on every request, cached or not) and the key's rate limit."""
    if entry.expires_at is not None and entry.expires_at <= datetime.now(timezone.utc):
        raise _unauthorized("API key has expired")
    principal = entry.principal
    request.state.principal = principal
    limit = entry.rate_limit_per_minute or state.settings.rate_limit_per_minute
    wait = state.rate_limiter.check(principal.key_id, limit)
    if wait is not None:
        raise ApiError(429, f"rate limit of {limit} requests per minute exceeded for this key; retry later",
                       {"Retry-After": str(max(1, math.ceil(wait)))})
    return principal


# Failed authentications (missing, unknown, revoked or expired keys) a client address may make per
# minute. Past that its failures are answered 429, which writes no audit row: guessing keys, or
# flooding the audit log with 401s, is throttled per address. Every key is still looked up (one
# indexed read), so a valid key is never held back, even from an address shared with an attacker
# (a proxy).
def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


def _throttled(wait: float) -> ApiError:
    return ApiError(429, "too many failed authentication attempts from this address; retry later",
                    {"Retry-After": str(max(1, math.ceil(wait)))})


def _failure(request: Request, state, error: ApiError) -> ApiError:
    """The error to answer with: a 401 counts against the address, and becomes 429 past its limit."""
    if error.status != 401:
        return error
    wait = state.failed_auth_limiter.check(_client(request), state.settings.failed_auth_per_minute)
    return error if wait is None else _throttled(wait)


def authenticate(request: Request) -> Principal:
    """The caller of this request, or 401; 429 past the key's rate limit (or, for an address whose
    keys keep failing, past the failed-attempt limit). Blocking (may query the database)."""
    admitted = _already_admitted(request)
    if admitted is not None:
        return admitted
    state = request.app.state.svc
    try:
        presented = _presented_key(request)
        key_hash = hash_key(presented)
        entry = state.key_cache.get(key_hash)
        if entry is None:
            entry = _load_key(state, presented, key_hash)
        return _admit(request, state, entry)
    except ApiError as error:
        raise _failure(request, state, error) from None


def _already_admitted(request: Request) -> Principal | None:
    """The principal auth_gate.AuthGate found for this request (checked there before any body was read)."""
    return request.scope.get("state", {}).get("principal")


async def authenticate_async(request: Request) -> Principal:
    """authenticate() for the event loop: a cached key costs no thread hop; a miss reads the database in a thread."""
    admitted = _already_admitted(request)
    if admitted is not None:
        return admitted
    state = request.app.state.svc
    try:
        presented = _presented_key(request)
        key_hash = hash_key(presented)
        entry = state.key_cache.get(key_hash)
        if entry is None:
            entry = await run_in_threadpool(_load_key, state, presented, key_hash)
        return _admit(request, state, entry)
    except ApiError as error:
        raise _failure(request, state, error) from None


def require(role: str):
    """Dependency factory: the caller must hold `role` or a stronger one (admin > member > predict)."""

    async def dependency(request: Request) -> Principal:  # async: runs on the loop, no threadpool hop
        principal = await authenticate_async(request)
        if not principal.allows(role):
            raise ApiError(403, f"this action needs the {role!r} role; your key has role {principal.role!r}")
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency
