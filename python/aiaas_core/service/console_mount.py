"""The web console at /ui: static files shipped inside the package (service/console/), served with a
strict Content-Security-Policy, plus the read-only routes and traffic recorder it reads through.

The console is a client like curl: it calls the public API with the user's key, which it keeps in the
browser's sessionStorage and sends as the Bearer header. Nothing here authenticates or grants anything.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from .endpoint_traffic import TrafficRecorder

CONSOLE_DIR = Path(__file__).with_name("console")

# default-src 'self': no inline script or style, no outside host. Images may also be data:/blob: URLs
# (an uploaded image previewed before it is sent; the drawing pad's canvas).
CSP = ("default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"),
           (b"cache-control", b"no-cache")]  # revalidated (ETag): an upgraded server serves the new files


class _WithHeaders:
    """Wraps the mounted static files (not the whole app): the console's headers on every file of it."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in HEADERS}
                message["headers"] = [h for h in message.get("headers", []) if h[0] not in names] + HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_console(app: FastAPI) -> None:
    from .routers import introspection

    app.state.traffic = TrafficRecorder()  # fed by the request-timing middleware (install_metrics)
    app.include_router(introspection.router)

    # A person who types the server's address lands in the console.
    @app.get("/", include_in_schema=False)
    @app.get("/ui", include_in_schema=False)
    async def console_root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)

    app.mount("/ui", _WithHeaders(StaticFiles(directory=CONSOLE_DIR, html=True)), name="console")
