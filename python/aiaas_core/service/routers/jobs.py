"""Training jobs: submit (202), read, cancel, logs, and a live server-sent-events progress stream."""

from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select, update
from starlette.concurrency import run_in_threadpool

from ..activation_memory import check_batch_memory
from ..catalog import CATALOG, build_custom, check_catalog_fits, check_custom_fits, resolve, validate_hyperparameters
from ..errors import ApiError
from ..json_types import DB_INT_MAX
from ..models import Dataset, Job, JobEvent
from ..repository import TenantRepo
from ..schemas import JobCreate, JobOut, Page, page
from ..security import Principal, require

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
TERMINAL = ("succeeded", "failed", "canceled")
EVENTS_PAGE = 500


def job_out(j: Job) -> JobOut:
    return JobOut(id=j.id, state=j.state, dataset_id=j.dataset_id, epoch=j.epoch, epochs=j.epochs,
                  metrics=j.metrics or {}, model_version_id=j.model_version_id, error=j.error,
                  created_at=j.created_at)


def _check_task(architecture, dataset: Dataset) -> None:
    if not isinstance(architecture, str):
        return
    entry = CATALOG[architecture]
    task = dataset.summary.get("task", "none")
    if "reconstruction" in entry.tasks:
        return
    if task == "none":
        raise ApiError(422, f"dataset {dataset.id!r} has no labels; architecture {architecture!r} needs them "
                            "(only 'autoencoder' trains without labels)")
    if task not in entry.tasks:
        raise ApiError(422, f"architecture {architecture!r} trains for {list(entry.tasks)} but dataset "
                            f"{dataset.id!r} is a {task!r} dataset")


@router.post("", status_code=202, response_model=JobOut)
def create_job(body: JobCreate, request: Request, principal: Principal = Depends(require("member"))) -> JobOut:
    """Queue a training job; poll GET /v1/jobs/{id} or stream /events."""
    svc = request.app.state.svc
    hp = body.hyperparameters.model_dump()
    custom = None if isinstance(body.architecture, str) else build_custom(body.architecture)  # built once
    architecture = resolve(body.architecture) if custom is None else body.architecture
    validate_hyperparameters(body.architecture, hp)
    with svc.sessions() as session:
        repo = TenantRepo(session, principal.tenant_id)
        dataset = repo.get(Dataset, body.dataset_id)
        _check_task(body.architecture, dataset)
        if custom is None:
            layers = check_catalog_fits(body.architecture, hp, dataset.summary)
        else:
            check_custom_fits(custom, dataset.summary, hp.get("task"))
            layers = list(custom.layers)
        check_batch_memory(layers, tuple(dataset.summary.get("x_shape") or ()), hp["batch_size"], dataset.rows)
        tenant = repo.tenant()
        max_epochs = tenant.max_epochs or svc.settings.limits.max_epochs
        if hp["epochs"] > max_epochs:
            raise ApiError(422, f"epochs={hp['epochs']} exceeds this tenant's limit of {max_epochs}")
        max_jobs = tenant.max_concurrent_jobs or svc.settings.limits.max_concurrent_jobs
        repo.lock_tenant()  # parallel submissions count one after the other (the count, then the insert)
        if repo.active_job_count() >= max_jobs:
            raise ApiError(429, f"this tenant already has {max_jobs} queued or running job(s), its limit; "
                                "wait for one to finish or cancel one", {"Retry-After": "10"})
        job = repo.add(Job(dataset_id=dataset.id, architecture=architecture if isinstance(architecture, dict) else body.architecture,
                           hyperparameters=hp, state="queued", epoch=0, epochs=hp["epochs"], metrics={},
                           cancel_requested=False, attempts=0))
        session.add(JobEvent(job_id=job.id, kind="state", data={"state": "queued"}))
        out = job_out(job)
    if svc.executor is not None:
        svc.executor.notify()
    return out


