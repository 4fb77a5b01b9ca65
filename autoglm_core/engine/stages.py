"""Stages as data: the plan of a run is a list of :class:`Stage` objects (key, dependencies, run).

``Pipeline.stages()`` (the printed plan, ``--dry-run``) and ``run_pipeline`` use the same list;
the only stages not known when the run is planned are those of the candidate an Optuna search
picks: the plan shows them for the placeholder candidate ``<search>``, and the search stage
replaces them with the chosen candidate's stages when it finishes.

Every stage goes through :class:`~autoglm_core.engine.runner.StageRunner`, which writes
``stages/<key>.json`` atomically and, on resume, returns the saved result without running the
stage again; a stage's ``collect`` reads that result into the run state either way.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoglm_core.engine.runner import StageOutput, StageRunner
from autoglm_core.plugin.components import BuiltModel, TaskType
from autoglm_core.types.context import RunContext
from autoglm_core.types.errors import AutoGLMError
from autoglm_core.types.schemas import CandidateSpec, ComponentRef, StageResult, VariantResult

if TYPE_CHECKING:  # pragma: no cover
    from autoglm_core.engine.task import Pipeline

log = logging.getLogger(__name__)

SEARCH_PLACEHOLDER = "<search>"


class LazyModel:
    """A saved model that is loaded only when a later stage needs it (resume skips the load)."""

    def __init__(self, directory: Path, built: BuiltModel | None = None, manager: Any = None):
        self.directory = directory
        self.built = built
        self.manager = manager

    def get(self) -> BuiltModel:
        if self.built is None:
            from autoglm_core.model_io import load_model

            self.built = load_model(self.directory, manager=self.manager)
        return self.built


def save_atomically(built: BuiltModel, directory: Path) -> Path:
    """Save into a sibling temp folder, then swap it in: a killed save never leaves half a model."""
    tmp = directory.with_name(directory.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    built.save(tmp)
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
    pipeline: Pipeline
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
        if self.optional and res.status in ("failed", "skipped"):
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
    except AutoGLMError as exc:
        return StageOutput(status="skipped", notes=[f"not applicable: {exc}"])
    except Exception as exc:
        log.warning("stage %s failed: %s", stage.key, exc, exc_info=True)
        return StageOutput(status="failed", notes=[f"{type(exc).__name__}: {exc}"])


def _variant(res: StageResult) -> VariantResult | None:
    return VariantResult.model_validate(res.metrics["variant"]) if "variant" in res.metrics else None


# --------------------------------------------------------------------------- the plan


def plan_stages(pipeline: Pipeline) -> list[Stage]:
    config = pipeline.config
    stages = [data_stage()]
    candidates = list(pipeline.candidates)
    if config.search is not None:
        stages.append(search_stage())
        candidates = [CandidateSpec(name=SEARCH_PLACEHOLDER, backbone=SEARCH_PLACEHOLDER)]
    for cand in candidates:
        stages += candidate_stages(pipeline, cand)
    stages += [select_stage(), export_stage(), report_stage()]
    return stages


def data_stage() -> Stage:
    def run(state: RunState) -> StageOutput:
        splits = state.ctx.splits
        return StageOutput(metrics={"summary": splits.summary.model_dump(mode="json")}, notes=list(splits.notes))

    def collect(state: RunState, res: StageResult) -> None:
        splits = state.ctx.splits
        state.warnings += splits.notes
        summary = splits.summary
        if summary.rows_skipped:
            first = summary.skipped[0]
            state.warnings.append(f"{summary.rows_skipped} data row(s) could not be used; see data.skipped in report.json "
                                  f"(first: {first.file}:{first.line}: {first.reason}).")

    return Stage("data", "data", run, collect=collect)


def search_stage() -> Stage:
    """An Optuna search over the planned candidates; the chosen one replaces them."""

    def run(state: RunState) -> StageOutput:
        from autoglm_core.training.search import plot_trials, run_search

        ctx = state.ctx
        chosen, metrics = run_search(ctx, state.task_type, list(state.pipeline.candidates))
        artifacts = {}
        if plot_trials(metrics, ctx.run_dir / "search.png"):
            artifacts["plot"] = "search.png"
        return StageOutput(metrics=metrics, artifacts=artifacts, notes=[chosen.reason])

    def replan(state: RunState, res: StageResult) -> list[Stage]:
        chosen = CandidateSpec.model_validate(res.metrics["candidate"])
        state.ctx.candidates = [chosen]
        return candidate_stages(state.pipeline, chosen)

    return Stage("search", "search", run, depends=("data",), replan=replan)


def candidate_stages(pipeline: Pipeline, cand: CandidateSpec) -> list[Stage]:
    config = pipeline.config
    name = cand.name
    out: list[Stage] = []
    if config.zero_shot.enabled:
        out.append(zero_shot_stage(cand))
    out += [train_stage(cand), evaluate_stage(cand)]
    made = [(ref.name, make_variant_stage(cand, "compressor", ref)) for ref in pipeline.compress]
    made += [(ref.name, make_variant_stage(cand, "defense", ref)) for ref in config.defend]
    out += [stage for _, stage in made]
    # attacks run on every model: the fine-tuned one and each variant that was made
    targets = [("fine-tuned", f"{name}/evaluate")] + [(variant, stage.key) for variant, stage in made]
    for ref in config.attack:
        out += [attack_stage(cand, ref, variant, key) for variant, key in targets]
    return out


def zero_shot_stage(cand: CandidateSpec) -> Stage:
    def run(state: RunState) -> StageOutput:
        vr = state.task_type.zero_shot(state.ctx, cand)
        if vr is None:
            return StageOutput(status="skipped", notes=["task type has no zero-shot baseline"])
        return StageOutput(metrics={"variant": vr.model_dump(mode="json")})

    def collect(state: RunState, res: StageResult) -> None:
        vr = _variant(res)
        if vr is not None:
            state.variants.append(vr)

    return Stage(f"{cand.name}/zero_shot", "zero_shot", run, candidate=cand.name, depends=("data",), collect=collect)


def _handle(state: RunState, cand: CandidateSpec) -> LazyModel:
    if cand.name not in state.handles:
        state.handles[cand.name] = LazyModel(state.ctx.candidate_dir(cand) / "model", manager=state.ctx.manager)
    return state.handles[cand.name]


def train_stage(cand: CandidateSpec) -> Stage:
    def run(state: RunState) -> StageOutput:
        handle = _handle(state, cand)
        built = state.task_type.train(state.ctx, cand)
        save_atomically(built, handle.directory)
        handle.built = built
        return StageOutput(metrics=dict(built.meta), artifacts={"model": state.ctx.rel(handle.directory)})

    return Stage(f"{cand.name}/train", "train", run, candidate=cand.name, depends=("data",))


def evaluate_stage(cand: CandidateSpec) -> Stage:
    def run(state: RunState) -> StageOutput:
        from autoglm_core.engine.measure import evaluate_variant

        handle = _handle(state, cand)
        vr = evaluate_variant(state.ctx, state.task_type, handle.get(), "fine-tuned", handle.directory)
        return StageOutput(metrics={"variant": vr.model_dump(mode="json")})

    def collect(state: RunState, res: StageResult) -> None:
        vr = _variant(res)
        if vr is not None:
            state.variants.append(vr)
            state.models[cand.name] = [("fine-tuned", _handle(state, cand), vr)]

    return Stage(f"{cand.name}/evaluate", "evaluate", run, candidate=cand.name, depends=(f"{cand.name}/train",),
                 collect=collect)


def make_variant_stage(cand: CandidateSpec, kind: str, ref: ComponentRef) -> Stage:
    """A compressed (``kind="compressor"``) or defended (``kind="defense"``) variant of the
    fine-tuned model, saved and evaluated like it."""
    stage = "compress" if kind == "compressor" else "defend"

    def vdir(state: RunState) -> Path:
        return state.ctx.candidate_dir(cand) / ref.name

    def run(state: RunState) -> StageOutput:
        from autoglm_core.engine.measure import evaluate_variant

        ctx = state.ctx
        component = ctx.manager.registry(kind).get(ref.name)(ref.options, where=f"{kind} {ref.name!r} options")
        src = _handle(state, cand).get()
        out = component.compress(src, ctx) if kind == "compressor" else component.defend(src, ctx)
        out.variant = ref.name
        out.candidate = out.candidate or src.candidate
        directory = save_atomically(out, vdir(state))
        state.handles[f"{cand.name}/{ref.name}"] = LazyModel(directory, out, manager=ctx.manager)
        vr = evaluate_variant(ctx, state.task_type, out, ref.name, directory)
        vr.notes += [f"{k}: {v}" for k, v in out.meta.items() if k in ("backend", "method", "note")]
        return StageOutput(metrics={"variant": vr.model_dump(mode="json")}, artifacts={"model": ctx.rel(directory)})

    def collect(state: RunState, res: StageResult) -> None:
        vr = _variant(res)
        if vr is None:
            return
        state.variants.append(vr)
        handle = state.handles.setdefault(f"{cand.name}/{ref.name}", LazyModel(vdir(state), manager=state.ctx.manager))
        state.models.setdefault(cand.name, []).append((ref.name, handle, vr))

    return Stage(f"{cand.name}/{stage}/{ref.name}", stage, run, candidate=cand.name,
                 depends=(f"{cand.name}/evaluate",), collect=collect, optional=True)


def attack_stage(cand: CandidateSpec, ref: ComponentRef, variant: str, depends_on: str) -> Stage:
    def target(state: RunState) -> tuple[LazyModel, VariantResult] | None:
        for name, handle, vr in state.models.get(cand.name, []):
            if name == variant:
                return handle, vr
        return None

    def run(state: RunState) -> StageOutput:
        ctx = state.ctx
        handle, _ = target(state)  # type: ignore[misc]
        component = ctx.manager.registry("attack").get(ref.name)(ref.options, where=f"attack {ref.name!r} options")
        return StageOutput(metrics=dict(component.attack(handle.get(), ctx.splits.test, ctx)))

    def collect(state: RunState, res: StageResult) -> None:
        if res.status != "ok":
            return
        _, vr = target(state)  # type: ignore[misc]
        for k, v in res.metrics.items():
            if isinstance(v, int | float):
                vr.robustness[f"{ref.name}:{k}"] = float(v)
        if "accuracy_under_attack" in res.metrics:
            acc = float(res.metrics["accuracy_under_attack"])
            vr.robustness["robust_accuracy"] = min(vr.robustness.get("robust_accuracy", acc), acc)

    return Stage(f"{cand.name}/attack/{ref.name}/{variant}", "attack", run, candidate=cand.name,
                 depends=(depends_on,), collect=collect, when=lambda state: target(state) is not None, optional=True)


def select_stage() -> Stage:
    def run(state: RunState) -> StageOutput:
        from autoglm_core.engine.selection import select_best

        spec = state.ctx.spec
        direction = state.task_type.higher_is_better(spec.objectives.primary_metric)
        best, reason = select_best(state.variants, spec.objectives, direction)
        return StageOutput(metrics={"best": best.model_dump(mode="json") if best else None, "reason": reason})

    def collect(state: RunState, res: StageResult) -> None:
        from autoglm_core.engine.selection import select_best

        # selection also marks every variant (meets_objectives, notes), so it runs on resume too
        spec = state.ctx.spec
        direction = state.task_type.higher_is_better(spec.objectives.primary_metric)
        state.best, state.reason = select_best(state.variants, spec.objectives, direction)

    return Stage("select", "select", run, collect=collect)


def export_stage() -> Stage:
    def applies(state: RunState) -> bool:
        return state.best is not None and state.ctx.config.export and bool(state.best.model_dir)

    def run(state: RunState) -> StageOutput:
        from autoglm_core.engine.report import model_card
        from autoglm_core.io import atomic_write_text

        run_dir = state.ctx.run_dir
        dst = copy_atomically(run_dir / state.best.model_dir, run_dir / "model")  # type: ignore[union-attr,operator]
        atomic_write_text(dst / "README.md", model_card(state.ctx.spec, state.best, state.reason))  # type: ignore[arg-type]
        from autoglm_core.checksums import write_checksums

        write_checksums(dst)  # the model card too
        return StageOutput(artifacts={"model": "model"})

    def collect(state: RunState, res: StageResult) -> None:
        state.exported = "model"

    return Stage("export", "export", run, depends=("select",), collect=collect, when=applies)


def write_report_files(report: Any, run_dir: Path, task_type: Any) -> None:
    """report.md (with plots), report.json and report.html of a finished run."""
    from autoglm_core.engine.report import write_report
    from autoglm_core.engine.report_html import write_html_report
    from autoglm_core.io import atomic_write_json

    write_report(report, run_dir, type(task_type))
    atomic_write_json(run_dir / "report.json", report.model_dump(mode="json"))
    write_html_report(report, run_dir)


def report_stage() -> Stage:
    """report.json, report.md and the plots; not recorded as a stage (it reads every stage's result)."""

    def run(state: RunState) -> StageOutput:
        from autoglm_core.engine.runner import now, package_versions
        from autoglm_core.types.schemas import RunReport

        ctx = state.ctx
        report = RunReport(
            run_dir=str(ctx.run_dir), spec=ctx.spec, config=ctx.config, candidates=list(ctx.candidates),
            data=ctx.splits.summary if ctx.splits else None, stages=state.runner.results, variants=state.variants,
            best=state.best, selection_reason=state.reason, exported_model=state.exported,
            warnings=state.warnings + list(state.tracker_warnings),
            versions=package_versions(), started_at=state.started, finished_at=now(),
        )
        write_report_files(report, ctx.run_dir, state.task_type)
        state.report = report
        return StageOutput()

    return Stage("report", "report", run, depends=("select",), record=False)
