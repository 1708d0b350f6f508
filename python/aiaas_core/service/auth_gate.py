"""Authentication before any body is read: a pure ASGI middleware in front of every route.

FastAPI reads and parses a route's body (JSON model, form) before it solves the route's dependencies,
so with authentication only as a dependency an anonymous client could make the server hold and parse a
30 MiB JSON body, or stream a 300 MiB form, before its 401. Here the Authorization header is checked
first (a cached key costs no database query; an unknown one is one indexed read in a thread), with the
key's rate limit and the failed-authentication throttle, and a refused request is answered without
touching `receive`: uvicorn stops reading the socket when its small buffer is full, and the answer says
`Connection: close`, so an anonymous client costs a few KB whatever it sends.

The principal found here is left in the request's state; `security.require` uses it instead of
authenticating again (one rate-limit token per request, not two).
"""

from __future__ import annotations

import logging
import uuid

from fastapi.responses import JSONResponse
from starlette.requests import Request

from .errors import ApiError
from .security import authenticate_async

log = logging.getLogger("aiaas.service")

# Routes anyone may call (health checks, the API description); every other path needs a key, whatever
# its method: an unknown path gets 401 too, so an anonymous client learns nothing of the routes.
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc",
                          "/v2", "/v2/health/live", "/v2/health/ready", "/", "/ui"})
# The docs' and the web console's static files: the console page asks for the key and sends it on its
# API calls, so the page itself (HTML, CSS, modules) is public like /docs.
PUBLIC_PREFIXES = ("/docs-static/", "/redoc/", "/ui/")


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def has_body(scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"", b"0")):
            return True
    return False


def refusal(scope, error: ApiError) -> JSONResponse:
    """The error in the API's shape ({"error"} for the Open Inference Protocol, {"detail"} elsewhere).
    With a body still unread, the connection closes after the answer instead of draining it."""
    key = "error" if scope["path"].startswith("/v2") else "detail"
    headers = dict(error.headers or {})
    if has_body(scope):
        headers["Connection"] = "close"
    return JSONResponse({key: error.detail}, status_code=error.status, headers=headers)


class AuthGate:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        try:
            await authenticate_async(Request(scope))  # no `receive`: nothing here can read the body
        except ApiError as error:
            await refusal(scope, error)(scope, receive, send)
            return
        except Exception:  # outside app.py's JSON-500 middleware: answer in the API's shape here
            ref = uuid.uuid4().hex[:12]
            log.exception("could not authenticate %s %s (reference %s)", scope["method"], scope["path"], ref)
            await refusal(scope, ApiError(503, f"could not check the API key now (reference {ref}); retry shortly",
                                          {"Retry-After": "5"}))(scope, receive, send)
            return
        await self.app(scope, receive, send)
