"""`aiaas admin backup DEST` and `aiaas admin restore SRC --data-dir NEW`: a consistent snapshot of a
running server, and a new data folder made from one.

What a backup holds (DEST is a folder; it appears under its name only once complete):

    manifest.json            format, when, the database kind, every file with its size and sha256
    aiaas.db                 SQLite, through its online backup API (a plain copy of a database in WAL
                             mode, while a server writes to it, can be torn); or
    database.pgdump          PostgreSQL, `pg_dump --format=custom`
    artifacts/<kind>/*.enc   the encrypted artifacts, as they are on disk (still encrypted)
    master-key.fingerprint   which key they need (HMAC of a label; not the key)
    master.key               only with --include-master-key: whoever holds the backup can then decrypt it

Consistency: the database is snapshotted first, then the artifacts are copied. Artifacts are never
changed in place (a write goes to a temp file renamed over the final name), so each copied file is whole,
and every artifact the snapshot's rows refer to already existed when it was taken. One that was deleted
between the snapshot and its copy (a dataset deleted during the backup) is named in the manifest's
`missing` list; files written after the snapshot are copied too and simply unused after a restore.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from .crypto import FINGERPRINT_NAME, KEY_FILE_NAME, MasterKeyError, key_fingerprint, load_master_key, read_fingerprint
from .settings import Settings
from .storage import _ID, KINDS

FORMAT = "aiaas-backup-1"
MANIFEST = "manifest.json"
SQLITE_NAME = "aiaas.db"
PGDUMP_NAME = "database.pgdump"


class BackupError(RuntimeError):
    """A backup or restore that cannot go on; the message says what was wrong and what to do."""


def _copy_hashed(src: Path, dest: Path) -> tuple[int, str]:
    """Copy in 1 MiB pieces, fsynced; (bytes, sha256) of what was written."""
    digest, size = hashlib.sha256(), 0
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        while piece := fin.read(1 << 20):
            digest.update(piece)
            fout.write(piece)
            size += len(piece)
        fout.flush()
        os.fsync(fout.fileno())
    return size, digest.hexdigest()


def _hash_file(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while piece := fh.read(1 << 20):
            digest.update(piece)
            size += len(piece)
    return size, digest.hexdigest()


def _empty_target(path: Path, what: str) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise BackupError(f"{what} {path} already exists and is not an empty folder; give a new path "
                          "(nothing is ever overwritten)")


def _sqlite_path(url: str) -> Path:
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError(f"the database URL {url!r} names no SQLite file")
    return Path(database)


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The SQLAlchemy URL as pg_dump/pg_restore read it (no '+driver'), and their environment: a password
    goes in PGPASSWORD, not on the command line every local user can read in `ps`."""
    from sqlalchemy.engine import URL, make_url

    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    # URL.create, not .set(password=None): .set leaves a field alone when given None.
    bare = URL.create("postgresql", username=parsed.username, host=parsed.host, port=parsed.port,
                      database=parsed.database, query=parsed.query)
    return bare.render_as_string(hide_password=False), env


def _pg_tool(name: str) -> str:
    tool = shutil.which(name)
    if tool is None:
        raise BackupError(f"the database is PostgreSQL and {name} is not on PATH; install the PostgreSQL client "
                          f"tools of the server's major version (e.g. apt-get install postgresql-client)")
    return tool


def _snapshot_sqlite(src: Path, dest: Path) -> None:
    """The online backup API: a consistent copy while the server keeps writing (it restarts on the
    writes it sees, page by page), read through SQLite's own locking, WAL included."""
    if not src.exists():
        raise BackupError(f"no database at {src}; is --data-dir (or --database-url) the server's?")
    source = sqlite3.connect(src, timeout=30)  # read only in effect; "mode=ro" cannot join a WAL without its -shm
    target = sqlite3.connect(dest)
    try:
        source.execute("PRAGMA busy_timeout=30000")
        source.backup(target)
        # The copy carries the source's WAL mode; as a single self-contained file it needs no -wal beside it.
        target.execute("PRAGMA journal_mode=DELETE")
        check = target.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"the database snapshot failed SQLite's integrity check ({check}); the source "
                              f"database {src} may be damaged")
    finally:
        target.close()
        source.close()


