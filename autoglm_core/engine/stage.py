"""One stage of a run and how it executes: :class:`Stage` (key, dependencies, run, collect),
the :class:`RunState` the stages of a run share, and the isolation of optional stages.

The stages themselves are defined in :mod:`~autoglm_core.engine.stage_plan` (the plan, data,
search), :mod:`~autoglm_core.engine.candidate_stages` (per candidate) and
:mod:`~autoglm_core.engine.closing_stages` (ensemble, selection, export, report). Every stage goes
through :class:`~autoglm_core.engine.runner.StageRunner`, which writes ``stages/<key>.json``
atomically and, on resume, returns the saved result without running the stage again; a stage's
``collect`` reads that result into the run state either way.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from autoglm_core.engine.component_calls import ComponentError
from autoglm_core.engine.runner import StageOutput, StageRunner
from autoglm_core.plugin.components import BuiltModel
from autoglm_core.plugin.context import RunContext
from autoglm_core.plugin.task_type import TaskType
from autoglm_core.types.errors import AutoGLMError, NotApplicableError
from autoglm_core.types.schemas import (
    CandidateSpec,
    ComponentRef,
    PipelineConfig,
    StageResult,
    TaskSpec,
    VariantResult,
)

log = logging.getLogger(__name__)


class PlannedRun(Protocol):
    """What the stages read of a planned run (:class:`~autoglm_core.engine.task.Pipeline` is one):
    the stages never import the pipeline, which plans and launches them."""

    task: Any
    candidates: list[CandidateSpec]
    compress: list[ComponentRef]
    notes: list[str]
    probe_seconds: float

    @property
    def spec(self) -> TaskSpec: ...

    @property
    def config(self) -> PipelineConfig: ...


class LazyModel:
    """A saved model that is loaded only when a later stage needs it (resume skips the load)."""

    def __init__(self, directory: Path, built: BuiltModel | None = None, manager: Any = None):
        self.directory = directory
        self.built = built
        self.manager = manager

    def get(self) -> BuiltModel:
        if self.built is None:
            from autoglm_core.models.loading import load_model

            self.built = load_model(self.directory, manager=self.manager)
        return self.built


def save_atomically(built: BuiltModel, directory: Path) -> Path:
    """Save into a sibling temp folder, then swap it in: a killed save never leaves half a model."""
    tmp = directory.with_name(directory.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        built.save(tmp)
    except BaseException:
        # the folder it replaces is still whole; the half-written copy only takes space
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if directory.exists():
        shutil.rmtree(directory)
    tmp.rename(directory)
    return directory


def copy_atomically(src: Path, dst: Path) -> Path:
    tmp = dst.with_name(dst.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(src, tmp)
    if dst.exists():
        shutil.rmtree(dst)
    tmp.rename(dst)
    return dst


@dataclass
class RunState:
    """What the stages of one run share: the context, the runner, and what earlier stages produced."""

    ctx: RunContext
    task_type: TaskType
    runner: StageRunner
    pipeline: PlannedRun
    warnings: list[str] = field(default_factory=list)
    variants: list[VariantResult] = field(default_factory=list)
    #: candidate -> the fine-tuned model's handle
    handles: dict[str, LazyModel] = field(default_factory=dict)
    #: candidate -> (variant name, handle, result) of every model attacks run on
    models: dict[str, list[tuple[str, LazyModel, VariantResult]]] = field(default_factory=dict)
    best: VariantResult | None = None
    reason: str = ""
    exported: str | None = None
    started: str = ""
    report: Any = None
    #: warnings of experiment trackers that failed during the run (filled as they fail)
    tracker_warnings: list[str] = field(default_factory=list)
    #: the run's time limit (``time_limit``), None without one
    budget: Any = None
    #: (handle, result) of every candidate that trained, for the ensemble
    trained: list[tuple[LazyModel, VariantResult]] = field(default_factory=list)
    #: errors of candidates whose training failed (the run goes on without them)
    failures: list[Exception] = field(default_factory=list)


@dataclass
class Stage:
    """One step of a run. ``run`` computes the stage's output (skipped on resume when its result
    is saved); ``collect`` reads the result into the run state; ``when`` (if given) decides at run
    time whether the stage applies (an attack on a variant whose compression failed does not).
    ``optional`` stages (compress, defend, attack) record a failure and let the run go on;
    ``record=False`` stages (the report) leave no ``stages/<key>.json``."""

    key: str
    kind: str
    run: Callable[[RunState], StageOutput]
    candidate: str | None = None
    depends: tuple[str, ...] = ()
    collect: Callable[[RunState, StageResult], None] | None = None
    when: Callable[[RunState], bool] | None = None
    optional: bool = False
    record: bool = True
    #: a stage that re-plans (search) returns the stages that replace the placeholder ones
    replan: Callable[[RunState, StageResult], list[Stage]] | None = None

    def execute(self, state: RunState) -> StageResult | None:
        if self.when is not None and not self.when(state):
            return None
        if not self.record:
            self.run(state)
            return None
        fn = (lambda: _guarded(self, state)) if self.optional else (lambda: self.run(state))
        res = state.runner.run(self.key, self.kind, self.candidate, fn)
        # "expected" marks a skip that is no news (int8 on a TF-IDF model): noted in its stage only
        if self.optional and res.status in ("failed", "skipped") and "expected" not in res.notes:
            state.warnings.append(f"stage {self.key} {res.status}: {'; '.join(res.notes)}")
        if self.collect is not None:
            self.collect(state, res)
        return res


def _guarded(stage: Stage, state: RunState) -> StageOutput:
    """Names and options were validated at plan time, so an AutoGLMError here means the component
    does not apply to this variant (e.g. a gradient attack on an INT8 model): skipped, with the
    component's explanation. Anything else is a broken component: failed, and the run goes on (the
    stage is retried on --resume)."""
    try:
        return stage.run(state)
    except NotApplicableError as exc:
        return StageOutput(status="skipped", notes=[f"not applicable: {exc}", "expected"])
    except ComponentError as exc:  # a plugin's component raised: named, and retried on --resume
        log.warning("stage %s failed: %s", stage.key, exc, exc_info=exc.__cause__)
        return StageOutput(status="failed", notes=[str(exc)])
    except AutoGLMError as exc:
        return StageOutput(status="skipped", notes=[f"not applicable: {exc}"])
    except Exception as exc:
        log.warning("stage %s failed: %s", stage.key, exc, exc_info=True)
        return StageOutput(status="failed", notes=[f"{type(exc).__name__}: {exc}"])


def variant_of(res: StageResult) -> VariantResult | None:
    return VariantResult.model_validate(res.metrics["variant"]) if "variant" in res.metrics else None
