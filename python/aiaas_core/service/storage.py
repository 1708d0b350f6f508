"""Artifact files by (kind, id), encrypted at rest. Paths come only from server-generated ids."""

from __future__ import annotations

import io
import logging
import os
import re
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .crypto import (FINGERPRINT_NAME, DecryptionError, EncryptedWriter, MasterKeyError, decrypt_chunks,
                     first_chunk_decrypts, key_fingerprint, load_master_key, read_fingerprint, write_fingerprint)
from .errors import ApiError

log = logging.getLogger("aiaas.storage")


class DamagedArtifact(ApiError, DecryptionError):
    """A stored artifact that failed AES-GCM's check: an API error that says so (500: the server's data,
    not the request, is wrong), still a DecryptionError for code that handles those."""

KINDS = ("datasets", "checkpoints", "models", "predictions")
_ID = re.compile(r"^[0-9a-f]{32}$")


def check_master_key(data_dir: Path, key: bytes) -> None:
    """Refuse a master key that is not the one the folder's artifacts were written with: it started
    cleanly before, then answered 500 on every artifact. The fingerprint file is written on the first
    start; a folder from before fingerprints existed is checked against one of its artifacts first."""
    path = Path(data_dir) / FINGERPRINT_NAME
    expected = read_fingerprint(path)
    actual = key_fingerprint(key)
    if expected is not None:
        if expected != actual:
            raise MasterKeyError(
                f"the master key is not the one the data folder {data_dir} was written with (its fingerprint "
                f"{actual[:16]}... differs from {expected[:16]}... in {path}); start with the original key "
                "(--master-key-file, AIAAS_MASTER_KEY_FILE or AIAAS_MASTER_KEY)")
        return
    root = Path(data_dir) / "artifacts"
    for kind in KINDS:
        sample = next((p for p in (root / kind).glob("*.enc") if _ID.match(p.stem)), None)
        if sample is not None:
            if not first_chunk_decrypts(sample, key, f"{kind}/{sample.stem}"):
                raise MasterKeyError(
                    f"the master key does not decrypt the artifacts in the data folder {data_dir} (checked "
                    f"{kind}/{sample.name}); start with the key they were written with")
            break
    write_fingerprint(path, key)


class Storage:
    """`<data_dir>/artifacts/<kind>/<id>.enc`; writes go to a temp file and are renamed atomically."""

    def __init__(self, data_dir: Path, key_file: Path | str | None = None) -> None:
        self.root = Path(data_dir) / "artifacts"
        for kind in KINDS:
            (self.root / kind).mkdir(parents=True, exist_ok=True, mode=0o700)
        self._key = load_master_key(Path(data_dir), key_file)
        check_master_key(Path(data_dir), self._key)

    def path(self, kind: str, artifact_id: str) -> Path:
        if kind not in KINDS:
            raise ValueError(f"artifact kind must be one of {KINDS}, got {kind!r}")
        if not _ID.match(artifact_id):
            raise ValueError(f"artifact id must be 32 lowercase hex digits, got {artifact_id!r}")
        return self.root / kind / f"{artifact_id}.enc"

    @contextmanager
    def writer(self, kind: str, artifact_id: str) -> Iterator[EncryptedWriter]:
        """Encrypting writer; the file appears under its final name only if the block succeeds."""
        final = self.path(kind, artifact_id)
        tmp = final.with_suffix(f".tmp{os.getpid()}")
        try:
            with open(tmp, "wb") as fh:
                w = EncryptedWriter(fh, self._key, f"{kind}/{artifact_id}")
                yield w
                w.finish()
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)

    def write_bytes(self, kind: str, artifact_id: str, data: bytes) -> int:
        with self.writer(kind, artifact_id) as w:
            w.write(data)
        return len(data)

    def write_file(self, kind: str, artifact_id: str, src: Path) -> int:
        """Encrypt a plaintext file into the store, 1 MiB at a time."""
        with self.writer(kind, artifact_id) as w, open(src, "rb") as fh:
            while chunk := fh.read(1 << 20):
                w.write(chunk)
            return w.plaintext_bytes

    def read_bytes(self, kind: str, artifact_id: str) -> bytes:
        out = io.BytesIO()
        with open(self.path(kind, artifact_id), "rb") as fh:
            for chunk in self._decrypt(fh, kind, artifact_id):
                out.write(chunk)
        return out.getvalue()

    def read_to_file(self, kind: str, artifact_id: str, dest: Path) -> None:
        """Decrypt into `dest` (a private temp file the caller deletes)."""
        with open(self.path(kind, artifact_id), "rb") as fh, open(dest, "wb") as out:
            for chunk in self._decrypt(fh, kind, artifact_id):
                out.write(chunk)

    def _decrypt(self, fh, kind: str, artifact_id: str) -> Iterator[bytes]:
        """The plaintext chunks; an artifact that fails AES-GCM's check is an error that says so (it was an
        opaque 500 on download, deploy, predict and evaluate), naming the artifact, never its path."""
        try:
            yield from decrypt_chunks(io.BufferedReader(fh), self._key, f"{kind}/{artifact_id}")
        except DecryptionError as exc:
            ref = uuid.uuid4().hex[:12]
            log.error("damaged artifact %s: %s/%s failed its integrity check: %s", ref, kind, artifact_id, exc)
            raise DamagedArtifact(500, f"the stored {kind[:-1] if kind.endswith('s') else kind} {artifact_id!r} failed "
                                       "its integrity check: it was damaged or altered on disk, or the server runs with "
                                       "another master key than the one that wrote it; an operator must restore it "
                                       f"from a backup (reference {ref} in the server log)") from None

    def exists(self, kind: str, artifact_id: str) -> bool:
        return self.path(kind, artifact_id).exists()

    def remove_partial_writes(self) -> int:
        """At start: delete the temp files of writes a killed process never finished (never read: only
        a finished write is renamed to its final name). Returns how many."""
        partial = [p for kind in KINDS for p in (self.root / kind).glob("*.tmp*") if p.is_file()]
        for p in partial:
            p.unlink(missing_ok=True)
        return len(partial)

    def delete(self, kind: str, artifact_id: str) -> None:
        self.path(kind, artifact_id).unlink(missing_ok=True)
