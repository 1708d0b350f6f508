"""create_app(settings): the FastAPI application with its routers, error handlers, audit log and docs."""

from __future__ import annotations

import logging
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .errors import ApiError
from .models import AuditEntry
from .settings import Settings
from .state import ServiceState, open_state

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
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    def internal_error(req: Request) -> JSONResponse:
        ref = uuid.uuid4().hex[:12]
        log.exception("unhandled error %s on %s %s", ref, req.method, req.url.path)
        return JSONResponse({"detail": f"internal server error (reference {ref}); the server logged it"},
                            status_code=500)

    @app.middleware("http")
    async def _unexpected_as_json(request: Request, call_next):
        # Innermost middleware (installed first): the audit and metrics around it see an ordinary 500,
        # and the client gets its JSON answer instead of a dropped connection.
        try:
            return await call_next(request)
        except Exception:
            return internal_error(request)

    @app.exception_handler(Exception)
    async def _unexpected(req: Request, exc: Exception) -> JSONResponse:  # errors raised outside the routes
        return internal_error(req)


# POST routes that only read: predictions are counted in /metrics, not written to the audit log (one
# database commit per prediction would halve serving throughput); refused ones are still audited.
READ_ONLY_POSTS = frozenset({"/v1/endpoints/{name}/predict", "/v1/endpoints/{name}/explain",
                             "/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer"})


def _install_audit(app: FastAPI, state: ServiceState) -> None:
    """Record who did what: every state-changing request and every refused one."""

    def write(entry: AuditEntry) -> None:
        try:
            with state.sessions() as session:
                session.add(entry)
        except Exception:  # the audit must never turn a good answer into an error
            log.exception("could not write audit entry")

    @app.middleware("http")
    async def audit(request: Request, call_next):
        response = await call_next(request)
        route = request.scope.get("route")
        changes = request.method in ("POST", "PATCH", "PUT", "DELETE") and getattr(route, "path", None) not in READ_ONLY_POSTS
        if changes or response.status_code in (401, 403) or request.url.path.endswith("/download"):  # downloads too
            principal = getattr(request.state, "principal", None)
            entry = AuditEntry(
                tenant_id=getattr(principal, "tenant_id", None),
                key_id=getattr(principal, "key_id", None),
                action=f"{request.method} {getattr(route, 'path', request.url.path)}"[:64],
                target=request.url.path[:200],
                status=response.status_code,
            )
            await run_in_threadpool(write, entry)
        return response


def _install_body_limit(app: FastAPI, state: ServiceState) -> None:
    """JSON bodies are parsed before the route runs, so their size is checked here (413).
    Multipart uploads are limited while streaming, after authentication (routers/datasets.py)."""
    settings = state.settings
    json_limit = settings.max_predict_values * 32 + (1 << 20)  # room for JSON number text

    @app.middleware("http")
    async def body_limit(request: Request, call_next):
        ctype = request.headers.get("content-type", "")
        length = request.headers.get("content-length", "")
        if not ctype.startswith("multipart/") and length.isdigit() and int(length) > json_limit:
            return JSONResponse({"detail": f"request body of {length} bytes exceeds the limit of {json_limit} bytes"},
                                status_code=413)
        return await call_next(request)


def _install_docs(app: FastAPI) -> None:
    """Swagger UI from the swagger-ui-bundle package's files: /docs works offline (no CDN)."""
    import swagger_ui_bundle

    app.mount("/docs-static", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="aiaas API",
            swagger_js_url="/docs-static/swagger-ui-bundle.js",
            swagger_css_url="/docs-static/swagger-ui.css",
            swagger_favicon_url="/docs-static/favicon-32x32.png",
        )


def create_app(settings: Settings | None = None, state: ServiceState | None = None) -> FastAPI:
    """The application. Opens the database (migrating it) unless an open `state` is given."""
    from .executor import LocalProcessExecutor
    from . import batch_predictions
    from .deployments import DeployedServing
    from .metrics import ServiceMetrics, install_metrics
    from .routers import architectures, datasets, endpoints, explain, jobs, models, ops, tenants, v2

    settings = settings or Settings.from_env()
    state = state or open_state(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        state.executor = LocalProcessExecutor(state.settings)
        state.executor.start()
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
    _install_error_handlers(app)
    _install_audit(app, state)
    _install_body_limit(app, state)
    _install_docs(app)
    for module in (ops, tenants, architectures, datasets, jobs, models, endpoints, explain, v2, batch_predictions):
        app.include_router(module.router)
    install_metrics(app, metrics)
    return app
