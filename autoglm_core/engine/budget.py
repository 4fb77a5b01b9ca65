"""The run's time limit (``time_limit`` / ``--time-limit SECONDS``): cheap candidates first, each
later one gets a share of what is left.

Cheap candidates (``options["cheap"]``: TF-IDF, frozen-encoder heads) train in seconds and run
first, so a model exists early; one that also sets ``options["budgeted"]`` (its cost grows with
the rows: a frozen encoder embeds each of them) gets ``CHEAP_FRACTION`` of the time left in
``context.time_shares`` and gives up, skipped, when a probe says it would not fit. Every other
candidate gets ``(time left - reserve) / candidates left`` seconds; its training stops by that
share (the fine-tuning loop checks it every step and cuts its step plan after a probe of the first
steps, see :mod:`autoglm_core.training.finetune`), and the rest of its share pays for evaluation.
The first candidate always runs, so a limit below what any candidate needs still returns a model,
with a warning that says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

#: part of each fine-tuning share spent training; evaluation, compression and the ensemble get the rest
TRAIN_FRACTION = 0.6
#: part of the whole limit kept back for the ensemble, selection, export and the report
RESERVE_FRACTION = 0.08
#: part of the time left that a cheap candidate whose cost grows with the data (``options["budgeted"]``:
#: a frozen encoder embeds every row) may spend; the fine-tuned candidates after it need the rest
CHEAP_FRACTION = 0.25


def is_cheap(candidate: Any) -> bool:
    return bool(candidate.options.get("cheap"))


def order_cheap_first(candidates: list[Any]) -> list[Any]:
    return sorted(candidates, key=lambda c: 0 if is_cheap(c) else 1)  # stable: plan order within each group


@dataclass
class TimeBudget:
    limit_s: float
    started: float = field(default_factory=time.perf_counter)
    skipped: list[str] = field(default_factory=list)
    #: seconds spent before the run started that count against the limit (the plan's probes)
    probe_s: float = 0.0

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def left(self) -> float:
        return self.limit_s - self.elapsed()

    def expired(self) -> bool:
        return self.left() <= 0

    def train_share(self, remaining: list[Any]) -> float:
        """Seconds of training for the next expensive candidate, given the candidates still to run."""
        expensive = max(1, sum(not is_cheap(c) for c in remaining))
        usable = self.left() - RESERVE_FRACTION * self.limit_s
        return max(1.0, usable / expensive * TRAIN_FRACTION)

    def cheap_share(self) -> float:
        """Seconds a budgeted cheap candidate may spend (see ``CHEAP_FRACTION``)."""
        return max(1.0, (self.left() - RESERVE_FRACTION * self.limit_s) * CHEAP_FRACTION)

    def may_start(self, index: int) -> bool:
        """The first candidate always starts (a run returns a model); later ones need time left."""
        return index == 0 or self.left() > RESERVE_FRACTION * self.limit_s

    def summary(self) -> dict[str, Any]:
        return {"limit_s": self.limit_s, "elapsed_s": round(self.elapsed(), 1), "skipped": list(self.skipped)}


def train_rows_estimate(pipeline: Any) -> int | None:
    """Training rows the plan expects (split fraction of the data file, or the train file), without
    loading the data twice for real: None when the file cannot be read now."""
    from autoglm_core.data.load import load_file

    ref = pipeline.spec.data
    if ref is None or not (ref.path or ref.train):
        return None
    try:
        rows = len(load_file(ref.path or ref.train, ref, pipeline.task.manager, require_label=False).examples)
    except Exception:  # noqa: BLE001 - only an estimate; the data stage reports real problems
        return None
    if ref.path:
        rows = int(rows * pipeline.config.split.train)
    n = pipeline.config.max_train_rows
    return min(rows, n) if n else rows
