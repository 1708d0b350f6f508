"""POST /v1/endpoints/{name}/predict without FastAPI's router and dependency injection.

Profiling the prediction path showed route matching (every route's pattern, through the included
routers) and dependency solving costing more than the model itself. This pure ASGI middleware sits
innermost (inside the JSON-500, audit and metrics middleware, which see it like any route) and answers
exactly that route with the same functions the route uses: authentication (API-key cache, rate limit),
`predict_response`. Anything else, and any path it does not fully match, goes on to the app unchanged.
"""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.requests import Request

from .errors import ApiError
from .security import authenticate_async

PREDICT_TEMPLATE = "/v1/endpoints/{name}/predict"
_PREDICT_PATH = re.compile(r"/v1/endpoints/([^/]+)/predict")  # the router's own {name}: one path segment


class PredictFastLane:
    def __init__(self, app, route, respond) -> None:
        # route: the documented APIRoute (its template labels metrics); respond: routers.endpoints.predict_response
        self.app, self.route, self.respond = app, route, respond

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            match = _PREDICT_PATH.fullmatch(scope["path"])
            if match is not None:
                scope["route"] = self.route
                scope.setdefault("path_params", {})["name"] = match.group(1)
                request = Request(scope, receive)
                try:
                    principal = await authenticate_async(request)  # every role may predict
                    response = await self.respond(match.group(1), request, principal)
                except ApiError as exc:
                    response = JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def install_fast_lane(app: FastAPI) -> None:
    """Add the fast lane as the innermost middleware (call before the other middleware are added)."""
    from .routers import endpoints

    route = next(r for r in endpoints.router.routes if r.path == PREDICT_TEMPLATE and "POST" in r.methods)
    app.add_middleware(PredictFastLane, route=route, respond=endpoints.predict_response)
