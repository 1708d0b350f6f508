"""Prometheus metrics: one registry per app (tests and several apps in one process never share counters).

Exposed at GET /metrics (text format) for admin keys: Prometheus sends `authorization: Bearer <key>`
(scrape_config `authorization: {credentials: ...}`). Labels carry route templates, never tenant names or
endpoint names, so the series count stays bounded and nothing of one tenant shows in another's metrics.
"""

from __future__ import annotations

import logging
import time
from typing import Iterator

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from .models import Job
from .security import Principal, require

log = logging.getLogger("aiaas.metrics")

JOB_STATES = ("queued", "running", "succeeded", "failed", "canceled")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class ServiceMetrics:
    """Counters and histograms of one app, plus gauges read from the service state at scrape time."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("aiaas_http_requests", "HTTP requests by method, route template and status",
                                ["method", "route", "status"], registry=r)
        self.latency = Histogram("aiaas_http_request_duration_seconds", "HTTP request latency by route template",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=r)
        self.batch_rows = Histogram("aiaas_batch_size_rows", "rows per model forward call (dynamic batching)",
                                    buckets=BATCH_BUCKETS, registry=r)
        self.batch_requests = Histogram("aiaas_batch_size_requests", "requests joined into one model forward call",
                                        buckets=BATCH_BUCKETS, registry=r)
        self.forward_calls = Counter("aiaas_model_forward_calls", "model forward calls made for predictions",
                                     registry=r)
        self.predicted_requests = Counter("aiaas_model_forward_requests",
                                          "prediction requests answered by those forward calls", registry=r)
        self._state = None

    def observe_forward(self, rows: int, requests: int) -> None:
        self.forward_calls.inc()
        self.predicted_requests.inc(requests)
        self.batch_rows.observe(rows)
        self.batch_requests.observe(requests)

    def bind(self, state) -> None:
        """Gauges that read the live service state at each scrape: queue depth, models loaded, jobs by state."""
        self._state = state
        self.registry.register(_StateCollector(state))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _StateCollector:
    def __init__(self, state) -> None:
        self.state = state

    def describe(self):
        return []  # no registration-time collect (the database may not be ready yet)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        serving = self.state.serving
        depth = GaugeMetricFamily("aiaas_batch_queue_depth", "prediction requests waiting in batch queues")
        depth.add_metric([], float(serving.queue_depth() if hasattr(serving, "queue_depth") else 0))
        yield depth
        loaded = GaugeMetricFamily("aiaas_models_loaded", "model versions held in the serving cache")
        loaded.add_metric([], float(serving.models_loaded() if hasattr(serving, "models_loaded") else 0))
        yield loaded
        held = GaugeMetricFamily("aiaas_models_loaded_bytes", "bytes of weights held in the serving cache")
        held.add_metric([], float(serving.cached_bytes()))
        yield held
        jobs = GaugeMetricFamily("aiaas_jobs", "training jobs by state (all tenants)", labels=["state"])
        counts = {s: 0 for s in JOB_STATES}
        try:
            with self.state.sessions() as session:
                for state, n in session.execute(select(Job.state, func.count()).group_by(Job.state)):
                    counts[state] = int(n)
        except Exception:  # a scrape must not fail because the database is busy
            log.exception("could not count jobs for /metrics")
        for state, n in counts.items():
            jobs.add_metric([state], float(n))
        yield jobs


class _MeasureRequests:
    """Pure ASGI middleware (no per-request task or body wrapping as with @app.middleware): status and
    latency of every HTTP request, labelled by the route template the router matched."""

    def __init__(self, app, metrics: ServiceMetrics, traffic=None) -> None:
        self.app, self.metrics, self.traffic = app, metrics, traffic  # traffic: endpoint_traffic.TrafficRecorder

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_status(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            seconds = time.perf_counter() - start
            template = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], template, str(status[0])).inc()
            self.metrics.latency.labels(scope["method"], template).observe(seconds)
            if self.traffic is not None:
                self.traffic.observe(scope, seconds, status[0])


def install_metrics(app: FastAPI, metrics: ServiceMetrics) -> None:
    """Middleware timing every request by its route template, and the GET /metrics route."""
    app.add_middleware(_MeasureRequests, metrics=metrics, traffic=getattr(app.state, "traffic", None))

    router = APIRouter(tags=["operations"])

    @router.get("/metrics", response_class=Response)
    def prometheus(principal: Principal = Depends(require("admin"))) -> Response:
        """Prometheus text exposition (admin keys)."""
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(router)
