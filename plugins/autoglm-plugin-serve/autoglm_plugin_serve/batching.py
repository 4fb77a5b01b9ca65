"""Dynamic batching: concurrent requests share one model call.

Requests put their texts on an asyncio queue and await a future. One batcher task takes the first
waiting request, then keeps collecting until the batch holds ``max_batch_size`` texts or
``max_wait_ms`` have passed, and runs the model once in a single worker thread (the event loop keeps
accepting requests meanwhile). A request whose texts would overflow the batch waits for the next one;
a single request larger than ``max_batch_size`` is run alone, in chunks of ``max_batch_size``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Item:
    texts: list[str]
    future: asyncio.Future[Any]


@dataclass
class BatchStats:
    requests: int = 0
    texts: int = 0
    batches: int = 0
    max_batch_texts: int = 0
    batch_sizes: dict[int, int] = field(default_factory=dict)  # texts per batch -> count
    busy_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "texts": self.texts, "batches": self.batches,
            "max_batch_texts": self.max_batch_texts,
            "mean_batch_texts": round(self.texts / self.batches, 3) if self.batches else 0.0,
            "batch_sizes": {str(k): v for k, v in sorted(self.batch_sizes.items())},
            "model_busy_seconds": round(self.busy_seconds, 4),
        }


class Batcher:
    """Collects concurrent requests into batches for ``predict_fn(texts) -> array``."""

    def __init__(self, predict_fn: Callable[[list[str]], Any], *, max_batch_size: int = 32, max_wait_ms: float = 5.0):
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        self.predict_fn = predict_fn
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.stats = BatchStats()
        self._queue: asyncio.Queue[_Item] | None = None
        self._carry: _Item | None = None
        self._task: asyncio.Task[None] | None = None
        # One worker thread: the model is not re-entrant-safe for speed anyway (torch uses all cores per call).
        self._executor: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        self._queue = asyncio.Queue()
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
    def queued(self) -> int:
        return (self._queue.qsize() if self._queue else 0) + (1 if self._carry else 0)

    async def submit(self, texts: Sequence[str]) -> Any:
        """Wait for the probabilities of ``texts`` (rows in order)."""
        if self._queue is None or self._task is None or self._task.done():
            raise RuntimeError("the batcher is not running")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Item(list(texts), fut))
        return await fut

    async def _next(self, timeout: float | None) -> _Item | None:
        assert self._queue is not None
        if self._carry is not None:
            item, self._carry = self._carry, None
            return item
        if timeout is None:
            return await self._queue.get()
        if timeout <= 0:
            try:
                return self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return None
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except asyncio.TimeoutError:
            return None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self._next(None)
            assert first is not None
            items, n = [first], len(first.texts)
            deadline = loop.time() + self.max_wait
            while n < self.max_batch_size:
                item = await self._next(deadline - loop.time())
                if item is None:
                    break
                if n + len(item.texts) > self.max_batch_size:
                    self._carry = item  # keeps its place: first in the next batch
                    break
                items.append(item)
                n += len(item.texts)
            items = [it for it in items if not it.future.done()]  # clients that gave up
            if not items:
                continue
            texts = [t for it in items for t in it.texts]
            t0 = time.perf_counter()
            try:
                probs = await loop.run_in_executor(self._executor, self.predict_fn, texts)
            except Exception as exc:  # one bad batch must not stop the server
                for it in items:
                    if not it.future.done():
                        it.future.set_exception(exc)
                continue
            finally:
                self.stats.busy_seconds += time.perf_counter() - t0
            s = self.stats
            s.requests += len(items)
            s.texts += len(texts)
            s.batches += 1
            s.max_batch_texts = max(s.max_batch_texts, len(texts))
            s.batch_sizes[len(texts)] = s.batch_sizes.get(len(texts), 0) + 1
            start = 0
            for it in items:
                if not it.future.done():
                    it.future.set_result(probs[start : start + len(it.texts)])
                start += len(it.texts)
