"""The service's long-lived objects, held on `app.state.svc` and shared by all requests."""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from .db import make_engine, make_sessionmaker, migrate, session_scope
from .security import KeyCache, RateLimiter, check_admin_key, ensure_admin
from .settings import Settings
from .storage import Storage


@dataclass
class ServiceState:
    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]
    storage: Storage
    rate_limiter: RateLimiter = field(default_factory=RateLimiter)
    failed_auth_limiter: RateLimiter = field(default_factory=RateLimiter)  # per client address
    key_cache: KeyCache = field(default_factory=KeyCache)  # valid keys by hash (revocation invalidates)
    bootstrap_key: str | None = None  # the admin key created on first start (printed once, never stored)
    executor: object | None = None
    serving: object | None = None

    def sessions(self) -> AbstractContextManager[Session]:
        return session_scope(self.factory)


def open_state(settings: Settings) -> ServiceState:
    """Create the data dir, migrate the schema, and make sure an admin key exists (ValueError for an
    AIAAS_ADMIN_KEY too easy to guess, before anything is created)."""
    admin_key = os.environ.get("AIAAS_ADMIN_KEY") or None
    if admin_key is not None:
        check_admin_key(admin_key)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    engine = make_engine(settings.db_url)
    migrate(engine)
    state = ServiceState(settings=settings, engine=engine, factory=make_sessionmaker(engine),
                         storage=Storage(settings.data_dir, settings.master_key_file))
    with state.sessions() as session:
        state.bootstrap_key = ensure_admin(session, admin_key)
    return state

