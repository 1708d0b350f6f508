"""In-process checks of the layers under the routes: tenant-scoped repository, encryption, migrations."""

from __future__ import annotations

import io
import os

import pytest
from sqlalchemy import inspect

from aiaas_core.service.crypto import CHUNK, DecryptionError, MasterKeyError, decrypt_chunks
from aiaas_core.service.db import make_engine, make_sessionmaker, migrate, session_scope
from aiaas_core.service.errors import ApiError
from aiaas_core.service.models import Dataset, Tenant, new_id
from aiaas_core.service.repository import TenantRepo
from aiaas_core.service.storage import Storage


@pytest.fixture()
def factory(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    migrate(engine)  # idempotent: a restart runs it again
    assert {"tenants", "api_keys", "datasets", "jobs", "job_events", "model_versions", "endpoints",
            "audit_log", "alembic_version"} <= set(inspect(engine).get_table_names())
    return make_sessionmaker(engine)


def test_repository_scopes_every_lookup_by_tenant(factory):
    with session_scope(factory) as s:
        a, b = Tenant(name="a"), Tenant(name="b")
        s.add_all([a, b])
        s.flush()
        ds = TenantRepo(s, a.id).add(Dataset(name="d", format="csv", rows=1, size_bytes=1, summary={}, preprocessing={}))
        ids = (a.id, b.id, ds.id)
    with session_scope(factory) as s:
        a_id, b_id, ds_id = ids
        assert TenantRepo(s, a_id).get(Dataset, ds_id).name == "d"
        with pytest.raises(ApiError) as err:
            TenantRepo(s, b_id).get(Dataset, ds_id)
        assert err.value.status == 404 and ds_id in err.value.detail
        assert TenantRepo(s, b_id).list(Dataset) == []
        # add() stamps the repository's tenant whatever the row said
        row = TenantRepo(s, b_id).add(Dataset(tenant_id=a_id, name="x", format="csv", rows=1, size_bytes=1,
                                              summary={}, preprocessing={}))
        assert row.tenant_id == b_id
        with pytest.raises(ApiError):
            TenantRepo(s, a_id).list(Dataset, limit=0)


def test_encryption_round_trip_and_tampering(tmp_path, monkeypatch):
    monkeypatch.delenv("AIAAS_MASTER_KEY", raising=False)
    store = Storage(tmp_path)
    assert (tmp_path / "master.key").stat().st_mode & 0o777 == 0o600
    for size in (0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 5):
        data = os.urandom(size)
        i = new_id()
        store.write_bytes("datasets", i, data)
        assert store.read_bytes("datasets", i) == data
        assert size < 64 or data[:64] not in store.path("datasets", i).read_bytes()
    i, j = new_id(), new_id()
    payload = b"secret rows\n" * 300_000  # > 3 chunks
    store.write_bytes("models", i, payload)
    store.write_bytes("models", j, payload)
    raw = bytearray(store.path("models", i).read_bytes())
    raw[100] ^= 1
    store.path("models", i).write_bytes(bytes(raw))
    with pytest.raises(DecryptionError):
        store.read_bytes("models", i)
    # a file copied under another id does not decrypt (the id is authenticated)
    store.path("models", i).write_bytes(store.path("models", j).read_bytes())
    with pytest.raises(DecryptionError):
        store.read_bytes("models", i)
    # truncated at a chunk boundary: the last chunk flag is missing
    good = store.path("models", j).read_bytes()
    first_record = 8 + 4 + 12 + CHUNK + 16
    store.path("models", j).write_bytes(good[:first_record])
    with pytest.raises(DecryptionError):
        store.read_bytes("models", j)
    # another master key cannot read this store: refused when opening it (the key's fingerprint), and
    # its artifacts do not decrypt under it anyway
    other_key = os.urandom(32)
    monkeypatch.setenv("AIAAS_MASTER_KEY", other_key.hex())
    with pytest.raises(MasterKeyError, match="not the one the data folder"):
        Storage(tmp_path)
    k = new_id()
    store.write_bytes("datasets", k, b"abc")
    with open(store.path("datasets", k), "rb") as fh, pytest.raises(DecryptionError):
        b"".join(decrypt_chunks(io.BufferedReader(fh), other_key, f"datasets/{k}"))


def test_storage_refuses_paths_that_are_not_server_ids(tmp_path, monkeypatch):
    monkeypatch.delenv("AIAAS_MASTER_KEY", raising=False)
    store = Storage(tmp_path)
    for bad in ("../../etc/passwd", "a" * 31, "A" * 32, ""):
        with pytest.raises(ValueError):
            store.path("datasets", bad)
    with pytest.raises(ValueError):
        store.path("secrets", new_id())
    monkeypatch.setenv("AIAAS_MASTER_KEY", "too-short")
    with pytest.raises(ValueError):
        Storage(tmp_path)
