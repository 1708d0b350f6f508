"""Encryption at rest: chunked AES-256-GCM with a per-chunk random nonce.

File layout: MAGIC, then records [u32 ciphertext length][12-byte nonce][ciphertext+tag]. Each chunk's
associated data binds the artifact id, the chunk index and a "last chunk" flag, so chunks cannot be
swapped between files, reordered or truncated without decryption failing.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from pathlib import Path
from typing import BinaryIO, Iterator

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"AIAENC01"
CHUNK = 1 << 20  # plaintext bytes per chunk
_LEN = struct.Struct(">I")


class DecryptionError(ValueError):
    """The ciphertext was tampered with, truncated, or encrypted under another key/id."""


def _parse_key(raw: str) -> bytes:
    raw = raw.strip()
    for decode in (bytes.fromhex, lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))):
        try:
            key = decode(raw)
        except (ValueError, binascii.Error):
            continue
        if len(key) == 32:
            return key
    raise ValueError("AIAAS_MASTER_KEY must be 32 bytes as 64 hex digits or url-safe base64")


def load_master_key(data_dir: Path) -> bytes:
    """AIAAS_MASTER_KEY if set, else `<data_dir>/master.key`, created once with mode 0600."""
    env = os.environ.get("AIAAS_MASTER_KEY")
    if env:
        return _parse_key(env)
    path = Path(data_dir) / "master.key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _parse_key(path.read_text())
    with os.fdopen(fd, "w") as fh:
        fh.write(os.urandom(32).hex())
    return _parse_key(path.read_text())


def _aad(artifact_id: str, index: int, last: bool) -> bytes:
    return artifact_id.encode() + struct.pack(">QB", index, 1 if last else 0)


class EncryptedWriter:
    """Write plaintext in any pieces; it leaves the process only as encrypted chunks."""

    def __init__(self, fh: BinaryIO, key: bytes, artifact_id: str) -> None:
        self._fh, self._aes, self._id = fh, AESGCM(key), artifact_id
        self._buf = bytearray()
        self._index = 0
        self.plaintext_bytes = 0
        fh.write(MAGIC)

    def _emit(self, data: bytes, last: bool) -> None:
        nonce = os.urandom(12)
        ct = self._aes.encrypt(nonce, data, _aad(self._id, self._index, last))
        self._fh.write(_LEN.pack(len(ct)) + nonce + ct)
        self._index += 1

    def write(self, data: bytes) -> None:
        self._buf += data
        self.plaintext_bytes += len(data)
        while len(self._buf) > CHUNK:  # keep at least one byte back for the final chunk
            self._emit(bytes(self._buf[:CHUNK]), last=False)
            del self._buf[:CHUNK]

    def finish(self) -> None:
        self._emit(bytes(self._buf), last=True)
        self._buf.clear()


def decrypt_chunks(fh: BinaryIO, key: bytes, artifact_id: str) -> Iterator[bytes]:
    """Yield the plaintext chunk by chunk; DecryptionError on any tampering or truncation."""
    if fh.read(len(MAGIC)) != MAGIC:
        raise DecryptionError("not an aiaas encrypted artifact")
    aes = AESGCM(key)
    index = 0
    while True:
        head = fh.read(_LEN.size + 12)
        if len(head) < _LEN.size + 12:
            raise DecryptionError("encrypted artifact is truncated")
        (length,) = _LEN.unpack(head[: _LEN.size])
        nonce = head[_LEN.size :]
        ct = fh.read(length)
        if len(ct) != length:
            raise DecryptionError("encrypted artifact is truncated")
        trailer = fh.peek(1)[:1] if hasattr(fh, "peek") else b""
        last = not trailer
        try:
            yield aes.decrypt(nonce, ct, _aad(artifact_id, index, last))
        except Exception as exc:  # cryptography raises InvalidTag
            raise DecryptionError("encrypted artifact failed authentication") from exc
        if last:
            return
        index += 1
