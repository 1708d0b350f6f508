"""Dynamic batching: concurrent requests for one deployed model are joined into one forward call.

One worker thread per (endpoint, model version) takes queued requests, waits for more only while another
request is on its way (entered the prediction path but not yet queued) and at most `max_wait_ms` after
the oldest one arrived, runs the model once on the concatenated rows and hands each caller its own
slice through a Future. The Rust kernels release the GIL, so request threads keep parsing meanwhile.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from .errors import ApiError

Forward = Callable[[np.ndarray], np.ndarray]  # float32 [n, ...] -> [n, ...]


class BatcherStopped(RuntimeError):
    """The batcher was stopped (its endpoint was reconfigured); the caller runs the model directly."""


class QueueFull(ApiError):
    """The batch queue of a deployment is full: 429 with Retry-After."""

    def __init__(self, limit: int) -> None:
        super().__init__(429, f"the prediction queue of this endpoint is full ({limit} requests waiting); "
                              "retry shortly or raise the endpoint's max_queue", {"Retry-After": "1"})


@dataclass
class _Item:
    x: np.ndarray  # [n, ...] float32
    future: Future
    arrived: float  # time.monotonic()
    requests: int = 1  # client requests joined in x (more than one when the event loop hands over a batch)


def _thread_offload(forward: Forward) -> Callable[..., asyncio.Future]:
    """Without a compute pool (unit tests): each direct batch in the loop's default executor."""
    def offload(x: np.ndarray, after: Callable[[], None] | None = None) -> asyncio.Future:
        def run() -> np.ndarray:
            try:
                return forward(x)
            finally:
                if after is not None:
                    after()
        return asyncio.get_running_loop().run_in_executor(None, run)
    return offload


