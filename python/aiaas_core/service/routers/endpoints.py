"""Deployments: named endpoints pointing at a model version; promote/rollback without failed requests."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from sqlalchemy.exc import IntegrityError

from ..deployments import apply_options, options_out
from ..errors import ApiError
from ..models import Endpoint, ModelVersion
from ..repository import TenantRepo
from ..schemas import EndpointCreate, EndpointOut, EndpointUpdate
from ..security import Principal, require
from ..serving import parse_predict_body

router = APIRouter(prefix="/v1/endpoints", tags=["endpoints"])


def endpoint_out(e: Endpoint) -> EndpointOut:
    return EndpointOut(name=e.name, model_version_id=e.model_version_id, created_at=e.created_at, updated_at=e.updated_at,
                       **options_out(e))


@router.post("", status_code=201, response_model=EndpointOut)
def create_endpoint(body: EndpointCreate, request: Request, principal: Principal = Depends(require("member"))) -> EndpointOut:
    """Deploy a model version under a name (the model is loaded before the endpoint exists)."""
    svc = request.app.state.svc
    with svc.sessions() as session:
        repo = TenantRepo(session, principal.tenant_id)
        version = repo.get(ModelVersion, body.model_version_id)
        try:
            repo.endpoint_by_name(body.name)
            raise ApiError(409, f"endpoint {body.name!r} already exists; PATCH it to point at another version")
        except ApiError as exc:
            if exc.status != 404:
                raise
        svc.serving.get_model(version)
        try:
            row = repo.add(Endpoint(name=body.name, model_version_id=version.id))
        except IntegrityError:
            raise ApiError(409, f"endpoint {body.name!r} already exists") from None
        apply_options(repo, svc.serving, row, body)
        out = endpoint_out(row)
    svc.serving.point(principal.tenant_id, body.name, version)
    return out


@router.get("", response_model=list[EndpointOut])
def list_endpoints(request: Request, principal: Principal = Depends(require("predict"))) -> list[EndpointOut]:
    with request.app.state.svc.sessions() as session:
        return [endpoint_out(e) for e in TenantRepo(session, principal.tenant_id).list(Endpoint)]


@router.get("/{name}", response_model=EndpointOut)
def get_endpoint(name: str, request: Request, principal: Principal = Depends(require("predict"))) -> EndpointOut:
    with request.app.state.svc.sessions() as session:
        return endpoint_out(TenantRepo(session, principal.tenant_id).endpoint_by_name(name))


@router.patch("/{name}", response_model=EndpointOut)
def update_endpoint(name: str, body: EndpointUpdate, request: Request,
                    principal: Principal = Depends(require("member"))) -> EndpointOut:
    """Point the endpoint at another version (promote or roll back): load first, then switch."""
    svc = request.app.state.svc
    with svc.sessions() as session:
        repo = TenantRepo(session, principal.tenant_id)
        endpoint = repo.endpoint_by_name(name)
        version = repo.get(ModelVersion, body.model_version_id or endpoint.model_version_id)
        svc.serving.get_model(version)  # load before switching
        endpoint.model_version_id, endpoint.updated_at = version.id, datetime.now(timezone.utc)
        apply_options(repo, svc.serving, endpoint, body)
        session.flush()
        out = endpoint_out(endpoint)
    svc.serving.point(principal.tenant_id, name, version)  # after the commit: the swap itself
    return out


@router.delete("/{name}", status_code=204)
def delete_endpoint(name: str, request: Request, principal: Principal = Depends(require("member"))) -> Response:
    svc = request.app.state.svc
    with svc.sessions() as session:
        repo = TenantRepo(session, principal.tenant_id)
        repo.delete(repo.endpoint_by_name(name))
    svc.serving.forget(principal.tenant_id, name)
    return Response(status_code=204)


_PREDICT_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["instances"], "additionalProperties": False,
    "properties": {"instances": {"type": "array", "minItems": 1, "items": {}}}}}}}}


@router.post("/{name}/predict", openapi_extra=_PREDICT_BODY)
async def predict(name: str, request: Request, principal: Principal = Depends(require("predict"))) -> JSONResponse:
    """`{instances: [...]}` -> `{predictions: [...], model_version_id}` (labels + probabilities for classifiers).

    Served by fast_lane.PredictFastLane ahead of the router (same code: predict_response); this route
    documents it and answers when the fast lane is not installed."""
    return await predict_response(name, request, principal)


async def predict_response(name: str, request: Request, principal: Principal) -> JSONResponse:
    """The hot path of the service: async (no threadpool hop unless the model runs unbatched), the body is
    parsed once with json.loads straight into numpy, and the answer is serialized directly."""
    instances = parse_predict_body(await request.body())
    serving = request.app.state.svc.serving
    loaded = serving.resolve_cached(principal.tenant_id, name)
    if loaded is None:  # not yet in memory: the database tells (tenant-scoped), in a thread
        loaded = await run_in_threadpool(serving.resolve, principal.tenant_id, name)
    predictions = await serving.predict_async(loaded, instances)
    return JSONResponse({"predictions": predictions, "model_version_id": loaded.version_id})
