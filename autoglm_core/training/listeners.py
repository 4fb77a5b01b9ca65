"""Who hears the training loop: the listeners of the run in progress (the tracking hub, the
progress display) get every optimizer step's loss and every epoch's record.

The engine adds its listeners for the duration of a run; the loop calls :func:`train_step` and
:func:`train_epoch` on the main process only. A listener implements ``on_train_step(step, values)``
and/or ``on_train_epoch(epoch, record, epochs)``; a missing method is skipped.
"""

from __future__ import annotations

import threading
from typing import Any

_active: list[Any] = []  # listeners of the run in progress (the hub, the progress display)
_lock = threading.Lock()


def add_listener(listener: Any) -> None:
    with _lock:
        _active.append(listener)


def remove_listener(listener: Any) -> None:
    with _lock:
        if listener in _active:
            _active.remove(listener)


def train_step(step: int, values: dict[str, float]) -> None:
    """Called by the training loop after every optimizer step (main process only)."""
    for listener in list(_active):
        fn = getattr(listener, "on_train_step", None)
        if fn is not None:
            fn(step, values)


def train_epoch(epoch: int, record: dict[str, float], epochs: int | None = None) -> None:
    """Called by the training loop after every epoch with its validation record."""
    for listener in list(_active):
        fn = getattr(listener, "on_train_epoch", None)
        if fn is not None:
            fn(epoch, record, epochs)
