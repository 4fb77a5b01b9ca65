"""The ``Tracker`` contract: the base class of experiment trackers (MLflow, TensorBoard, ...).

A tracker is a component registered through ``autoglm_register_trackers`` and enabled per run
(``--track NAME``, ``track: [NAME]`` in the config, or ``AUTOGLM_TRACK=NAME,...``). The run feeds it
through :class:`autoglm_core.engine.tracking_hub.TrackingHub`, which calls it from the tracker's own
thread and disables it (one warning) when it raises or overruns a deadline.

Scopes: ``None`` is the run itself, ``"<candidate>"`` a candidate (training curves), and
``"<candidate>/<variant>"`` a variant of it (zero-shot, fine-tuned, int8, ...). A tracker maps
them to what it has (MLflow: nested runs; TensorBoard: one event folder per candidate);
:func:`iter_scopes` lists the parents it opens before a nested scope.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from autoglm_core.plugin.components import Component


class Tracker(Component):
    """Base class of experiment trackers; every method defaults to doing nothing.

    Called from one thread at a time, in order. Raise on failure: the hub warns once and disables
    the tracker. Buffer per-step metrics when the backend is remote (they come once per optimizer
    step) and send them in :meth:`flush`, which the hub calls after every epoch and stage.
    """

    kind: ClassVar[str] = "tracker"

    def start_run(self, run_dir: Path, name: str, params: dict[str, Any], tags: dict[str, str]) -> None:
        """Open the run (``params``: spec and config, flattened; ``tags``: the manifest)."""

    def log_params(self, params: dict[str, Any], *, scope: str | None = None) -> None:
        """Record parameters of the run or of a scope (values are short strings or numbers)."""

    def log_metrics(self, metrics: dict[str, float], *, step: int | None = None, scope: str | None = None) -> None:
        """Record metric values; ``step`` is the optimizer step or the epoch (None: a final value)."""

    def log_artifact(self, path: Path, *, artifact_path: str | None = None, scope: str | None = None) -> None:
        """Store a file or a folder (report, plots, the exported model)."""

    def set_tags(self, tags: dict[str, str], *, scope: str | None = None) -> None:
        """Label the run or a scope."""

    def flush(self) -> None:
        """Send what is buffered."""

    def end_run(self, status: str = "FINISHED") -> None:
        """Close the run and every scope opened under it (``FINISHED`` or ``FAILED``)."""


def iter_scopes(scope: str | None) -> Iterator[str]:
    """``"a/b"`` -> ``"a"``, ``"a/b"``: the parents a tracker opens before a nested scope."""
    if not scope:
        return
    parts = scope.split("/")
    for i in range(1, len(parts) + 1):
        yield "/".join(parts[:i])
