"""Where model compute runs: a fixed pool of threads shared fairly between tenants, never the event loop.

A forward pass of a big model takes seconds; on the event loop it froze every request of every tenant
(`/healthz` took 11 s). Here each tenant has its own queue; idle threads take the next job from the
tenants in turn (round robin), and no tenant holds more than `per_tenant` threads at once, so one
tenant's flood waits behind itself while another tenant's request starts on the next free thread.
The Rust kernels release the GIL, so the loop keeps answering while the pool computes.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future
from typing import Any, Callable

from .errors import ApiError

MAX_QUEUED_PER_TENANT = 1024  # forward passes waiting for one tenant; past it 429 (bounded memory)


class TenantQueueFull(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(429, f"this tenant already has {limit} predictions waiting for compute; retry shortly",
                         {"Retry-After": "1"})


class FairPool:
    def __init__(self, threads: int, per_tenant: int, name: str = "predict") -> None:
        if threads < 1 or per_tenant < 1:
            raise ValueError(f"threads and per_tenant must be >= 1, got {threads}, {per_tenant}")
        self.threads, self.per_tenant = threads, per_tenant
        self._queues: dict[str, deque[tuple[Future, Callable[..., Any], tuple]]] = {}
        self._running: dict[str, int] = {}
        self._ready: deque[str] = deque()  # tenants with queued work and a thread to spare, in turn
        self._cond = threading.Condition()
        self._local = threading.local()
        self._workers = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(threads)]
        for worker in self._workers:
            worker.start()

    def submit(self, tenant: str, fn: Callable[..., Any], *args: Any) -> Future:
        """Queue fn(*args) for `tenant`; the Future gives its result. TenantQueueFull (429) past the bound."""
        future: Future = Future()
        with self._cond:
            queue = self._queues.setdefault(tenant, deque())
            if len(queue) >= MAX_QUEUED_PER_TENANT:
                raise TenantQueueFull(MAX_QUEUED_PER_TENANT)
            queue.append((future, fn, args))
            self._mark_ready(tenant)
        return future

    def run(self, tenant: str, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(*args) on the pool, waiting for it (from a thread that may block, never the event loop).
        Already on a pool thread (a nested call): run it here, since waiting for a free thread could deadlock."""
        if getattr(self._local, "inside", False):
            return fn(*args)
        return self.submit(tenant, fn, *args).result()

    def queued(self) -> int:
        with self._cond:
            return sum(len(q) for q in self._queues.values())

    def _mark_ready(self, tenant: str) -> None:
        """Under the lock: put `tenant` in line if it has work, a thread to spare and is not in line yet."""
        if self._queues.get(tenant) and self._running.get(tenant, 0) < self.per_tenant and tenant not in self._ready:
            self._ready.append(tenant)
            self._cond.notify()

    def _take(self) -> tuple[str, Future, Callable[..., Any], tuple]:
        with self._cond:
            while not self._ready:
                self._cond.wait()
            tenant = self._ready.popleft()
            queue = self._queues[tenant]
            future, fn, args = queue.popleft()
            if not queue:
                del self._queues[tenant]
            self._running[tenant] = self._running.get(tenant, 0) + 1
            self._mark_ready(tenant)  # more work and a thread to spare: back in line, behind the others
            return tenant, future, fn, args

    def _work(self) -> None:
        self._local.inside = True
        while True:
            tenant, future, fn, args = self._take()
            try:
                if future.set_running_or_notify_cancel():  # a caller that gave up needs no compute
                    try:
                        future.set_result(fn(*args))
                    except BaseException as exc:  # the caller sees it; the thread lives on
                        future.set_exception(exc)
            finally:
                with self._cond:
                    self._running[tenant] -= 1
                    if not self._running[tenant]:
                        del self._running[tenant]
                    self._mark_ready(tenant)
