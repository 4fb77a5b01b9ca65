"""Progress of a run: one line per stage.

On a terminal a stage's line is written when it starts and rewritten in place when it ends (the
training bar of tqdm appears under it while it trains and is removed when done). When the stream
is not a terminal, or ``CI`` is set, every update is a plain line of its own, with no carriage
returns and no bars, so that a log file stays readable (a bar would add one line per refresh).
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

from autoglm_core.plugin.hookspecs import hookimpl
from autoglm_core.training.terminal import line_mode


class StageProgress:
    """Writes the progress of the run's stages to ``stream`` (standard error by default)."""

    def __init__(self, stream: IO[str] | None = None, lines: bool | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.lines = line_mode(self.stream) if lines is None else lines
        self._t0: dict[str, float] = {}
        self._open: str | None = None  # the stage whose line a terminal shows unfinished

    @classmethod
    def for_run(cls, progress: bool) -> StageProgress | None:
        return cls() if progress else None

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stream must not stop the run
            pass

    @staticmethod
    def _label(stage: str, candidate: str | None) -> str:
        return f"{candidate}/{stage}" if candidate else stage

    @hookimpl
    def autoglm_stage_started(self, run_dir: str, stage: str, candidate: str | None) -> None:
        label = self._label(stage, candidate)
        self._t0[label] = time.perf_counter()
        if self.lines:
            self._write(f"[autoglm] {label}: started\n")
        else:
            self._open = label
            self._write(f"\r\x1b[2K  ... {label}")

    @hookimpl
    def autoglm_stage_finished(self, run_dir: str, stage: str, result: Any) -> None:
        label = result.key
        mark = {"ok": "ok", "skipped": "skipped", "failed": "FAILED"}.get(result.status, result.status)
        summary = _summary(result)
        if self.lines:
            self._write(f"[autoglm] {label}: {mark} in {result.duration_s:.1f}s{summary}\n")
        else:
            sign = {"ok": "\u2713", "skipped": "-", "failed": "\u2717"}.get(result.status, "?")
            self._write(f"\r\x1b[2K  {sign} {label:<40} {result.duration_s:7.1f}s{summary}\n")
            self._open = None

    def on_train_epoch(self, epoch: int, record: dict[str, float], epochs: int | None = None) -> None:
        if not self.lines:
            return  # the tqdm bar shows it on a terminal
        of = f"/{epochs}" if epochs else ""
        nums = " ".join(f"{k} {v:.4f}" for k, v in record.items() if k != "epoch" and isinstance(v, int | float))
        self._write(f"[autoglm]   epoch {epoch}{of}: {nums}\n")


def _summary(result: Any) -> str:
    v = result.metrics.get("variant") if isinstance(result.metrics, dict) else None
    if isinstance(v, dict):
        m = v.get("metrics") or {}
        parts = [f"{k} {m[k]:.4f}" for k in ("accuracy", "macro_f1") if isinstance(m.get(k), int | float)]
        if (v.get("latency_ms") or {}).get("1") is not None:
            parts.append(f"{v['latency_ms']['1']:.2f} ms/ex")
        return "  " + ", ".join(parts) if parts else ""
    if result.status != "ok" and result.notes:
        return "  " + "; ".join(result.notes)[:160]
    return ""