def _referenced(db_file: Path) -> dict[str, set[str]]:
    """Artifact ids the snapshot's rows refer to, by kind."""
    conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        out = {"datasets": {r[0] for r in conn.execute("SELECT id FROM datasets")},
               "models": {r[0] for r in conn.execute("SELECT id FROM model_versions")},
               "checkpoints": set(), "predictions": set()}
        if "batch_predictions" in tables:
            out["predictions"] = {r[0] for r in conn.execute("SELECT id FROM batch_predictions WHERE state='succeeded'")}
        return out
    finally:
        conn.close()


def backup(settings: Settings, dest: Path, include_master_key: bool = False,
           say: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Write a backup of the server whose data folder (and database) `settings` names into `dest`.
    Safe while that server runs: it reads only, and takes no lock the server needs."""
    data_dir, dest = settings.data_dir, Path(dest).resolve()
    if not (data_dir / "artifacts").is_dir():
        raise BackupError(f"{data_dir} is not an aiaas data folder (no artifacts/ in it); pass the server's --data-dir")
    fingerprint = read_fingerprint(data_dir / FINGERPRINT_NAME)
    if fingerprint is None:
        raise BackupError(f"{data_dir} has no {FINGERPRINT_NAME} yet; start the server once on this version "
                          "(it writes the key's fingerprint) and back up again")
    key = None
    if include_master_key:
        if not (os.environ.get("AIAAS_MASTER_KEY") or settings.master_key_file or (data_dir / KEY_FILE_NAME).exists()):
            raise BackupError("--include-master-key: no master key found; pass --master-key-file or set AIAAS_MASTER_KEY")
        key = load_master_key(data_dir, settings.master_key_file)
        if key_fingerprint(key) != fingerprint:
            raise BackupError("--include-master-key: the master key given is not the one this data folder was "
                              "written with (fingerprints differ); pass the server's key")
    _empty_target(dest, "the backup destination")
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Built beside its final place and renamed at the end: an interrupted backup never looks complete.
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        os.chmod(work, 0o700)
        files: dict[str, dict[str, Any]] = {}
        url = settings.db_url
        if url.startswith("sqlite"):
            say("database: SQLite online backup")
            _snapshot_sqlite(_sqlite_path(url), work / SQLITE_NAME)
            database = {"kind": "sqlite", "file": SQLITE_NAME}
            referenced = _referenced(work / SQLITE_NAME)
            files[SQLITE_NAME] = dict(zip(("bytes", "sha256"), _hash_file(work / SQLITE_NAME)))
        elif url.startswith("postgresql"):
            say("database: pg_dump")
            tool = _pg_tool("pg_dump")
            # One transaction (pg_dump's own snapshot): consistent however the server writes meanwhile.
            dbname, env = _libpq(url)
            done = subprocess.run([tool, "--format=custom", "--no-owner", "--file", str(work / PGDUMP_NAME),
                                   "--dbname", dbname], capture_output=True, text=True, env=env)
            if done.returncode != 0:
                raise BackupError(f"pg_dump failed: {done.stderr.strip()[-500:]}")
            database = {"kind": "postgresql", "file": PGDUMP_NAME}
            referenced = None  # not read back from the dump; every artifact on disk is copied
            files[PGDUMP_NAME] = dict(zip(("bytes", "sha256"), _hash_file(work / PGDUMP_NAME)))
        else:
            raise BackupError(f"backups know SQLite and PostgreSQL databases, not {url.split(':', 1)[0]!r}")
        count = 0
        for kind in KINDS:
            (work / "artifacts" / kind).mkdir(parents=True, mode=0o700)
            for src in sorted((data_dir / "artifacts" / kind).glob("*.enc")):
                if not _ID.match(src.stem):
                    continue  # only finished artifacts (temp files are *.tmp<pid>)
                rel = f"artifacts/{kind}/{src.name}"
                try:
                    size, digest = _copy_hashed(src, work / rel)
                except FileNotFoundError:
                    (work / rel).unlink(missing_ok=True)
                    continue  # deleted while we copied; a row in the snapshot that needs it is reported below
                files[rel] = {"bytes": size, "sha256": digest}
                count += 1
        say(f"artifacts: {count} file(s)")
        missing = sorted(f"artifacts/{kind}/{i}.enc" for kind, ids in (referenced or {}).items() for i in ids
                         if f"artifacts/{kind}/{i}.enc" not in files)
        shutil.copyfile(data_dir / FINGERPRINT_NAME, work / FINGERPRINT_NAME)
        files[FINGERPRINT_NAME] = dict(zip(("bytes", "sha256"), _hash_file(work / FINGERPRINT_NAME)))
        if key is not None:
            fd = os.open(work / KEY_FILE_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(key.hex() + "\n")
            files[KEY_FILE_NAME] = dict(zip(("bytes", "sha256"), _hash_file(work / KEY_FILE_NAME)))
        manifest = {"format": FORMAT, "created_at": datetime.now(timezone.utc).isoformat(),
                    "source_data_dir": str(data_dir), "database": database, "key_fingerprint": fingerprint,
                    "master_key_included": key is not None, "missing": missing, "files": files}
        (work / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        if dest.exists():
            dest.rmdir()  # empty (checked above)
        os.rename(work, dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return manifest


def _read_manifest(src: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((src / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(f"{src} is not an aiaas backup (no {MANIFEST}); pass the folder `aiaas admin backup` wrote") from None
    except ValueError as exc:
        raise BackupError(f"{src / MANIFEST} is not valid JSON ({exc}); the backup is damaged") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{src / MANIFEST} is not a backup format this version reads (expected {FORMAT!r})")
    return manifest


def _safe_rel(rel: str) -> bool:
    """A manifest path this restore may write: the names a backup writes, nothing that climbs out."""
    parts = rel.split("/")
    if rel in (SQLITE_NAME, PGDUMP_NAME, FINGERPRINT_NAME, KEY_FILE_NAME):
        return True
    return (len(parts) == 3 and parts[0] == "artifacts" and parts[1] in KINDS and parts[2].endswith(".enc")
            and bool(_ID.match(parts[2][:-4])))


def restore(src: Path, data_dir: Path, database_url: str | None = None,
            say: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Make the new data folder `data_dir` (and, for a PostgreSQL backup, fill the empty database at
    `database_url`) from the backup in `src`, checking every file against the manifest first."""
    src, data_dir = Path(src).resolve(), Path(data_dir).resolve()
    manifest = _read_manifest(src)
    _empty_target(data_dir, "the data folder to restore into")
    kind = manifest["database"]["kind"]
    if kind == "postgresql" and not database_url:
        raise BackupError("this backup holds a PostgreSQL dump: pass --database-url of an empty database to restore it into")
    if kind == "sqlite" and database_url:
        raise BackupError("this backup holds a SQLite database, restored into the data folder; drop --database-url")
    files = manifest["files"]
    for rel, meta in files.items():  # everything checked before anything is written
        if not _safe_rel(rel):
            raise BackupError(f"the manifest names an unexpected file {rel!r}; the backup is damaged or not aiaas's")
        path = src / rel
        if not path.is_file():
            raise BackupError(f"the backup lacks {rel}; it is incomplete")
        if _hash_file(path) != (meta["bytes"], meta["sha256"]):
            raise BackupError(f"{rel} in the backup does not match its checksum; the backup is damaged")
    say(f"checked {len(files)} file(s)")
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.restoring-", dir=data_dir.parent))
    try:
        os.chmod(work, 0o700)
        for kind_dir in KINDS:
            (work / "artifacts" / kind_dir).mkdir(parents=True, mode=0o700)
        for rel in files:
            if rel == PGDUMP_NAME:
                continue
            _copy_hashed(src / rel, work / rel)
            os.chmod(work / rel, 0o600)
        if kind == "postgresql":
            say("database: pg_restore")
            dbname, env = _libpq(database_url)
            done = subprocess.run([_pg_tool("pg_restore"), "--no-owner", "--exit-on-error", "--dbname", dbname,
                                   str(src / PGDUMP_NAME)], capture_output=True, text=True, env=env)
            if done.returncode != 0:
                raise BackupError(f"pg_restore failed (the target database must be empty): {done.stderr.strip()[-500:]}")
        if data_dir.exists():
            data_dir.rmdir()  # empty (checked above)
        os.rename(work, data_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return manifest


__all__ = ["BackupError", "MasterKeyError", "backup", "restore"]
