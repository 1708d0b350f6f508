"""create_app(settings): the FastAPI application with its routers, error handlers, audit log and docs."""

from __future__ import annotations

import gc
import logging
import re
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from .api_docs import install_api_docs
from .console_mount import install_console
from .datadir_lock import lock_data_dir
from .errors import ApiError
from .models import AuditEntry
from .settings import Settings
from .state import ServiceState, open_state
from .uploads import FORM_OVERHEAD, UPLOAD_TMP, remove_stale_uploads

log = logging.getLogger("aiaas.service")


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_req: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_message(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(req: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = str(exc.detail)
        if exc.status_code in (404, 405) and detail in ("Not Found", "Method Not Allowed"):  # the router's own
            detail = (f"{detail}: no route takes {req.method} {req.url.path[:200]!r} (ids and names are one path "
                      "segment, without '/'); the API is described at /docs")
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    def internal_error(req: Request) -> JSONResponse:
        ref = uuid.uuid4().hex[:12]
        log.exception("unhandled error %s on %s %s", ref, req.method, req.url.path)
        return JSONResponse({"detail": f"internal server error (reference {ref}); the server logged it"},
                            status_code=500)

    @app.exception_handler(Exception)
    async def _unexpected(req: Request, exc: Exception) -> JSONResponse:  # errors raised outside the routes
        return internal_error(req)

    # Innermost middleware (installed first): the audit and metrics around it see an ordinary 500, and
    # the client gets its JSON answer instead of a dropped connection.
    app.add_middleware(_UnexpectedAsJson, internal_error=internal_error)


class _UnexpectedAsJson:
    """Pure ASGI (no per-request task or body streaming as with @app.middleware): an exception that
    escapes the app before the response started becomes the JSON 500 answer."""

    def __init__(self, app, internal_error) -> None:
        self.app, self.internal_error = app, internal_error

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except ClientDisconnect:
            return  # nobody is left to answer (or _BodyLimit answered 413 already): not a server error
        except Exception:
            if started:
                raise  # half an answer is out: nothing better than closing the connection
            await self.internal_error(Request(scope))(scope, receive, send)


# POST routes that only read: predictions are counted in /metrics, not written to the audit log (one
# database commit per prediction would halve serving throughput); refused ones are still audited.
READ_ONLY_POSTS = frozenset({"/v1/endpoints/{name}/predict", "/v1/endpoints/{name}/explain",
                             "/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer"})
_CHANGING = frozenset({"POST", "PATCH", "PUT", "DELETE"})


class _Audit:
    """Record who did what: every state-changing request and every refused one. Pure ASGI: a request
    that needs no entry (a prediction, a read) passes through untouched; for one that does, the entry is
    written before the last body chunk goes out, so a client that got its answer finds it in the log."""

    def __init__(self, app, state: ServiceState) -> None:
        self.app, self.state = app, state

    def _write(self, entry: AuditEntry) -> None:
        try:
            with self.state.sessions() as session:
                session.add(entry)
        except Exception:  # the audit must never turn a good answer into an error
            log.exception("could not write audit entry")

    def _entry(self, scope, status: int) -> AuditEntry | None:
        method, path = scope["method"], scope["path"]
        template = getattr(scope.get("route"), "path", None)
        changes = method in _CHANGING and template not in READ_ONLY_POSTS
        if not (changes or status in (401, 403) or path.endswith("/download")):  # downloads too
            return None
        principal = (scope.get("state") or {}).get("principal")
        if status == 429 and principal is None:
            return None  # a throttled anonymous caller did nothing: no row per flooded request
        return AuditEntry(tenant_id=getattr(principal, "tenant_id", None), key_id=getattr(principal, "key_id", None),
                          action=f"{method} {template or path}"[:64], target=path[:200], status=status)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        written = False

        async def send_audited(message) -> None:
            nonlocal status, written
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False) and not written:
                written = True
                entry = self._entry(scope, status)
                if entry is not None:
                    await run_in_threadpool(self._write, entry)
            await send(message)

        await self.app(scope, receive, send_audited)


# Routes whose JSON bodies carry tensors, limited by the prediction value limit; others by CONTROL_BODY_LIMIT.
_DATA_PLANE = re.compile(r"/v1/endpoints/[^/]+/(predict|explain)|/v2/models/[^/]+(/versions/[^/]+)?/infer")
CONTROL_BODY_LIMIT = 1 << 20


class _BodyLimit:
    """Every body's size is checked here, whatever its content type, before a route reads it (413): from
    the Content-Length up front, and counted chunk by chunk as it streams (a chunked body declares no
    size; a multipart form may run on past its closing boundary, bytes the form parser skips but the
    server still reads), so no client can make the service read or hold more than the limit.
    Multipart uploads are limited by the upload limit (uploads.py also counts each part's data against
    the tenant's dataset limit), prediction bodies by the JSON limit, any other body by 1 MiB."""

    def __init__(self, app, json_limit: int, upload_limit: int) -> None:
        self.app, self.json_limit, self.upload_limit = app, json_limit, upload_limit

    def _limit(self, scope, ctype: str) -> int:
        if ctype.lower().startswith("multipart/"):
            return self.upload_limit + FORM_OVERHEAD  # form parts beyond the data: field names, boundaries
        if _DATA_PLANE.fullmatch(scope["path"]):
            return self.json_limit
        # Every other body is a small JSON object (a name, ids, a model config): a 30 MiB one would be
        # parsed whole (~12x its size in Python objects) before the route could refuse it.
        return min(self.json_limit, CONTROL_BODY_LIMIT)

    @staticmethod
    def _too_large(scope, size: str, limit: int) -> JSONResponse:
        message = f"request body of {size} bytes exceeds the limit of {limit} bytes"
        # The Open Inference Protocol's error shape is {"error"}; ours is {"detail"}. The rest of the body
        # stays unread: the connection closes after this answer.
        key = "error" if scope["path"].startswith("/v2") else "detail"
        return JSONResponse({key: message}, status_code=413, headers={"Connection": "close"})

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ctype = length = ""
        for name, value in scope["headers"]:
            if name == b"content-type":
                ctype = value.decode("latin-1")
            elif name == b"content-length":
                length = value.decode("latin-1")
        limit = self._limit(scope, ctype)
        if length.isdigit() and int(length) > limit:
            await self._too_large(scope, length, limit)(scope, receive, send)
            return
        received, started, answered = 0, False, False

        async def counted_receive():
            nonlocal received, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not started:
                    # Answer now; the app sees a client that went away and its own answer is dropped.
                    answered = True
                    await self._too_large(scope, f"more than {received}", limit)(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message) -> None:
            nonlocal started
            if answered:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counted_receive, guarded_send)


