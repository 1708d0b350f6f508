"""Where model compute runs: a fixed pool of threads shared fairly between tenants, never the event loop.

A forward pass of a big model takes seconds; on the event loop it froze every request of every tenant
(`/healthz` took 11 s). Here each tenant has its own queue; idle threads take the next job from the
tenants in turn (round robin), and no tenant holds more than `per_tenant` threads at once, so one
tenant's flood waits behind itself while another tenant's request starts on the next free thread.
The Rust kernels release the GIL, so the loop keeps answering while the pool computes.
"""

from __future__ import annotations

import asyncio
import queue
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


def _settle_async(result: asyncio.Future, ok: bool, value: Any) -> None:
    if result.cancelled():  # the request went away meanwhile
        return
    result.set_result(value) if ok else result.set_exception(value)


class FairPool:
    def __init__(self, threads: int, per_tenant: int, name: str = "predict") -> None:
        if threads < 1 or per_tenant < 1:
            raise ValueError(f"threads and per_tenant must be >= 1, got {threads}, {per_tenant}")
        self.threads, self.per_tenant = threads, per_tenant
        self._queues: dict[str, deque[tuple[Future, Callable[..., Any], tuple]]] = {}
        self._running: dict[str, int] = {}
        self._ready: deque[str] = deque()  # tenants with queued work and a thread to spare, in turn
        self._lock = threading.Lock()
        # One token per entry put in _ready: an idle thread sleeps in tokens.get() (C, cheaper than a
        # Condition, which costs a new lock per wait) and pops the entry its token stands for.
        self._tokens: queue.SimpleQueue[None] = queue.SimpleQueue()
        self._local = threading.local()
        self._workers = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(threads)]
        for worker in self._workers:
            worker.start()

    def submit(self, tenant: str, fn: Callable[..., Any], *args: Any) -> Future:
        """Queue fn(*args) for `tenant`; the Future gives its result. TenantQueueFull (429) past the bound."""
        future: Future = Future()

        def settle(ok: bool, value: Any) -> None:
            future.set_result(value) if ok else future.set_exception(value)

        self._enqueue(tenant, (lambda: not future.set_running_or_notify_cancel(), settle, fn, args, None))
        return future

    def submit_async(self, tenant: str, fn: Callable[..., Any], *args: Any,
                     after: Callable[[], None] | None = None) -> asyncio.Future:
        """submit() for the event loop: an asyncio future settled straight from the pool thread (one
        call_soon_threadsafe; no concurrent Future wrapped in an asyncio one, which cost ~30 us of CPU
        per call). `after()` runs on the pool thread as soon as fn returns (or is skipped because the
        caller went away), before the loop hears of it. Call from the loop."""
        loop = asyncio.get_running_loop()
        result = loop.create_future()

        def settle(ok: bool, value: Any) -> None:
            loop.call_soon_threadsafe(_settle_async, result, ok, value)

        self._enqueue(tenant, (result.cancelled, settle, fn, args, after))
        return result

    def _enqueue(self, tenant: str, job: tuple) -> None:
        with self._lock:
            queue = self._queues.setdefault(tenant, deque())
            if len(queue) >= MAX_QUEUED_PER_TENANT:
                raise TenantQueueFull(MAX_QUEUED_PER_TENANT)
            queue.append(job)
            self._mark_ready(tenant)

    def run(self, tenant: str, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(*args) on the pool, waiting for it (from a thread that may block, never the event loop).
        Already on a pool thread (a nested call): run it here, since waiting for a free thread could deadlock."""
        if getattr(self._local, "inside", False):
            return fn(*args)
        return self.submit(tenant, fn, *args).result()

    def queued(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._queues.values())

    def _mark_ready(self, tenant: str) -> None:
        """Under the lock: put `tenant` in line if it has work, a thread to spare and is not in line yet."""
        if self._queues.get(tenant) and self._running.get(tenant, 0) < self.per_tenant and tenant not in self._ready:
            self._ready.append(tenant)
            self._tokens.put(None)

    def _take(self) -> tuple[str, tuple]:
        self._tokens.get()
        with self._lock:
            tenant = self._ready.popleft()
            queue = self._queues[tenant]
            job = queue.popleft()
            if not queue:
                del self._queues[tenant]
            self._running[tenant] = self._running.get(tenant, 0) + 1
            self._mark_ready(tenant)  # more work and a thread to spare: back in line, behind the others
            return tenant, job

    def _work(self) -> None:
        self._local.inside = True
        while True:
            tenant, (gave_up, settle, fn, args, after) = self._take()
            try:
                if not gave_up():  # a caller that gave up needs no compute
                    try:
                        value, ok = fn(*args), True
                    except BaseException as exc:  # the caller sees it; the thread lives on
                        value, ok = exc, False
                    if after is not None:
                        after()
                        after = None
                    settle(ok, value)
            except BaseException:  # settling failed (a closed loop at shutdown): nobody is waiting
                pass
            finally:
                if after is not None:  # skipped or failed before it ran: still release what it holds
                    try:
                        after()
                    except BaseException:
                        pass
                with self._lock:
                    self._running[tenant] -= 1
                    if not self._running[tenant]:
                        del self._running[tenant]
                    self._mark_ready(tenant)
