"""The per-run tracking hub: turns the stage hooks and the training loop's per-step / per-epoch
records into calls of the run's trackers (:class:`autoglm_core.plugin.tracker.Tracker`).

Every call goes through :meth:`TrackingHub._call`, which queues it for the tracker's own thread
(:class:`~autoglm_core.engine.tracker_worker.TrackerWorker`); the end of the run waits for the queues
with a deadline. A tracker that raises or misses a deadline gets ONE named warning (log + report
warnings) and is disabled for the rest of the run.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoglm_core.engine.tracker_worker import MAX_PENDING, TrackerWorker
from autoglm_core.plugin.hookspecs import hookimpl
from autoglm_core.plugin.tracker import Tracker

if TYPE_CHECKING:  # pragma: no cover
    from autoglm_core.types.schemas import ComponentRef, RunReport, StageResult

log = logging.getLogger(__name__)

TIMEOUT_ENV = "AUTOGLM_TRACK_TIMEOUT_S"
FINISH_CAP_S = 600.0  # the most the end of a run waits for its trackers


# --------------------------------------------------------------------------- helpers


def flatten(obj: Any, prefix: str = "", out: dict[str, Any] | None = None, limit: int = 500) -> dict[str, Any]:
    """``{"train": {"epochs": 3}}`` -> ``{"train.epochs": 3}``; lists become JSON text, cut to
    ``limit`` characters (trackers cap the length of a parameter value)."""
    out = {} if out is None else out
    if isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, f"{prefix}{k}.", out, limit)
        return out
    key = prefix[:-1]
    if isinstance(obj, bool) or obj is None or isinstance(obj, int | float):
        out[key] = obj if obj is not None else "None"
    else:
        text = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False, default=str)
        out[key] = text if len(text) <= limit else text[: limit - 3] + "..."
    return out


def variant_metrics(variant: dict[str, Any]) -> dict[str, float]:
    """The numbers of a VariantResult (as dict) that a tracker plots."""
    out = {k: float(v) for k, v in (variant.get("metrics") or {}).items() if isinstance(v, int | float)}
    for bs, ms in (variant.get("latency_ms") or {}).items():
        out[f"latency_ms_b{bs}"] = float(ms)
    for key in ("size_mb", "params", "throughput_per_s"):
        if isinstance(variant.get(key), int | float):
            out[key] = float(variant[key])
    for k, v in (variant.get("robustness") or {}).items():
        out[f"robustness.{k.replace(':', '.')}"] = float(v)
    return out


def epoch_metrics(record: dict[str, Any]) -> dict[str, float]:
    """An epoch record of the training loop as metrics (step = epoch). Its mean training loss is
    ``epoch_train_loss``: ``train_loss`` is the per-step series (step = optimizer step)."""
    return {("epoch_train_loss" if k == "train_loss" else k): float(v) for k, v in record.items()
            if k != "epoch" and isinstance(v, int | float)}


def _manifest_tags(run_dir: Path) -> dict[str, str]:
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    tags = {"autoglm.seed": str(manifest.get("seed")), "autoglm.spec_hash": str(manifest.get("spec_hash")),
            "autoglm.config_hash": str(manifest.get("config_hash"))}
    for dist, version in (manifest.get("versions") or {}).items():
        tags[f"autoglm.version.{dist}"] = str(version)
    for i, (path, sha) in enumerate(sorted((manifest.get("data_files") or {}).items())):
        tags[f"autoglm.data.{i}.file"] = str(path)
        tags[f"autoglm.data.{i}.sha256"] = str(sha)
    if "resumed_at" in manifest:
        tags["autoglm.resumed_at"] = str(manifest["resumed_at"])
    return tags


# --------------------------------------------------------------------------- the hub


class TrackingHub:
    """The trackers of one run, fed by the stage hooks and the training loop."""

    def __init__(self, trackers: list[tuple[str, Tracker]], pipeline: Any, timeout_s: float | None = None):
        self.trackers = list(trackers)
        self.workers = {name: TrackerWorker(name, tracker) for name, tracker in self.trackers}
        self.pipeline = pipeline
        self.disabled: set[str] = set()
        self.warnings: list[str] = []
        self.started = False
        # an explicit limit (argument or AUTOGLM_TRACK_TIMEOUT_S) applies to every call
        self.timeout_s = timeout_s if timeout_s is not None else _env_timeout()
        self._stage: tuple[str, str | None] | None = None  # (stage, candidate) running now
        self._streamed: set[str] = set()  # candidates whose epochs came live from the loop
        self._logged_candidates: set[str] = set()
        self._steps_base = 0  # steps of earlier fine-tunes of the same train stage (defenses)

    @classmethod
    def for_pipeline(cls, pipeline: Any, refs: list[ComponentRef]) -> TrackingHub | None:
        """The hub of the trackers ``refs`` name (None when there are none)."""
        if not refs:
            return None
        registry = pipeline.task.manager.registry("tracker")
        trackers = [(ref.name, registry.get(ref.name)(ref.options, where=f"tracker {ref.name!r} options"))
                    for ref in refs]
        return cls(trackers, pipeline)

    # ------------------------------------------------------------------ guarded calls

    def _call(self, method: str, *args: Any, **kwargs: Any) -> None:
        """Queue a call for every live tracker; never waits for it (see :class:`TrackerWorker`)."""
        for name, worker in self.workers.items():
            if name in self.disabled:
                continue
            problem = worker.problem(self.timeout_s)
            if problem is None and not worker.submit(method, args, kwargs):
                problem = (method, f"more than {MAX_PENDING} calls waiting")
            if problem is not None:
                self._disable(name, *problem)

    def drain(self, cap_s: float = FINISH_CAP_S) -> None:
        """Wait until every live tracker has done its queued calls, failed, or overrun a limit."""
        deadline = time.monotonic() + cap_s
        for name, worker in self.workers.items():
            while name not in self.disabled and not worker.idle():
                problem = worker.problem(self.timeout_s)
                if problem is None and time.monotonic() > deadline:
                    problem = ("finish", f"still busy after {cap_s:g}s")
                if problem is not None:
                    self._disable(name, *problem)
                    break
                time.sleep(0.02)
            else:
                problem = worker.problem(self.timeout_s)
                if problem is not None and name not in self.disabled:
                    self._disable(name, *problem)

    def _disable(self, name: str, method: str, why: str) -> None:
        self.disabled.add(name)
        self.workers[name].stop()
        message = (f"tracker {name!r} failed in {method} ({why}); it is disabled for the rest of the run, "
                   f"which goes on without it.")
        log.warning(message)
        self.warnings.append(message)

    @property
    def live(self) -> bool:
        return any(name not in self.disabled for name, _ in self.trackers)

    # ------------------------------------------------------------------ run

    def start(self, run_dir: Path) -> None:
        self.started = True
        task = self.pipeline.task
        params = flatten({"spec": _spec_params(task.spec), "config": task.config.model_dump(mode="json")})
        params["plan.candidates"] = ", ".join(c.name for c in self.pipeline.candidates)
        params["plan.compress"] = ", ".join(r.name for r in self.pipeline.compress) or "none"
        tags = _manifest_tags(run_dir) | {"autoglm.task_type": task.spec.task_type,
                                          "autoglm.run_dir": str(run_dir.resolve())}
        self._call("start_run", run_dir, run_dir.name, params, tags)

    def finish(self, report: RunReport) -> None:
        if not self.started:
            return
        run_dir = Path(report.run_dir)
        for cand in report.candidates:
            self._candidate_params(cand.name, cand.model_dump(mode="json"))
        if report.best is not None:
            self._call("log_metrics", {f"best.{k}": v for k, v in variant_metrics(report.best.model_dump()).items()})
            self._call("set_tags", {"autoglm.best": f"{report.best.candidate}/{report.best.variant}"})
        self._call("log_metrics", {"stage_seconds_total": float(sum(s.duration_s for s in report.stages))})
        for name in ("report.json", "report.md", "report.html", "manifest.json"):
            if (run_dir / name).is_file():
                self._call("log_artifact", run_dir / name)
        for png in sorted(run_dir.glob("*.png")):
            self._call("log_artifact", png, artifact_path="plots")
        if report.exported_model and (run_dir / report.exported_model).is_dir():
            self._call("log_artifact", run_dir / report.exported_model, artifact_path="model")
        self._call("flush")
        self._call("end_run", "FINISHED")
        self.drain()
        for worker in self.workers.values():
            worker.stop()

    def fail(self) -> None:
        if self.started:
            self._call("end_run", "FAILED")
            self.drain(cap_s=30.0)

    def _candidate_params(self, name: str, cand: dict[str, Any]) -> None:
        if name in self._logged_candidates:
            return
        self._logged_candidates.add(name)
        self._call("log_params", flatten({"candidate": cand}), scope=name)

    # ------------------------------------------------------------------ hooks

    @hookimpl
    def autoglm_stage_started(self, run_dir: str, stage: str, candidate: str | None) -> None:
        if not self.started:
            self.start(Path(run_dir))
        self._stage = (stage, candidate)
        self._steps_base = 0
        if candidate is not None:
            cand = next((c for c in self.pipeline.candidates if c.name == candidate), None)
            if cand is not None:
                self._candidate_params(candidate, cand.model_dump(mode="json"))

    @hookimpl
    def autoglm_stage_finished(self, run_dir: str, stage: str, result: StageResult) -> None:
        self._stage = None
        if not self.live:
            return
        m = result.metrics
        self._call("log_metrics", {f"stage_seconds.{result.key.replace('/', '.')}": result.duration_s})
        if stage == "data" and "summary" in m:
            s = m["summary"]
            self._call("log_params", flatten({"data": {k: s.get(k) for k in (
                "files", "rows_used", "rows_skipped", "split_sizes", "language", "label_counts")}}))
        elif isinstance(m.get("variant"), dict):
            v = m["variant"]
            scope = f"{v['candidate']}/{v['variant']}"
            self._call("log_params", {"variant": v["variant"], "backbone": v.get("backbone", ""),
                                      "stage": result.key}, scope=scope)
            self._call("log_metrics", variant_metrics(v), scope=scope)
            self._call("set_tags", {"autoglm.status": result.status}, scope=scope)
        elif stage == "train" and result.candidate:
            self._train_finished(result)
        elif stage == "attack" and result.candidate and result.status == "ok":
            _, _, name, vname = (result.key.split("/") + ["", "", "", ""])[:4]
            nums = {f"attack.{name}.{k}": float(v) for k, v in m.items() if isinstance(v, int | float)}
            self._call("log_metrics", nums, scope=f"{result.candidate}/{vname}")
        elif stage == "search":
            self._search_finished(m)
        elif stage == "select" and isinstance(m.get("best"), dict):
            self._call("set_tags", {"autoglm.selection_reason": str(m.get("reason", ""))[:500]})
        self._call("flush")

    def _train_finished(self, result: StageResult) -> None:
        cand = result.candidate
        m = result.metrics
        if cand not in self._streamed:  # resumed, or trained in other processes: log the history now
            for rec in m.get("history") or []:
                self._call("log_metrics", epoch_metrics(rec), step=int(rec.get("epoch", 0)), scope=cand)
        params = flatten({"train": m.get("train_config") or {}})
        params |= {"best_epoch": m.get("best_epoch"), "stop_reason": m.get("stop_reason") or "-"}
        self._call("log_params", params, scope=cand)
        nums = {k: float(m[k]) for k in ("steps", "train_seconds", "best_epoch") if isinstance(m.get(k), int | float)}
        self._call("log_metrics", nums, scope=cand)

    def _search_finished(self, m: dict[str, Any]) -> None:
        self._call("log_params", flatten({"search": {k: m.get(k) for k in (
            "study_name", "direction", "metric", "budget", "best_trial", "best_params")}}))
        for t in m.get("trials") or []:
            scope = f"search/trial-{t['number']}"
            self._call("log_params", flatten({"trial": t.get("params") or {}}) | {"state": t.get("state")}, scope=scope)
            for epoch, value in (t.get("intermediate") or {}).items():
                self._call("log_metrics", {m.get("metric") or "value": float(value)}, step=int(epoch), scope=scope)
            if isinstance(t.get("value"), int | float):
                self._call("log_metrics", {"value": float(t["value"])}, scope=scope)

    # ------------------------------------------------------------------ training loop

    def _train_scope(self) -> str | None:
        if self._stage is None or self._stage[0] != "train" or not self._stage[1]:
            return None  # search trials are logged from the search stage's result
        return self._stage[1]

    def on_train_step(self, step: int, values: dict[str, float]) -> None:
        scope = self._train_scope()
        if scope is not None and self.live:
            self._call("log_metrics", values, step=self._steps_base + step, scope=scope)

    def on_train_epoch(self, epoch: int, record: dict[str, float], epochs: int | None = None) -> None:
        scope = self._train_scope()
        if scope is None or not self.live:
            return
        self._streamed.add(scope)
        self._call("log_metrics", epoch_metrics(record), step=int(epoch), scope=scope)
        self._call("flush")


def _spec_params(spec: Any) -> dict[str, Any]:
    d = spec.model_dump(mode="json")
    d.pop("evidence", None)  # long; the report keeps it
    d.pop("warnings", None)
    return d


def _env_timeout() -> float | None:
    try:
        return float(os.environ[TIMEOUT_ENV]) if os.environ.get(TIMEOUT_ENV) else None
    except ValueError:
        log.warning("%s=%r is not a number of seconds; using the default limits", TIMEOUT_ENV, os.environ[TIMEOUT_ENV])
        return None
