"""Request rate and latency of each endpoint, per tenant, for the endpoint's owner (GET .../stats).

The Prometheus metrics label requests by route template only (never by endpoint or tenant, so one
tenant's names never show in another's scrape and the series count stays bounded); an endpoint's
owner still wants to see its own traffic. The request-timing middleware (metrics.py) hands every
request it times to `TrafficRecorder.observe`, which keeps, in memory, the last few thousand prediction requests of each (tenant, endpoint): when, how long, which status. It is this
process's view (like /metrics); with several replicas each one reports what it served.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from typing import Any

# Both prediction protocols reach the same endpoints: ours and the Open Inference Protocol's.
_PREDICT = re.compile(r"/v1/endpoints/([^/]+)/(?:predict|explain)|/v2/models/([^/]+)(?:/versions/[^/]+)?/infer")
WINDOW_S = 60.0
MAX_SAMPLES = 4096  # per endpoint: enough for a rate over a minute at ~70 requests/s, bounded memory
MAX_ENDPOINTS = 10_000


class TrafficRecorder:
    def __init__(self) -> None:
        self._samples: dict[tuple[str, str], deque] = {}
        self._totals: dict[tuple[str, str], list[int]] = {}  # [requests, errors] since the process started
        self._lock = threading.Lock()

    def record(self, tenant_id: str, name: str, at: float, seconds: float, status: int) -> None:
        key = (tenant_id, name)
        with self._lock:
            if key not in self._samples and len(self._samples) >= MAX_ENDPOINTS:
                self._samples.clear()  # bounded memory whatever the number of endpoints; they start afresh
                self._totals.clear()
            self._samples.setdefault(key, deque(maxlen=MAX_SAMPLES)).append((at, seconds, status))
            totals = self._totals.setdefault(key, [0, 0])
            totals[0] += 1
            totals[1] += status >= 400

    def observe(self, scope, seconds: float, status: int) -> None:
        """Record a finished request if it was an authenticated prediction: the request-timing
        middleware (metrics.py) calls this for every request it times, so nothing times it twice."""
        if scope["method"] != "POST":
            return
        match = _PREDICT.fullmatch(scope["path"])
        principal = (scope.get("state") or {}).get("principal") if match else None
        if principal is not None:  # unauthenticated requests are nobody's traffic
            self.record(principal.tenant_id, match.group(1) or match.group(2), time.monotonic() - seconds,
                        seconds, status)

    def summary(self, tenant_id: str, name: str) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            recent = [s for s in self._samples.get((tenant_id, name), ()) if now - s[0] <= WINDOW_S]
            total, errors = self._totals.get((tenant_id, name), [0, 0])
        latencies = sorted(s[1] for s in recent)

        def quantile(q: float) -> float | None:
            return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 3) if latencies else None

        # The rate is over the window, or over the time since the first request if that is shorter.
        span = max(1.0, min(WINDOW_S, now - recent[0][0])) if recent else WINDOW_S
        return {"window_seconds": WINDOW_S, "requests_in_window": len(recent),
                "requests_per_second": round(len(recent) / span, 3),
                "errors_in_window": sum(1 for s in recent if s[2] >= 400),
                "latency_ms": {"p50": quantile(0.5), "p95": quantile(0.95), "max": quantile(1.0)},
                "requests_total": total, "errors_total": errors}