@router.get("", response_model=list[JobOut])
def list_jobs(request: Request, principal: Principal = Depends(require("member")),
              pages: Page = Depends(page)) -> list[JobOut]:
    with request.app.state.svc.sessions() as session:
        return [job_out(j) for j in TenantRepo(session, principal.tenant_id).list(Job, pages.limit, pages.offset)]


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: str, request: Request, principal: Principal = Depends(require("member"))) -> JobOut:
    with request.app.state.svc.sessions() as session:
        return job_out(TenantRepo(session, principal.tenant_id).get(Job, job_id))


@router.post("/{job_id}/cancel", response_model=JobOut)
def cancel_job(job_id: str, request: Request, principal: Principal = Depends(require("member"))) -> JobOut:
    """A queued job is canceled at once; a running one stops at the end of its current epoch."""
    with request.app.state.svc.sessions() as session:
        job = TenantRepo(session, principal.tenant_id).get(Job, job_id)
        if job.state in TERMINAL:
            raise ApiError(409, f"job {job_id!r} is already {job.state}; only queued or running jobs can be canceled")
        # Compare-and-set so a worker claiming the job at this instant cannot be overtaken silently.
        done = session.execute(update(Job).where(Job.id == job.id, Job.state == "queued")
                               .values(state="canceled", cancel_requested=True)).rowcount
        if done:
            session.add(JobEvent(job_id=job.id, kind="state", data={"state": "canceled"}))
            # a queued job may hold a checkpoint (re-queued after a restart): nothing will resume it now
            request.app.state.svc.storage.delete("checkpoints", job.id)
        else:
            session.execute(update(Job).where(Job.id == job.id).values(cancel_requested=True))
            session.add(JobEvent(job_id=job.id, kind="log", data={"message": "cancel requested; stopping after this epoch"}))
        session.expire_all()
        return job_out(TenantRepo(session, principal.tenant_id).get(Job, job_id))


def _events_after(svc, tenant_id: str, job_id: str, after: int) -> tuple[list[JobEvent], str]:
    with svc.sessions() as session:
        job = TenantRepo(session, tenant_id).get(Job, job_id)
        rows = list(session.scalars(select(JobEvent).where(JobEvent.job_id == job.id, JobEvent.id > after)
                                    .order_by(JobEvent.id).limit(EVENTS_PAGE)))
        return rows, job.state


@router.get("/{job_id}/logs")
def job_logs(job_id: str, request: Request, principal: Principal = Depends(require("member"))) -> dict[str, Any]:
    """Every event of the job as text lines (state changes, epochs with metrics, messages)."""
    lines: list[str] = []
    after = 0
    while True:  # page by page: one page held only the first 500 events (a long job has an event per epoch)
        rows, state = _events_after(request.app.state.svc, principal.tenant_id, job_id, after)
        lines += [f"{r.created_at.isoformat()} {r.kind} {json.dumps(r.data, sort_keys=True)}" for r in rows]
        if len(rows) < EVENTS_PAGE:
            return {"job_id": job_id, "state": state, "lines": lines}
        after = rows[-1].id


@router.get("/{job_id}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "server-sent events"}})
async def job_events(job_id: str, request: Request, principal: Principal = Depends(require("member")),
                     last_event_id: int = Header(0, alias="Last-Event-ID", ge=0, le=DB_INT_MAX)) -> StreamingResponse:
    """Server-sent events: `state`, `epoch` (epoch, epochs, metrics) and `log`, until the job ends."""
    svc = request.app.state.svc
    await run_in_threadpool(_events_after, svc, principal.tenant_id, job_id, 0)  # 404 before streaming

    async def stream() -> AsyncIterator[bytes]:
        after, idle = last_event_id, 0.0
        while True:
            rows, state = await run_in_threadpool(_events_after, svc, principal.tenant_id, job_id, after)
            for r in rows:
                after = r.id
                yield f"id: {r.id}\nevent: {r.kind}\ndata: {json.dumps(r.data)}\n\n".encode()
            if not rows and state in TERMINAL:
                yield b"event: end\ndata: {}\n\n"
                return
            if await request.is_disconnected():
                return
            if not rows:
                idle += 0.25
                if idle >= 15:  # a comment keeps proxies from closing an idle stream
                    idle = 0.0
                    yield b": keep-alive\n\n"
                await asyncio.sleep(0.25)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
