"""Encryption at rest: chunked AES-256-GCM with a per-chunk random nonce.

File layout: MAGIC, then records [u32 ciphertext length][12-byte nonce][ciphertext+tag]. Each chunk's
associated data binds the artifact id, the chunk index and a "last chunk" flag, so chunks cannot be
swapped between files, reordered or truncated without decryption failing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
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


def _parse_key(raw: str, what: str = "AIAAS_MASTER_KEY") -> bytes:
    raw = raw.strip()
    for decode in (bytes.fromhex, lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))):
        try:
            key = decode(raw)
        except (ValueError, binascii.Error):
            continue
        if len(key) == 32:
            return key
    raise ValueError(f"{what} must hold 32 bytes as 64 hex digits or url-safe base64 (e.g. from `openssl rand -hex 32`)")


KEY_FILE_NAME = "master.key"  # the default key's place in the data folder (first start creates it)
FINGERPRINT_NAME = "master-key.fingerprint"  # beside the artifacts it vouches for; never the key itself
_FINGERPRINT_LABEL = b"aiaas master key fingerprint v1"


class MasterKeyError(ValueError):
    """The master key is missing, malformed, or not the one the data folder's artifacts were written with."""


def _read_key_file(path: Path, what: str) -> bytes:
    try:
        return _parse_key(path.read_text(), f"{what} {path}")
    except FileNotFoundError:
        raise MasterKeyError(f"{what} {path} does not exist; create one with `openssl rand -hex 32 > {path}; "
                             f"chmod 600 {path}` (a new folder) or point to the key the data was written with") from None
    except ValueError as exc:
        raise MasterKeyError(str(exc)) from None


def load_master_key(data_dir: Path, key_file: Path | str | None = None) -> bytes:
    """The master key, from the first of: AIAAS_MASTER_KEY (the key itself), `key_file` or
    AIAAS_MASTER_KEY_FILE (a file outside the data folder: production), `<data_dir>/master.key`
    (created once with mode 0600, so the README's first `aiaas serve` needs no setup)."""
    env = os.environ.get("AIAAS_MASTER_KEY")
    key_file = key_file or os.environ.get("AIAAS_MASTER_KEY_FILE") or None
    if env and key_file:
        raise MasterKeyError("both AIAAS_MASTER_KEY and a master key file (--master-key-file or AIAAS_MASTER_KEY_FILE) "
                             "are set; set only one")
    if env:
        try:
            return _parse_key(env)
        except ValueError as exc:
            raise MasterKeyError(str(exc)) from None
    if key_file:
        # Never created here: a missing file outside the data folder is an operator's mistake (a typo, an
        # unmounted secret), and a fresh key would make every stored artifact unreadable.
        return _read_key_file(Path(key_file), "the master key file")
    path = Path(data_dir) / KEY_FILE_NAME
    if not path.exists() and (Path(data_dir) / FINGERPRINT_NAME).exists():
        # The folder's data was written with a key that is not here (kept outside, as in production, and
        # not passed this time): a new key would be refused anyway, and would stay behind in the folder.
        raise MasterKeyError(f"no master key given for the data folder {data_dir}, whose artifacts were written "
                             "with one: pass --master-key-file (or set AIAAS_MASTER_KEY_FILE or AIAAS_MASTER_KEY)")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key_file(path, "the master key file")
    with os.fdopen(fd, "w") as fh:
        fh.write(os.urandom(32).hex())
    return _read_key_file(path, "the master key file")


def key_fingerprint(key: bytes) -> str:
    """HMAC-SHA256 of a fixed label under the key: names the key (same key, same fingerprint) without
    revealing it, so it can be stored beside the data and copied into backups."""
    return hmac.new(key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()


def read_fingerprint(path: Path) -> str | None:
    try:
        value = json.loads(path.read_text())["fingerprint"]
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise MasterKeyError(f"the key fingerprint file {path} is unreadable ({exc}); restore it from a backup") from None
    if not isinstance(value, str) or len(value) != 64:
        raise MasterKeyError(f"the key fingerprint file {path} is unreadable; restore it from a backup")
    return value


def write_fingerprint(path: Path, key: bytes) -> None:
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"algorithm": "HMAC-SHA256", "label": _FINGERPRINT_LABEL.decode(),
                               "fingerprint": key_fingerprint(key)}) + "\n")
    os.replace(tmp, path)


def first_chunk_decrypts(path: Path, key: bytes, artifact_id: str) -> bool:
    """Whether the first chunk of an encrypted artifact authenticates under `key` (one chunk is enough to
    tell a wrong key; the rest of the file is not read)."""
    with open(path, "rb") as fh:
        if fh.read(len(MAGIC)) != MAGIC:
            return False
        head = fh.read(_LEN.size + 12)
        if len(head) < _LEN.size + 12:
            return False
        (length,) = _LEN.unpack(head[: _LEN.size])
        ct = fh.read(length)
        last = not fh.read(1)
    try:
        AESGCM(key).decrypt(head[_LEN.size:], ct, _aad(artifact_id, 0, last))
        return True
    except Exception:  # cryptography's InvalidTag
        return False


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
