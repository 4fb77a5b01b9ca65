"""Held-out scores for a task type's ``evaluate``: ``val_<metric>`` on the validation split, the only
numbers selection reads (the test split only reports).

The training loop already scores every epoch on the validation split and keeps the best epoch's
weights, so for the model it returned (the ``fine-tuned`` variant) those scores are reused; any
other variant (compressed, defended, reloaded without its history) is scored afresh."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

#: the variant whose weights are the ones the training loop kept
TRAINED_VARIANT = "fine-tuned"


def kept_epoch_scores(meta: dict[str, Any] | None, names: Sequence[str]) -> dict[str, float] | None:
    """``val_<name>`` of the epoch the loop kept (``best_epoch`` in its history), or None when the
    history lacks that epoch or one of ``names``."""
    meta = meta or {}
    best = meta.get("best_epoch")
    record = next((r for r in meta.get("history") or [] if r.get("epoch") == best), None)
    if record is None or any(f"val_{n}" not in record for n in names):
        return None
    return {f"val_{n}": float(record[f"val_{n}"]) for n in names}


def held_out_scores(built: Any, variant: str, names: Sequence[str], validation: Sequence[Any],
                    score: Callable[[], dict[str, float]], digits: int | None = None) -> dict[str, float]:
    """``val_<name>`` for each of ``names``: the loop's scores of the kept epoch when ``built`` is the
    model training returned, else ``score()`` (the names -> values on ``validation``; a name it leaves
    out has no held-out score). Empty without a validation split."""
    if not validation:
        return {}
    out = kept_epoch_scores(built.meta, names) if variant == TRAINED_VARIANT else None
    if out is None:
        scored = score()
        out = {f"val_{n}": float(scored[n]) for n in names if n in scored}
    return {k: round(v, digits) for k, v in out.items()} if digits is not None else out
