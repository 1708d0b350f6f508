"""Where training runs. `JobExecutor` is the interface; `LocalProcessExecutor` is a pool of worker
processes on this machine that take queued jobs from the database (so a distributed engine can replace
it by implementing the same four methods against the same tables).
"""

from __future__ import annotations

import abc
import ctypes
import logging
import multiprocessing as mp
import os
import signal
import threading
import time
from datetime import datetime, timezone

from sqlalchemy import select, update

from .db import make_engine, make_sessionmaker, session_scope
from .models import Job, JobEvent
from .settings import Settings
from .storage import Storage

log = logging.getLogger("aiaas.executor")


class JobExecutor(abc.ABC):
    """Runs queued jobs. Jobs are rows (state queued) in the database; the executor claims and runs them."""

    @abc.abstractmethod
    def start(self) -> None:
        """Start taking jobs (and re-queue jobs whose worker died with a previous server)."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop; running jobs stay 'running' and are resumed from their checkpoint at the next start."""

    @abc.abstractmethod
    def alive_workers(self) -> int:
        """How many workers can take jobs now (for /readyz)."""

    def notify(self) -> None:
        """A job was queued (a hint; workers also poll)."""


MAX_ATTEMPTS = 3  # a job whose worker dies this many times is failed, not retried forever


def requeue_orphans(factory, worker_id: str | None = None, reason: str = "a server restart",
                    storage=None) -> int:
    """Jobs left 'running' by a dead worker (all of them at start, or one worker's): back to 'queued',
    keeping their epoch for the resume.

    Only a worker that dies while its server runs counts against the job (it may be the job that killed
    it: a crash, the kernel's OOM killer); such a job is failed once it has used MAX_ATTEMPTS. A server
    restart (graceful, or the server killed: its workers go with it) is not the job's doing, so at start
    (worker_id None) the attempt it interrupted is given back and the job is never failed for it."""
    restart = worker_id is None
    with session_scope(factory) as session:
        stmt = select(Job).where(Job.state == "running")
        if worker_id is not None:
            stmt = stmt.where(Job.worker_id == worker_id)
        orphans = list(session.scalars(stmt))
        for job in orphans:
            job.worker_id = None
            if restart:
                job.attempts = max(0, (job.attempts or 0) - 1)  # claim_next counted it; it was not a failure
            elif job.attempts >= MAX_ATTEMPTS:
                job.state, job.error = "failed", f"the worker running this job died {job.attempts} times"
                job.finished_at = datetime.now(timezone.utc)
                session.add(JobEvent(job_id=job.id, kind="state", data={"state": "failed", "error": job.error}))
                if storage is not None:  # nothing will resume it: its checkpoint goes
                    storage.delete("checkpoints", job.id)
                continue
            job.state = "queued"
            session.add(JobEvent(job_id=job.id, kind="state",
                                 data={"state": "queued", "message": f"re-queued after {reason}; resumes after epoch {job.epoch}"}))
        return len(orphans)


def claim_next(factory, worker_id: str) -> str | None:
    """Atomically move the oldest queued job to 'running' for this worker (portable compare-and-set)."""
    with session_scope(factory) as session:
        candidates = session.scalars(
            select(Job.id).where(Job.state == "queued").order_by(Job.created_at, Job.id).limit(5)).all()
        for job_id in candidates:
            claimed = session.execute(
                update(Job).where(Job.id == job_id, Job.state == "queued")
                .values(state="running", worker_id=worker_id, attempts=Job.attempts + 1,
                        started_at=datetime.now(timezone.utc))
            ).rowcount
            if claimed == 1:
                session.add(JobEvent(job_id=job_id, kind="state", data={"state": "running", "worker": worker_id}))
                return job_id
    return None


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker when the server process dies (even by SIGKILL)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # other systems: the parent-pid check in the loop covers it


def worker_main(settings: Settings, worker_id: str, parent_pid: int, threads: int) -> None:
    """Worker process body: claim a job, run it, repeat; exit when the server is gone."""
    _die_with_parent()
    if os.getppid() != parent_pid:
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the server, which stops us
    import aiaas_core

    aiaas_core.set_num_threads(threads)
    from .storage import Storage
    from .training import run_job

    engine = make_engine(settings.db_url)
    factory = make_sessionmaker(engine)
    storage = Storage(settings.data_dir, settings.master_key_file)
    while os.getppid() == parent_pid:
        try:
            job_id = claim_next(factory, worker_id)
        except Exception:
            log.exception("worker %s could not poll for jobs", worker_id)
            job_id = None
        if job_id is None:
            time.sleep(settings.poll_interval_s)
            continue
        run_job(factory, storage, job_id, worker_id)


class LocalProcessExecutor(JobExecutor):
    """`settings.workers` processes (spawned, so no state is inherited from the API process), watched
    by a thread that re-queues the job of a worker that died and starts a replacement."""

    def __init__(self, settings: Settings, watch_interval_s: float = 2.0) -> None:
        self.settings = settings
        self.threads = settings.worker_threads
        self.watch_interval_s = watch_interval_s
        self._procs: dict[str, mp.Process] = {}
        self._ctx = mp.get_context("spawn")
        self._factory = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self._serial = 0

    def _spawn(self) -> None:
        worker_id = f"{os.getpid()}-{self._serial}"
        self._serial += 1
        proc = self._ctx.Process(target=worker_main, name=f"aiaas-worker-{worker_id}", daemon=True,
                                 args=(self.settings, worker_id, os.getpid(), self.threads))
        proc.start()
        self._procs[worker_id] = proc

    def start(self) -> None:
        self._factory = make_sessionmaker(make_engine(self.settings.db_url))
        n = requeue_orphans(self._factory)
        if n:
            log.info("re-queued %d job(s) interrupted by a previous shutdown", n)
        for _ in range(self.settings.workers):
            self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="aiaas-worker-watch", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        while not self._stopping.wait(self.watch_interval_s):
            for worker_id, proc in list(self._procs.items()):
                if proc.is_alive() or self._stopping.is_set():
                    continue
                log.error("training worker %s exited with code %s; restarting it", worker_id, proc.exitcode)
                del self._procs[worker_id]
                try:
                    requeue_orphans(self._factory, worker_id, reason=f"worker {worker_id} died",
                                    storage=Storage(self.settings.data_dir, self.settings.master_key_file))
                except Exception:
                    log.exception("could not re-queue the jobs of worker %s", worker_id)
                self._spawn()

    def stop(self) -> None:
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(timeout=self.watch_interval_s + 1)
        for proc in self._procs.values():
            if proc.is_alive():
                proc.terminate()
        for proc in self._procs.values():
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
        self._procs.clear()

    def alive_workers(self) -> int:
        return sum(p.is_alive() for p in self._procs.values())
