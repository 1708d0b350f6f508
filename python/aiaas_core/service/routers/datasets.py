"""Datasets: streamed multipart upload (validated, summarised, encrypted), list, get, delete."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from ..dataset_files import TASKS, check_form_names, infer_task, parse_upload, preprocessing_from_form, save_arrays, summarise
from ..errors import ApiError, brief
from ..models import Dataset, new_id
from ..repository import TenantRepo
from ..schemas import NAME, Page, page
from ..security import Principal, require
from ..uploads import UPLOAD_TMP, read_multipart

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])


def dataset_out(d: Dataset) -> dict[str, Any]:
    return {"id": d.id, "name": d.name, "format": d.format, "rows": d.rows, "size_bytes": d.size_bytes,
            "x_shape": d.summary.get("x_shape"), "preprocessing": d.preprocessing, "summary": d.summary,
            "created_at": d.created_at}


@router.post("", status_code=201, openapi_extra={"requestBody": {"content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file", "name"],
    "properties": {"file": {"type": "string", "format": "binary"}, "labels": {"type": "string", "format": "binary"},
                   "name": {"type": "string"}, "label_column": {"type": "string"},
                   "task": {"type": "string", "enum": list(TASKS)},
                   "scaling": {"type": "string", "enum": ["standard", "minmax", "global_minmax", "none"]},
                   "missing": {"type": "string", "enum": ["drop", "mean", "median", "zero"]},
                   "one_hot": {"type": "boolean"}}}}}}})
async def upload_dataset(request: Request, principal: Principal = Depends(require("member"))) -> dict[str, Any]:
    """Upload a CSV (with `label_column`), an NPZ (arrays x, y) or IDX images (+ `labels` part)."""
    svc = request.app.state.svc
    limit = await run_in_threadpool(_size_limit, svc, principal)
    form = await read_multipart(request, svc.settings.data_dir / UPLOAD_TMP, limit)
    try:
        return await run_in_threadpool(_register, svc, principal, form, limit)
    finally:
        form.cleanup()  # the plaintext temp files go away whatever happened


def _size_limit(svc, principal: Principal) -> int:
    with svc.sessions() as session:
        tenant = TenantRepo(session, principal.tenant_id).tenant()
        per_tenant = tenant.max_dataset_bytes or svc.settings.limits.max_dataset_bytes
    return min(per_tenant, svc.settings.max_upload_bytes)


def _register(svc, principal: Principal, form, limit: int) -> dict[str, Any]:
    check_form_names(form)
    name = form.fields.get("name", "")
    if not re.match(NAME, name):
        raise ApiError(422, f"field 'name' must match {NAME} (letters, digits, . _ -), got {brief(name)}")
    task = form.fields.get("task", "auto")
    if task not in TASKS:
        raise ApiError(422, f"field 'task' must be one of {list(TASKS)}, got {brief(task)}")
    fmt, x, y, columns = parse_upload(form, limit)
    summary = summarise(fmt, x, y, columns, infer_task(y, task))
    preprocessing = preprocessing_from_form(form.fields, fmt)
    dataset_id = new_id()
    size = save_arrays(svc.storage, dataset_id, x, y)
    try:
        with svc.sessions() as session:
            row = TenantRepo(session, principal.tenant_id).add(Dataset(
                id=dataset_id, name=name, format=fmt, rows=int(x.shape[0]), size_bytes=size,
                summary=summary, preprocessing=preprocessing))
            return dataset_out(row)
    except Exception:
        svc.storage.delete("datasets", dataset_id)
        raise


@router.get("")
def list_datasets(request: Request, principal: Principal = Depends(require("member")),
                  pages: Page = Depends(page)) -> list[dict[str, Any]]:
    with request.app.state.svc.sessions() as session:
        return [dataset_out(d) for d in TenantRepo(session, principal.tenant_id).list(Dataset, pages.limit, pages.offset)]


@router.get("/{dataset_id}")
def get_dataset(dataset_id: str, request: Request, principal: Principal = Depends(require("member"))) -> dict[str, Any]:
    with request.app.state.svc.sessions() as session:
        return dataset_out(TenantRepo(session, principal.tenant_id).get(Dataset, dataset_id))


@router.delete("/{dataset_id}", status_code=204)
def delete_dataset(dataset_id: str, request: Request, principal: Principal = Depends(require("member"))) -> Response:
    """Delete the row and the encrypted file."""
    svc = request.app.state.svc
    with svc.sessions() as session:
        repo = TenantRepo(session, principal.tenant_id)
        repo.delete(repo.get(Dataset, dataset_id))
    svc.storage.delete("datasets", dataset_id)
    return Response(status_code=204)