class Batcher:
    """Queue + worker thread for one deployed model.

    `on_batch(rows, requests)` is called after every forward call (metrics); it must not raise.
    """

    def __init__(self, forward: Forward, max_batch_size: int, max_wait_ms: float, max_queue: int,
                 on_batch: Callable[[int, int], None] | None = None, name: str = "batcher",
                 offload: Callable[..., asyncio.Future] | None = None) -> None:
        if not isinstance(max_batch_size, int) or max_batch_size < 1:
            raise ValueError(f"max_batch_size must be an integer >= 1, got {max_batch_size!r}")
        if not isinstance(max_queue, int) or max_queue < 1:
            raise ValueError(f"max_queue must be an integer >= 1, got {max_queue!r}")
        if not (isinstance(max_wait_ms, (int, float)) and 0 <= max_wait_ms <= 60_000):
            raise ValueError(f"max_wait_ms must be a number in [0, 60000], got {max_wait_ms!r}")
        self.forward, self.on_batch = forward, on_batch
        # offload(x, after) -> asyncio future: the forward pass on the compute pool, called from the loop for a
        # joined batch when the model is idle (after() runs on the pool thread when it ends); the model never
        # runs on the loop thread
        self.offload = offload or _thread_offload(forward)
        self._pending: list[tuple[np.ndarray, asyncio.Future]] = []  # joined on the event loop this turn
        self._pending_rows = 0
        self._flush_scheduled = False
        self.max_batch_size, self.max_wait_s, self.max_queue = max_batch_size, max_wait_ms / 1000.0, max_queue
        self._queue: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._arriving = 0  # requests inside the prediction path that have not been queued yet
        self._local = threading.local()
        self._stopped = False
        self._busy = False  # a forward call is running (the worker's, or a lone request's own)
        self.forward_calls = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- callers -----------------------------------------------------------------------------------
    @contextmanager
    def arriving(self) -> Iterator[None]:
        """Wrap a request's whole prediction path: while inside and not yet queued, the worker may wait for it."""
        with self._cond:
            self._arriving += 1
        self._local.counted = True
        try:
            yield
        finally:
            self._uncount()

    def _uncount(self) -> None:
        if getattr(self._local, "counted", False):
            self._local.counted = False
            with self._cond:
                self._arriving -= 1
                self._cond.notify_all()

    def depth(self) -> int:
        """Requests queued and not yet taken into a forward call."""
        return sum(item.requests for item in list(self._queue)) + len(self._pending)

    # -- event-loop callers (async routes) -----------------------------------------------------------
    async def predict_async(self, x: np.ndarray) -> np.ndarray:
        """The model's rows for x [n, ...], from a coroutine on the event loop.

        Requests that reach this point in the same turn of the loop (all whose bodies arrived together)
        are joined into one forward call at the end of the turn. When the model is idle the joined batch
        goes straight to the compute pool (one hand-off, no worker thread in between); while it is busy,
        batches queue for the worker, which joins what waits into its next forward call. The model never
        runs on the loop thread. QueueFull (429) past max_queue."""
        if not isinstance(x, np.ndarray) or x.ndim < 1 or len(x) == 0:
            raise ValueError("predict_async expects a non-empty numpy array with a batch axis")
        if self._stopped:
            raise BatcherStopped("this batcher has been stopped")
        if len(self._pending) + len(self._queue) >= self.max_queue:
            raise QueueFull(self.max_queue)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((x, future))
        self._pending_rows += len(x)
        if self._pending_rows >= self.max_batch_size:
            self._flush_pending()  # full: run it now rather than letting the whole turn wait for it
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._scheduled_flush)  # runs after the requests already scheduled in this turn
        return await future

    def _scheduled_flush(self) -> None:
        self._flush_scheduled = False
        self._flush_pending()

    def _flush_pending(self) -> None:
        if not self._pending:
            return  # already flushed when it filled up
        pending, self._pending, self._pending_rows = self._pending, [], 0
        start = 0
        while start < len(pending):  # batches of at most max_batch_size rows (a bigger request alone)
            end, rows = start + 1, len(pending[start][0])
            while end < len(pending) and rows + len(pending[end][0]) <= self.max_batch_size:
                rows += len(pending[end][0])
                end += 1
            self._run_joined(pending[start:end])
            start = end

    def _run_joined(self, batch: list[tuple[np.ndarray, asyncio.Future]]) -> None:
        x = batch[0][0] if len(batch) == 1 else np.concatenate([item[0] for item in batch], axis=0)
        rows, requests = len(x), len(batch)
        direct = self._begin_direct()  # idle model, empty queue: straight to the compute pool
        try:
            if direct:  # _end_direct on the pool thread as soon as the forward ends: the worker may go next
                handed, counted_here = self.offload(x, self._end_direct), True
            else:
                try:  # the model is busy: the worker joins this with whatever else waits (and counts it)
                    handed, counted_here = asyncio.wrap_future(self._submit_item(x, requests)), False
                except BatcherStopped:  # reconfigured meanwhile: to the pool without the worker
                    handed, counted_here = self.offload(x), True
        except BaseException as exc:  # e.g. the tenant's compute queue is full: every caller sees it
            if direct:
                self._end_direct()
            self._fail(batch, exc)
            return
        if counted_here:
            handed.add_done_callback(lambda f: f.cancelled() or f.exception() or self._finished(rows, requests))
        handed.add_done_callback(lambda f: self._deliver_done(batch, f))

    @staticmethod
    def _fail(batch: list[tuple[np.ndarray, asyncio.Future]], exc: BaseException) -> None:
        for _, future in batch:
            if not future.done():
                future.set_exception(exc)

    def _deliver_done(self, batch: list[tuple[np.ndarray, asyncio.Future]], done: asyncio.Future) -> None:
        if done.cancelled() or done.exception() is not None:
            self._fail(batch, done.exception() if not done.cancelled() else BatcherStopped("the forward call was cancelled"))
            return
        self._deliver(batch, np.asarray(done.result()))

    @staticmethod
    def _deliver(batch: list[tuple[np.ndarray, asyncio.Future]], out: np.ndarray) -> None:
        start = 0
        for x, future in batch:
            if not future.done():  # a caller that went away (cancelled) needs no answer
                future.set_result(out[start:start + len(x)])
            start += len(x)

    def _begin_direct(self) -> bool:
        with self._cond:
            if self._busy or self._queue:  # the worker is running or has work: join its order instead
                return False
            self._busy = True
            return True

    def _end_direct(self) -> None:
        with self._cond:
            self._busy = False
            if self._queue:  # only a worker holding a batch waits for _busy; waking an idle one costs a GIL hand-off
                self._cond.notify_all()

    def submit(self, x: np.ndarray) -> Future:
        """Queue rows x [n, ...]; the Future gives the model's output rows [n, ...]. QueueFull (429) when full."""
        if not isinstance(x, np.ndarray) or x.ndim < 1 or len(x) == 0:
            raise ValueError("submit expects a non-empty numpy array with a batch axis")
        return self._submit_item(x, 1)

    def _submit_item(self, x: np.ndarray, requests: int) -> Future:
        future: Future = Future()
        counted = getattr(self._local, "counted", False)
        with self._cond:
            if self._stopped:
                raise BatcherStopped("this batcher has been stopped")
            if requests == 1 and len(self._queue) >= self.max_queue:  # a batch from the loop was admitted there
                raise QueueFull(self.max_queue)
            self._queue.append(_Item(x, future, time.monotonic(), requests))
            if counted:
                self._local.counted = False
                self._arriving -= 1
            self._cond.notify_all()
        return future

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The model's rows for x. A lone request (nothing queued or running, nobody else on the way) runs
        the model in the caller's thread: no hand-off to the worker, so batching costs it nothing."""
        counted = getattr(self._local, "counted", False)
        with self._cond:
            if self._stopped:
                raise BatcherStopped("this batcher has been stopped")
            alone = not self._busy and not self._queue and self._arriving <= (1 if counted else 0)
            if alone:
                self._busy = True
                if counted:
                    self._local.counted = False
                    self._arriving -= 1
        if not alone:
            return self.submit(x).result()
        try:
            out = np.asarray(self.forward(x))
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
        self._finished(len(x), 1)
        return out

    def _finished(self, rows: int, requests: int) -> None:
        self.forward_calls += 1
        if self.on_batch is not None:
            try:
                self.on_batch(rows, requests)
            except Exception:
                pass

    def stop(self) -> None:
        """Finish what is queued, then end the worker thread."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    # -- worker ------------------------------------------------------------------------------------
    def _take(self) -> list[_Item] | None:
        with self._cond:
            while not self._queue:
                if self._stopped:
                    return None
                self._cond.wait()
            deadline = self._queue[0].arrived + self.max_wait_s
            while True:
                rows = sum(len(item.x) for item in self._queue)
                if rows >= self.max_batch_size or self._arriving <= 0 or self._stopped:
                    break  # full, or nobody else is on the way: flush now
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            while self._busy:  # a lone request is running the model: the batch goes right after it
                self._cond.wait()
            self._busy = True
            batch = [self._queue.popleft()]  # at least one request, even one larger than max_batch_size
            rows = len(batch[0].x)
            while self._queue and rows + len(self._queue[0].x) <= self.max_batch_size:
                item = self._queue.popleft()
                batch.append(item)
                rows += len(item.x)
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            rows = sum(len(item.x) for item in batch)
            requests = sum(item.requests for item in batch)
            try:
                x = batch[0].x if len(batch) == 1 else np.concatenate([item.x for item in batch], axis=0)
                out = np.asarray(self.forward(x))
            except BaseException as exc:  # every caller of this batch sees the failure, the worker lives on
                failure: BaseException | None = exc
            else:
                failure = None
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
            if failure is not None:
                for item in batch:
                    item.future.set_exception(failure)
                continue
            start = 0
            for item in batch:
                item.future.set_result(out[start:start + len(item.x)])
                start += len(item.x)
            self._finished(rows, requests)
