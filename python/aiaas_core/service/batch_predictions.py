"""Asynchronous batch prediction: every row of an uploaded dataset through an endpoint's model.

POST /v1/endpoints/{name}/batch-predictions {"dataset_id"} -> 202 {id, state: "queued", ...}
GET  /v1/batch-predictions/{id}          -> state (queued | running | succeeded | failed), rows, done_rows
GET  /v1/batch-predictions/{id}/results  -> {"predictions": [...]} in /v1 predict's format (when succeeded)

One runner thread per API process works through queued jobs in chunks (sharing the model with live
traffic through the same serving path); results are stored encrypted like every artifact. A job left
queued or running by a stopped process is picked up again by the next runner (started by the first
batch-prediction request after a restart).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from datetime import datetime
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from .dataset_files import load_arrays
from .errors import ApiError, failure_reason, not_found
from .models import Base, Dataset, DateTime, ModelVersion, new_id, utcnow
from .repository import TenantRepo
from .security import Principal, require
from .serving import format_outputs

log = logging.getLogger("aiaas.batch")
CHUNK_ROWS = 64  # rows per model call: live requests interleave between chunks
STORAGE_KIND = "predictions"


class BatchPrediction(Base):
    __tablename__ = "batch_predictions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    endpoint_name: Mapped[str] = mapped_column(String(100))
    model_version_id: Mapped[str] = mapped_column(String(32))
    dataset_id: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    done_rows: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class BatchPredictionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset_id: str


def _out(row: BatchPrediction) -> dict[str, Any]:
    return {"id": row.id, "state": row.state, "endpoint": row.endpoint_name, "model_version_id": row.model_version_id,
            "dataset_id": row.dataset_id, "rows": row.rows, "done_rows": row.done_rows, "error": row.error,
            "created_at": row.created_at, "finished_at": row.finished_at}


class BatchRunner:
    """The background worker of one API process."""

    def __init__(self, state) -> None:
        self.state = state
        self.jobs: queue.Queue[str] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="batch-predictions", daemon=True)
        with state.sessions() as session:  # resume what a previous process left unfinished
            for job_id in session.scalars(select(BatchPrediction.id).where(BatchPrediction.state.in_(("queued", "running")))
                                          .order_by(BatchPrediction.created_at)):
                self.jobs.put(job_id)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job_id = self.jobs.get()
            try:
                self._work(job_id)
            except Exception as exc:  # the job fails with its reason; the runner lives on
                log.exception("batch prediction %s failed", job_id)
                self._finish(job_id, "failed", failure_reason(exc, self.state.settings.data_dir))

    def _finish(self, job_id: str, state: str, error: str | None = None) -> None:
        with self.state.sessions() as session:
            row = session.get(BatchPrediction, job_id)
            if row is not None:
                row.state, row.error, row.finished_at = state, error, utcnow()

    def _work(self, job_id: str) -> None:
        serving = self.state.serving
        with self.state.sessions() as session:
            row = session.get(BatchPrediction, job_id)
            if row is None or row.state not in ("queued", "running"):
                return
            row.state = "running"
            # the version fixed at submission, even if the endpoint has been switched since
            version = TenantRepo(session, row.tenant_id).get(ModelVersion, row.model_version_id)
            dataset_id = row.dataset_id
        loaded = serving.get_model(version)
        x, _ = load_arrays(self.state.storage, dataset_id)
        with self.state.sessions() as session:
            session.get(BatchPrediction, job_id).rows = len(x)
        outputs: list[np.ndarray] = []
        for start in range(0, len(x), CHUNK_ROWS):
            try:
                out = serving.predict_array(loaded, x[start:start + CHUNK_ROWS])
            except ApiError as exc:
                self._finish(job_id, "failed", f"rows {start}..{start + CHUNK_ROWS - 1}: {exc.detail}")
                return
            outputs.append(out)
            with self.state.sessions() as session:
                session.get(BatchPrediction, job_id).done_rows = start + len(out)
        out = np.concatenate(outputs) if outputs else np.zeros((0, 0), np.float32)
        predictions = format_outputs(out.astype(np.float64), loaded.signature)
        self.state.storage.write_bytes(STORAGE_KIND, job_id, json.dumps({"predictions": predictions}).encode())
        self._finish(job_id, "succeeded")


_runner_lock = threading.Lock()


def runner(state) -> BatchRunner:
    """The process's runner, started on first use (which also resumes unfinished jobs)."""
    with _runner_lock:
        if getattr(state, "_batch_runner", None) is None:
            state._batch_runner = BatchRunner(state)
        return state._batch_runner


router = APIRouter(tags=["batch predictions"])


@router.post("/v1/endpoints/{name}/batch-predictions", status_code=202)
def create(name: str, body: BatchPredictionCreate, request: Request,
           principal: Principal = Depends(require("member"))) -> dict[str, Any]:
    """Queue a prediction of every row of one of the tenant's datasets by the endpoint's current version."""
    svc = request.app.state.svc
    work = runner(svc)
    with svc.sessions() as session:
        repo = TenantRepo(session, principal.tenant_id)
        dataset = repo.get(Dataset, body.dataset_id)
        endpoint = repo.endpoint_by_name(name)
        version = repo.get(ModelVersion, endpoint.model_version_id)  # the primary version, never the canary
        want, got = list(version.signature["input_shape"]), list(dataset.summary.get("x_shape") or [])
        if got != want:
            raise ApiError(422, f"dataset {dataset.id} has samples shaped {got}; endpoint {name!r} expects {want}")
        row = BatchPrediction(tenant_id=principal.tenant_id, endpoint_name=endpoint.name, model_version_id=version.id,
                              dataset_id=dataset.id, rows=int(dataset.rows))
        session.add(row)
        session.flush()
        out = _out(row)
    work.jobs.put(out["id"])
    return out


def _own(session, principal: Principal, job_id: str) -> BatchPrediction:
    row = session.get(BatchPrediction, job_id)
    if row is None or row.tenant_id != principal.tenant_id:
        raise not_found("batch prediction", job_id)
    return row


@router.get("/v1/batch-predictions/{job_id}")
def status(job_id: str, request: Request, principal: Principal = Depends(require("predict"))) -> dict[str, Any]:
    svc = request.app.state.svc
    runner(svc)
    with svc.sessions() as session:
        return _out(_own(session, principal, job_id))


@router.get("/v1/batch-predictions/{job_id}/results")
def results(job_id: str, request: Request, principal: Principal = Depends(require("predict"))) -> Any:
    svc = request.app.state.svc
    with svc.sessions() as session:
        row = _own(session, principal, job_id)
        if row.state != "succeeded":
            raise ApiError(409, f"batch prediction {job_id} is {row.state}; results exist once it has succeeded")
    return Response(svc.storage.read_bytes(STORAGE_KIND, job_id), media_type="application/json")
