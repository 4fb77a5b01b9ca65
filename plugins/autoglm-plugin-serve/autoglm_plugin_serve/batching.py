"""Dynamic batching: concurrent requests share one model call, and the server sheds load.

Requests put their texts on a bounded asyncio queue and await a future. One batcher task takes the
first waiting request and every request already queued behind it (up to ``max_batch_size`` texts)
and runs them in one call in a single worker thread; the event loop keeps accepting requests
meanwhile. It never waits for a batch to fill when the queue is empty: an idle server answers at
once, and under load the batches form from the requests that arrived while the model was busy
(``max_wait_ms`` > 0 lets a batch wait that long for more, only while requests keep arriving).

Batching is only worth it where a batched forward pass is cheaper per text than single ones
(GPUs, small models); on a compute-bound CPU padding can make it dearer. So the worker thread runs a
batch in chunks whose size a :class:`ChunkSizer` picks from measured seconds per text (1, 2, 4, ...
up to ``max_batch_size``), starting at one text per call, as one-at-a-time serving does, and
growing only while larger calls measure cheaper per text.

A full queue raises :class:`Overloaded` (the app answers 503 with Retry-After); requests whose
client gave up (timeout, disconnect) are dropped before they reach the model.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Item:
    texts: list[str]
    future: asyncio.Future[Any]


class Overloaded(Exception):
    """The queue is full; ``retry_after`` is the estimated seconds until it has room."""

    def __init__(self, queued: int, retry_after: int):
        super().__init__(f"{queued} requests are waiting; the queue is full.")
        self.queued, self.retry_after = queued, retry_after


@dataclass
class BatchStats:
    requests: int = 0
    texts: int = 0
    batches: int = 0
    max_batch_texts: int = 0
    batch_sizes: dict[int, int] = field(default_factory=dict)  # texts per batch -> count
    busy_seconds: float = 0.0
    rejected: int = 0  # queue full -> 503
    dropped: int = 0  # the client had gone (timeout, disconnect) before the model ran
    timed_out: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "texts": self.texts, "batches": self.batches,
            "max_batch_texts": self.max_batch_texts,
            "mean_batch_texts": round(self.texts / self.batches, 3) if self.batches else 0.0,
            "batch_sizes": {str(k): v for k, v in sorted(self.batch_sizes.items())},
            "model_busy_seconds": round(self.busy_seconds, 4),
            "rejected": self.rejected, "dropped": self.dropped, "timed_out": self.timed_out,
        }


class ChunkSizer:
    """Picks the model-call size from measured seconds per text, starting at one text per call.

    It climbs: once size ``b`` is measured, the next batch runs its first call at ``2b``; if that is
    cheaper per text it becomes the size, and so on up to ``max_size``. Every ``explore_every``-th
    batch re-measures a neighbour (``2b`` or ``b/2``) with one call, so a change of load is noticed.
    Starting at 1 means it never begins slower than one-at-a-time serving, and exploring costs one
    call, not a batch."""

    def __init__(self, max_size: int, explore_every: int = 8, alpha: float = 0.3):
        self.max_size, self.explore_every, self.alpha = max_size, explore_every, alpha
        self.best = 1
        self.cost: dict[int, float] = {}  # call size -> EMA of seconds per text
        self._batches = 0

    def _probe(self, n: int) -> int | None:
        up, down = min(self.best * 2, self.max_size), max(self.best // 2, 1)
        if self.best in self.cost and up != self.best and up <= n and up not in self.cost:
            return up  # still climbing
        self._batches += 1
        if self._batches % self.explore_every:
            return None
        options = [s for s in (up, down) if s != self.best and s <= n]
        return options[(self._batches // self.explore_every) % len(options)] if options else None

    def plan(self, n: int) -> list[int]:
        """Call sizes for a batch of ``n`` texts (they sum to ``n``)."""
        sizes = []
        probe = self._probe(n)
        if probe is not None:
            sizes.append(probe)
            n -= probe
        while n > 0:
            sizes.append(min(self.best, n))
            n -= sizes[-1]
        return sizes

    def record(self, size: int, texts: int, seconds: float) -> None:
        if texts <= 0:
            return
        per_text = seconds / texts
        old = self.cost.get(size)
        self.cost[size] = per_text if old is None else (1 - self.alpha) * old + self.alpha * per_text
        if size <= self.max_size and (size == self.best or self.cost[size] < self.cost.get(self.best, float("inf"))):
            self.best = min((s for s in self.cost if s <= self.max_size), key=lambda s: (self.cost[s], s))

    def seconds_per_text(self) -> float | None:
        return self.cost.get(self.best)

    def as_dict(self) -> dict[str, Any]:
        return {"call_size": self.best,
                "ms_per_text_by_call_size": {str(k): round(1000 * v, 3) for k, v in sorted(self.cost.items())}}


class Batcher:
    """Collects concurrent requests into batches for ``predict_fn(texts, batch_size) -> array``."""

    def __init__(self, predict_fn: Callable[[list[str], int], Any], *, max_batch_size: int = 32,
                 max_wait_ms: float = 0.0, max_queue: int = 256, adaptive: bool = True):
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        if max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, got {max_queue}")
        self.predict_fn = predict_fn
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.sizer = ChunkSizer(max_batch_size) if adaptive else None
        self.stats = BatchStats()
        self._queue: asyncio.Queue[_Item] | None = None
        self._carry: _Item | None = None
        self._queued_texts = 0
        self._task: asyncio.Task[None] | None = None
        # One worker thread: the model is not re-entrant-safe for speed anyway (torch uses all cores per call).
        self._executor: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        self._queue = asyncio.Queue(maxsize=self.max_queue)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="autoglm-model")
        self._task = asyncio.create_task(self._run(), name="autoglm-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def queued(self) -> int:
        return (self._queue.qsize() if self._queue else 0) + (1 if self._carry else 0)

    def retry_after(self) -> int:
        """Seconds until the queued texts are likely done (at least 1)."""
        per_text = (self.sizer.seconds_per_text() if self.sizer else None) or (
            self.stats.busy_seconds / self.stats.texts if self.stats.texts else 0.05)
        return max(1, math.ceil(self._queued_texts * per_text))

    async def submit(self, texts: Sequence[str]) -> Any:
        """Wait for the probabilities of ``texts`` (rows in order); :class:`Overloaded` when the
        queue is full. Cancelling the wait drops the request if the model has not started on it."""
        if self._queue is None or not self.running:
            raise RuntimeError("the batcher is not running")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        item = _Item(list(texts), fut)
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.stats.rejected += 1
            raise Overloaded(self.queued, self.retry_after()) from None
        self._queued_texts += len(item.texts)
        return await fut

    def _take(self, item: _Item) -> _Item:
        self._queued_texts -= len(item.texts)
        return item

    async def _next(self, timeout: float | None) -> _Item | None:
        assert self._queue is not None
        if self._carry is not None:
            item, self._carry = self._carry, None
            return item
        if timeout is None:
            return self._take(await self._queue.get())
        if timeout <= 0:
            try:
                return self._take(self._queue.get_nowait())
            except asyncio.QueueEmpty:
                return None
        try:
            return self._take(await asyncio.wait_for(self._queue.get(), timeout))
        except asyncio.TimeoutError:
            return None

    async def _collect(self) -> list[_Item]:
        """The first waiting request and those queued behind it; waits (max_wait) only while
        requests keep arriving, never for an empty queue."""
        loop = asyncio.get_running_loop()
        first = await self._next(None)
        assert first is not None
        items, n = [first], len(first.texts)
        deadline = loop.time() + self.max_wait
        while n < self.max_batch_size:
            item = await self._next(0)
            if item is None and self.max_wait > 0 and len(items) > 1:
                item = await self._next(deadline - loop.time())
            if item is None:
                break
            if n + len(item.texts) > self.max_batch_size:
                self._carry = item  # keeps its place: first in the next batch
                break
            items.append(item)
            n += len(item.texts)
        return items

    def _work(self, items: list[_Item], loop: asyncio.AbstractEventLoop) -> tuple[int, int, int]:
        """In the worker thread: the batch's texts in calls of the measured best size (one call when
        not adaptive). Each request is answered as soon as its rows are done, and before every call
        the texts of requests whose client has gone (timeout, disconnect) are skipped, so a long
        batch does not finish work nobody waits for. Returns (requests, texts computed, requests dropped)."""
        import numpy as np

        pending = [(it, j) for it in items for j in range(len(it.texts))]
        rows: dict[int, list[Any]] = {id(it): [None] * len(it.texts) for it in items}
        left = {id(it): len(it.texts) for it in items}
        dropped: set[int] = set()
        plan = self.sizer.plan(len(pending)) if self.sizer else [self.max_batch_size] * len(pending)
        computed = answered = 0
        for size in plan:
            alive = []
            for it, j in pending:
                if it.future.done():  # a read of a flag: benign from this thread
                    dropped.add(id(it))
                else:
                    alive.append((it, j))
            pending = alive
            if not pending:
                break
            chunk, pending = pending[:size], pending[size:]
            t0 = time.perf_counter()
            try:
                probs = self.predict_fn([it.texts[j] for it, j in chunk], size)
            except Exception as exc:  # one bad batch must not stop the server
                for it in {id(it): it for it, _ in chunk + pending}.values():
                    loop.call_soon_threadsafe(_fail, it.future, exc)
                return answered, computed, len(dropped)
            if self.sizer is not None:
                self.sizer.record(len(chunk), len(chunk), time.perf_counter() - t0)
            computed += len(chunk)
            for (it, j), row in zip(chunk, probs, strict=True):
                rows[id(it)][j] = row
                left[id(it)] -= 1
                if left[id(it)] == 0:
                    loop.call_soon_threadsafe(_resolve, it.future, np.stack(rows[id(it)]))
                    answered += 1
        return answered, computed, len(dropped)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = await self._collect()
            alive = [it for it in items if not it.future.done()]  # clients that gave up are dropped
            self.stats.dropped += len(items) - len(alive)
            if not alive:
                continue
            t0 = time.perf_counter()
            try:
                answered, computed, dropped = await loop.run_in_executor(self._executor, self._work, alive, loop)
            finally:
                self.stats.busy_seconds += time.perf_counter() - t0
            s = self.stats
            s.dropped += dropped
            s.requests += answered
            s.texts += computed
            s.batches += 1
            s.max_batch_texts = max(s.max_batch_texts, computed)
            s.batch_sizes[computed] = s.batch_sizes.get(computed, 0) + 1


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