def _install_auth_gate(app: FastAPI) -> None:
    from .auth_gate import AuthGate

    app.add_middleware(AuthGate)


def _install_audit(app: FastAPI, state: ServiceState) -> None:
    app.add_middleware(_Audit, state=state)


def _install_body_limit(app: FastAPI, state: ServiceState) -> None:
    json_limit = state.settings.max_predict_values * 32 + (1 << 20)  # room for JSON number text
    app.add_middleware(_BodyLimit, json_limit=json_limit, upload_limit=state.settings.max_upload_bytes)


def create_app(settings: Settings | None = None, state: ServiceState | None = None) -> FastAPI:
    """The application. Opens the database (migrating it) unless an open `state` is given."""
    from .executor import LocalProcessExecutor
    from . import batch_predictions
    from .deployments import DeployedServing
    from .fast_lane import install_fast_lane
    from .metrics import ServiceMetrics, install_metrics
    from .routers import architectures, datasets, endpoints, explain, jobs, models, ops, tenants, v2

    settings = settings or Settings.from_env()
    state = state or open_state(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        # One server per data folder (`aiaas serve` took the lock already; this covers other launchers),
        # before the clean-up below deletes what could be another server's in-flight uploads.
        lock_data_dir(state.settings.data_dir)
        # What a killed predecessor left half-done (plaintext upload temp files, unfinished artifact
        # writes): at start, before any worker runs, nothing of it is in use. Not in open_state, which
        # `aiaas admin create-key` also calls while a server may be running.
        remove_stale_uploads(state.settings.data_dir / UPLOAD_TMP)
        state.storage.remove_partial_writes()
        state.executor = LocalProcessExecutor(state.settings)
        state.executor.start()
        # Everything built so far (FastAPI, SQLAlchemy, numpy, the routes) lives as long as the process:
        # frozen, full collections stop re-scanning it, which under load cut the p99 of predictions ~2x.
        gc.freeze()
        try:
            yield
        finally:
            state.executor.stop()

    app = FastAPI(title="aiaas", version="1", docs_url=None, redoc_url=None, lifespan=lifespan,
                  description="AI models as a service: datasets, training jobs, model versions, endpoints.")
    app.state.svc = state
    metrics = app.state.metrics = ServiceMetrics()
    state.serving = DeployedServing(state, metrics)  # serving.Serving + dynamic batching and canary split
    metrics.bind(state)
    for module in (ops, tenants, architectures, datasets, jobs, models, endpoints, explain, v2, batch_predictions):
        app.include_router(module.router)
    install_fast_lane(app)  # innermost: /v1 predict answered before the router (fast_lane.py)
    _install_error_handlers(app)
    _install_body_limit(app, state)
    # Outside the body limit (an anonymous client is told 401, whatever the size it declares) and inside
    # the audit (which records its 401s); neither reads a body.
    _install_auth_gate(app)
    _install_audit(app, state)
    install_api_docs(app)  # /docs, /redoc
    install_console(app)  # /ui, and what it reads (console_mount.py)
    install_metrics(app, metrics)
    return app
