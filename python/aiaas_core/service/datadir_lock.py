"""One server per data folder: an exclusive lock on `<data dir>/server.lock`, held while the process lives.

A second `aiaas serve` on the same folder re-queued the first one's running jobs (both trained them; two
model versions for one job) and deleted its in-flight upload temp files at start. fcntl.flock locks
belong to the open file: the kernel releases them when the process exits, however it exits (SIGKILL
included), so a lock file left behind by a dead server is no obstacle. Several API processes on one
PostgreSQL database each need their own data folder (or shared artifact storage: the scale-out issue).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_NAME = "server.lock"
_held: dict[Path, int] = {}  # data dir -> the open descriptor holding its lock (never closed while serving)


def lock_data_dir(data_dir: Path) -> None:
    """Take the folder's lock for this process (again: no-op); RuntimeError naming the holder if taken."""
    data_dir = Path(data_dir).resolve()
    if data_dir in _held:
        return
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = data_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)  # workers must not inherit it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise RuntimeError(f"another aiaas server (pid {holder}) is already serving the data folder {data_dir}; "
                           "stop it first, or give this server its own --data-dir") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _held[data_dir] = fd
