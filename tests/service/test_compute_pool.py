"""The compute pool: tenants take turns, no tenant holds more than its share of threads, failures and
queue bounds reach the caller, and async callers are answered on their event loop."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from aiaas_core.service.compute_pool import MAX_QUEUED_PER_TENANT, FairPool, TenantQueueFull


def test_tenants_take_turns_on_one_thread():
    pool = FairPool(threads=1, per_tenant=1)
    gate = threading.Event()
    order: list[str] = []
    first = pool.submit("a", gate.wait, 10)  # holds the only thread while the queues fill
    futures = [pool.submit("a", order.append, f"a{i}") for i in range(4)]
    futures += [pool.submit("b", order.append, f"b{i}") for i in range(2)]
    gate.set()
    for f in [first, *futures]:
        f.result(10)
    # a had the thread: b goes next, then they alternate; b never waits for all of a's queue
    assert order == ["b0", "a0", "b1", "a1", "a2", "a3"], order


def test_one_tenant_holds_at_most_its_share_of_threads():
    pool = FairPool(threads=4, per_tenant=2)
    running, peak, lock = [0], [0], threading.Lock()

    def job():
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1

    for f in [pool.submit("a", job) for _ in range(8)]:
        f.result(10)
    assert peak[0] == 2
    other = pool.submit("b", lambda: threading.current_thread().name)
    assert other.result(10).startswith("predict-")


def test_errors_and_the_queue_bound_reach_the_caller():
    pool = FairPool(threads=1, per_tenant=1)
    with pytest.raises(ZeroDivisionError):
        pool.submit("a", lambda: 1 / 0).result(10)
    gate = threading.Event()
    pool.submit("a", gate.wait, 10)
    time.sleep(0.05)
    queued = [pool.submit("a", int) for _ in range(MAX_QUEUED_PER_TENANT)]
    with pytest.raises(TenantQueueFull) as full:
        pool.submit("a", int)
    assert full.value.status == 429
    assert pool.submit("b", int) is not None  # another tenant's queue is its own
    gate.set()
    for f in queued:
        f.result(10)


def test_async_callers_are_answered_on_their_loop_and_after_runs_first():
    pool = FairPool(threads=2, per_tenant=1)
    released = []

    async def run():
        loop_thread = threading.current_thread()
        value = await pool.submit_async("a", lambda: threading.current_thread(), after=lambda: released.append(1))
        with pytest.raises(ValueError):
            await pool.submit_async("a", int, "not a number")
        return loop_thread, value

    loop_thread, worker = asyncio.run(run())
    assert worker is not loop_thread and released == [1]
