"""/docs (Swagger UI) and /redoc from the fastapi-standalone-docs package's files: offline, no CDN.

The service's OpenAPI document is 3.1 (FastAPI's). Swagger UI understands 3.1 from its 5.x line on;
the swagger-ui-bundle package ships 4.15, which renders "Unable to render this definition" in a
browser, so the newer bundle (Swagger UI 5, Redoc 2) is served instead. Only the files are used: the
pages are FastAPI's own HTML helpers pointed at them, without Google fonts (no outside request).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles


def _static_dir() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("fastapi_standalone_docs")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "static"


def install_api_docs(app: FastAPI) -> None:
    static = _static_dir()
    openapi_url = app.openapi_url or "/openapi.json"
    if static is None:  # the [server] extra brings it; say what is missing instead of a blank page
        missing = ("<p>The interactive API pages need the <code>fastapi-standalone-docs</code> package "
                   "(<code>pip install 'aiaas_core[server]'</code>). The schema itself is at "
                   f"<a href=\"{openapi_url}\">{openapi_url}</a>.</p>")

        @app.get("/docs", include_in_schema=False)
        @app.get("/redoc", include_in_schema=False)
        async def no_docs() -> HTMLResponse:
            return HTMLResponse(missing, status_code=503)
        return

    app.mount("/docs-static", StaticFiles(directory=static), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=openapi_url, title="aiaas API",
                                   swagger_js_url="/docs-static/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-static/swagger/swagger-ui.css",
                                   swagger_favicon_url="/docs-static/fastapi/favicon.png")

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=openapi_url, title="aiaas API", with_google_fonts=False,
                              redoc_js_url="/docs-static/redoc/redoc.standalone.js",
                              redoc_favicon_url="/docs-static/fastapi/favicon.png")

    # The packaged Redoc asks for its logo beside the page (the package rewrote the CDN address so).
    @app.get("/redoc/logo-mini.svg", include_in_schema=False)
    async def redoc_logo() -> FileResponse:
        return FileResponse(static / "redoc" / "logo-mini.svg", media_type="image/svg+xml")
