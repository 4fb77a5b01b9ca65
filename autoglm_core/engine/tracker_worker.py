"""One tracker's calls, queued for its own daemon thread, with per-call deadlines.

Tracking must never cost the run: the run queues a call and goes on, and only the end of the run
waits for the queue (bounded, see :meth:`autoglm_core.engine.tracking_hub.TrackingHub.drain`).
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

# A first call may import the library and create a store (MLflow's sqlite schema); copying the
# exported model may take a while on a slow disk. Everything else is an in-memory buffer or a
# small request.
DEFAULT_TIMEOUTS = {"start_run": 120.0, "log_artifact": 300.0, "end_run": 60.0}
DEFAULT_TIMEOUT = 30.0
MAX_PENDING = 100_000  # queued calls per tracker before it counts as stuck


class TrackerWorker:
    """One tracker's calls, run in order in a daemon thread: the run queues them and goes on, so
    a slow import, store creation or server costs the run nothing until its end (where
    :meth:`TrackingHub.drain` waits, bounded). The first error stops the worker."""

    def __init__(self, name: str, tracker: Any):
        self.name, self.tracker = name, tracker
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=MAX_PENDING)
        self.current: tuple[str, float] | None = None
        self.error: tuple[str, BaseException] | None = None
        self.stopped = False
        self.thread: threading.Thread | None = None

    def submit(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        if self.thread is None:
            self.thread = threading.Thread(target=self._loop, name=f"autoglm-tracker-{self.name}", daemon=True)
            self.thread.start()
        try:
            self.queue.put_nowait((method, args, kwargs))
        except queue.Full:
            return False
        return True

    def _loop(self) -> None:
        while not self.stopped:
            item = self.queue.get()
            if item is None:  # stop()
                self.queue.task_done()
                break
            method, args, kwargs = item
            self.current = (method, time.monotonic())
            try:
                getattr(self.tracker, method)(*args, **kwargs)
            except BaseException as exc:  # reported by the hub, in the run's thread
                self.error = (method, exc)
                self.stopped = True
            finally:
                self.current = None
                self.queue.task_done()

    def idle(self) -> bool:
        return self.stopped or (self.current is None and self.queue.unfinished_tasks == 0)

    def problem(self, explicit_limit: float | None) -> tuple[str, str] | None:
        if self.error is not None:
            method, exc = self.error
            return method, f"{type(exc).__name__}: {str(exc).strip()[:300]}"
        current = self.current
        if current is not None:
            method, t0 = current
            limit = explicit_limit if explicit_limit is not None else DEFAULT_TIMEOUTS.get(method, DEFAULT_TIMEOUT)
            if time.monotonic() - t0 > limit:
                return method, f"no answer within {limit:g}s"
        return None

    def stop(self) -> None:
        self.stopped = True  # a call in flight finishes in its thread; nothing more is sent
        try:
            self.queue.put_nowait(None)
        except queue.Full:
            pass
