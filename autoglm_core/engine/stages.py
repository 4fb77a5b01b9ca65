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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoglm_core.engine.runner import StageOutput, StageRunner
from autoglm_core.engine.selection import NOT_OFFERED
from autoglm_core.plugin.components import BuiltModel, TaskType
from autoglm_core.types.context import RunContext
from autoglm_core.types.errors import AutoGLMError, NotApplicableError
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
            from autoglm_core.models.loading import load_model

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
    elif config.time_limit:
        from autoglm_core.engine.budget import order_cheap_first

        candidates = order_cheap_first(candidates)  # a model exists early when time runs short
    if has_baselines(pipeline):
        stages.append(baselines_stage())
    for index, cand in enumerate(candidates):
        stages += candidate_stages(pipeline, cand, index)
    if len(candidates) > 1:
        stages.append(ensemble_stage())
    stages += [select_stage(), export_stage(), report_stage()]
    return stages


def _task_type_class(pipeline: Pipeline) -> type[TaskType]:
    return pipeline.task.manager.registry("task type").get(pipeline.spec.task_type)


def has_baselines(pipeline: Pipeline) -> bool:
    return _task_type_class(pipeline).baselines is not TaskType.baselines


def baselines_stage() -> Stage:
    """Reference results of the task type (the majority class): what any model must beat."""

    def run(state: RunState) -> StageOutput:
        return StageOutput(metrics={"variants": [v.model_dump(mode="json") for v in state.task_type.baselines(state.ctx)]})

    def collect(state: RunState, res: StageResult) -> None:
        state.variants += [VariantResult.model_validate(v) for v in res.metrics.get("variants", [])]

    return Stage("baselines", "baselines", run, depends=("data",), collect=collect)


def data_stage() -> Stage:
    def run(state: RunState) -> StageOutput:
        from autoglm_core.data.split_record import write_split

        splits = state.ctx.splits
        write_split(state.ctx.run_dir, splits, state.ctx.config.seed, {"max_train_rows": state.ctx.config.max_train_rows})
        return StageOutput(metrics={"summary": splits.summary.model_dump(mode="json")}, notes=list(splits.notes))

    def collect(state: RunState, res: StageResult) -> None:
        splits = state.ctx.splits
        if state.ctx.config.time_limit:
            from autoglm_core.engine.budget import TimeBudget

            # the plan's probes (building and stepping each fine-tuned model) are part of the run
            probed = state.pipeline.probe_seconds
            state.budget = TimeBudget(state.ctx.config.time_limit, started=time.perf_counter() - probed, probe_s=probed)
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
        from autoglm_core.training.search_run import plot_trials, run_search

        ctx = state.ctx
        chosen, metrics = run_search(ctx, state.task_type, list(state.pipeline.candidates))
        artifacts = {}
        if plot_trials(metrics, ctx.run_dir / "search.png"):
            artifacts["plot"] = "search.png"
        return StageOutput(metrics=metrics, artifacts=artifacts, notes=[chosen.reason])

    def replan(state: RunState, res: StageResult) -> list[Stage]:
        chosen = CandidateSpec.model_validate(res.metrics["candidate"])
        state.ctx.candidates = [chosen]
        return candidate_stages(state.pipeline, chosen, 0)

    return Stage("search", "search", run, depends=("data",), replan=replan)


def candidate_stages(pipeline: Pipeline, cand: CandidateSpec, index: int = 0) -> list[Stage]:
    """``index``: the candidate's place in the (cheap-first) order; the time limit always lets the
    first one run, so a run returns a model."""
    config = pipeline.config
    name = cand.name
    out: list[Stage] = []
    if config.zero_shot.enabled:
        out.append(zero_shot_stage(cand, index))
    out += [train_stage(pipeline, cand, index), evaluate_stage(cand)]
    made = [(ref.name, make_variant_stage(cand, "compressor", ref)) for ref in pipeline.compress]
    made += [(ref.name, make_variant_stage(cand, "defense", ref)) for ref in config.defend]
    out += [stage for _, stage in made]
    # attacks run on every model: the fine-tuned one and each variant that was made
    targets = [("fine-tuned", f"{name}/evaluate")] + [(variant, stage.key) for variant, stage in made]
    for ref in config.attack:
        out += [attack_stage(cand, ref, variant, key) for variant, key in targets]
    return out


def may_start(state: RunState, cand: CandidateSpec, index: int) -> bool:
    """Under a time limit a later candidate starts only while time is left (recorded as skipped)."""
    if state.budget is None or state.budget.may_start(index):
        return True
    if cand.name not in state.budget.skipped:
        state.budget.skipped.append(cand.name)
    return False


def zero_shot_stage(cand: CandidateSpec, index: int = 0) -> Stage:
    def run(state: RunState) -> StageOutput:
        if state.budget is not None and not cand.options.get("cheap"):
            # scoring the test split with a large encoder costs about what its training share buys;
            # under a time limit the majority-class and cheap-family baselines stand in for it
            state.budget.skipped.append(f"{cand.name}/zero_shot")
            return StageOutput(status="skipped", notes=["time limit: the zero-shot baseline of a fine-tuned "
                                                        "candidate is skipped to leave its time to training",
                                                        "expected"])
        vr = state.task_type.zero_shot(state.ctx, cand)
        if vr is None:
            return StageOutput(status="skipped", notes=["no zero-shot baseline for this candidate", "expected"])
        return StageOutput(metrics={"variant": vr.model_dump(mode="json")})

    def collect(state: RunState, res: StageResult) -> None:
        vr = _variant(res)
        if vr is not None:
            state.variants.append(vr)

    return Stage(f"{cand.name}/zero_shot", "zero_shot", run, candidate=cand.name, depends=("data",), collect=collect,
                 when=lambda state: may_start(state, cand, index), optional=True)


def _handle(state: RunState, cand: CandidateSpec) -> LazyModel:
    if cand.name not in state.handles:
        state.handles[cand.name] = LazyModel(state.ctx.candidate_dir(cand) / "model", manager=state.ctx.manager)
    return state.handles[cand.name]


def train_stage(pipeline: Pipeline, cand: CandidateSpec, index: int = 0) -> Stage:
    def applies(state: RunState) -> bool:
        if not may_start(state, cand, index):
            return False
        if state.budget is not None and not cand.options.get("cheap"):
            # a fine-tuned candidate gets a share of the time left (its loop stops by it)
            rest = [c for c in state.ctx.candidates if c.name not in state.handles or c.name == cand.name]
            share = state.budget.train_share(rest)
            if not _evaluation_can_follow(pipeline, state, cand, share):
                return False
            state.ctx.time_shares[cand.name] = round(share, 1)
        elif state.budget is not None and cand.options.get("budgeted"):
            state.ctx.time_shares[cand.name] = round(state.budget.cheap_share(), 1)
        return True

    def run(state: RunState) -> StageOutput:
        handle = _handle(state, cand)
        try:
            built = state.task_type.train(state.ctx, cand)
        except KeyboardInterrupt:
            raise
        except NotApplicableError as exc:  # e.g. a budgeted candidate that measured it would not fit the limit
            if state.budget is not None:
                state.budget.skipped.append(cand.name)
            state.warnings.append(f"candidate {cand.name} skipped: {exc}")
            return StageOutput(status="skipped", notes=[f"not applicable: {exc}"])
        except Exception as exc:  # one broken candidate must not cost the others
            log.warning("candidate %s failed: %s", cand.name, exc, exc_info=not isinstance(exc, AutoGLMError))
            state.failures.append(exc)
            return StageOutput(status="failed", notes=[f"{type(exc).__name__}: {exc}"])
        save_atomically(built, handle.directory)
        handle.built = built
        meta = dict(built.meta)
        if cand.name in state.ctx.time_shares:
            meta["time_share_s"] = state.ctx.time_shares[cand.name]
        return StageOutput(metrics=meta, artifacts={"model": state.ctx.rel(handle.directory)})

    def collect(state: RunState, res: StageResult) -> None:
        if res.status == "failed":
            state.warnings.append(f"candidate {cand.name} failed in training ({'; '.join(res.notes)}); the run goes "
                                  f"on without it.")

    return Stage(f"{cand.name}/train", "train", run, candidate=cand.name, depends=("data",), collect=collect,
                 when=applies)


def _evaluation_can_follow(pipeline: Pipeline, state: RunState, cand: CandidateSpec, share: float) -> bool:
    """Under a time limit, once a model exists, a fine-tuned candidate whose evaluation alone (the
    plan's probe gives the rate) would not fit in what is left after its training share is not
    started: training it would overrun the limit for a model that cannot be scored in time."""
    from autoglm_core.engine.budget import RESERVE_FRACTION
    from autoglm_core.engine.plan_estimate import evaluation_seconds

    budget = state.budget
    if budget is None or not state.trained:
        return True
    needed = evaluation_seconds(pipeline, cand, state.ctx)
    usable = budget.left() - RESERVE_FRACTION * budget.limit_s
    if needed is None or share + needed <= usable:
        return True
    budget.skipped.append(cand.name)
    state.warnings.append(f"time limit: {cand.name} not started: its evaluation alone needs about {needed:.0f} s "
                          f"(probe) and {max(usable, 0):.0f} s are left after the reserve.")
    return False


def _trained(state: RunState, cand: CandidateSpec) -> bool:
    return any(r.key == f"{cand.name}/train" and r.status == "ok" for r in state.runner.results)


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
            state.trained.append((_handle(state, cand), vr))

    return Stage(f"{cand.name}/evaluate", "evaluate", run, candidate=cand.name, depends=(f"{cand.name}/train",),
                 collect=collect, when=lambda state: _trained(state, cand) and _evaluation_fits(state, cand))


def _evaluation_fits(state: RunState, cand: CandidateSpec) -> bool:
    """Once the time limit is spent, a candidate is no longer evaluated if another one already is
    (so a run always returns a model, and does not overrun its limit for one more)."""
    if state.budget is None or not state.budget.expired() or not state.trained:
        return True
    state.budget.skipped.append(f"{cand.name}/evaluate")
    return False


def _time_left(state: RunState, key: str) -> bool:
    """Compressions and attacks wait for time: once the limit is spent they are skipped."""
    if state.budget is not None and state.budget.expired():
        state.budget.skipped.append(key)
        return False
    return True


def check_applicable(built: BuiltModel, kind: str, component: Any) -> None:
    """Models that are not torch modules (TF-IDF, frozen-encoder heads, ensembles) say which
    components apply to them; the stage is then skipped with that reason instead of crashing."""
    why = getattr(built, "not_applicable", lambda *a: None)(kind, component)
    if why:
        raise NotApplicableError(why)


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
        check_applicable(src, kind, component)
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

    key = f"{cand.name}/{stage}/{ref.name}"
    return Stage(key, stage, run, candidate=cand.name, depends=(f"{cand.name}/evaluate",), collect=collect,
                 optional=True, when=lambda state: cand.name in state.models and _time_left(state, key))


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
        check_applicable(handle.get(), "attack", component)
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

    key = f"{cand.name}/attack/{ref.name}/{variant}"
    return Stage(key, "attack", run, candidate=cand.name, depends=(depends_on,), collect=collect,
                 when=lambda state: target(state) is not None and _time_left(state, key), optional=True)


def ensemble_stage() -> Stage:
    """One model combining the trained candidates (the task type's ``ensemble``), evaluated like
    them; planned when there are several candidates. Before it, a run where every candidate failed
    stops, and the time limit's outcome becomes a warning."""

    def before(state: RunState) -> bool:
        if not state.trained and state.failures:
            first = state.failures[0]
            raise first if isinstance(first, AutoGLMError) else AutoGLMError(
                f"every candidate failed in training; the first: {type(first).__name__}: {first}")
        budget_warning(state)
        return len(state.trained) >= 2

    def edir(state: RunState) -> Path:
        return state.ctx.run_dir / "candidates" / "ensemble" / "model"

    def run(state: RunState) -> StageOutput:
        from autoglm_core.engine.measure import evaluate_variant

        ctx = state.ctx
        built = state.task_type.ensemble(ctx, [(h.get(), vr) for h, vr in state.trained])
        if built is None:
            return StageOutput(status="skipped", notes=["no validation rows or fewer than two members", "expected"])
        directory = save_atomically(built, edir(state))
        vr = evaluate_variant(ctx, state.task_type, built, "ensemble", directory)
        vr.notes.append("weights: " + ", ".join(f"{k} {v:g}" for k, v in built.meta.get("weights", {}).items()))
        return StageOutput(metrics={"variant": vr.model_dump(mode="json"), "weights": built.meta.get("weights", {})},
                           artifacts={"model": ctx.rel(directory)})

    def collect(state: RunState, res: StageResult) -> None:
        vr = _variant(res)
        if vr is not None:
            _offer_only_if_better(state, vr)
            state.variants.append(vr)

    return Stage("ensemble", "ensemble", run, collect=collect, when=before, optional=True)


def _offer_only_if_better(state: RunState, vr: VariantResult) -> None:
    """The ensemble competes in selection only when it beats its best member on held-out data: its
    weights are fitted on the validation rows, so a tie there says nothing in its favour, and on small
    data a tied ensemble that carries weak members scored worse on test than its best member alone."""
    metric = state.ctx.spec.objectives.primary_metric
    key = f"val_{metric}"
    mine, members = vr.metrics.get(key), [m.metrics.get(key) for _, m in state.trained]
    known = [m for m in members if m is not None]
    if mine is None or not known:
        return
    higher = state.task_type.metric_info(metric).higher_is_better
    best = max(known) if higher else min(known)
    if (mine > best) if higher else (mine < best):
        return
    vr.notes.append(f"{NOT_OFFERED}: {key} {mine:.4f} does not beat its best member's ({best:.4f})")


def budget_warning(state: RunState) -> None:
    budget = state.budget
    if budget is None or getattr(budget, "warned", False):
        return
    budget.warned = True
    if budget.expired():
        done = ", ".join(vr.candidate for _, vr in state.trained)
        probes = f" (the plan's probes included: {budget.probe_s:.0f}s)" if budget.probe_s >= 1 else ""
        state.warnings.append(f"time limit {budget.limit_s:g}s reached after {budget.elapsed():.0f}s{probes}; returning the best "
                              f"finished candidate (finished: {done}); skipped for lack of time: "
                              f"{', '.join(budget.skipped) or 'nothing'}. A larger --time-limit lets them run.")
    elif budget.skipped:
        probes = f" (the plan's probes took {budget.probe_s:.0f}s of the limit)" if budget.probe_s >= 1 else ""
        state.warnings.append(f"time limit: skipped {', '.join(budget.skipped)}{probes}.")


def select_stage() -> Stage:
    def run(state: RunState) -> StageOutput:
        from autoglm_core.engine.selection import select_best

        if not state.trained and state.failures:  # the ensemble stage checks this when it is planned
            first = state.failures[0]
            raise first if isinstance(first, AutoGLMError) else AutoGLMError(
                f"every candidate failed in training; the first: {type(first).__name__}: {first}")
        budget_warning(state)
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
        best = state.best
        assert best is not None and best.model_dir  # applies() checked it
        tt = state.task_type
        sections = tt.model_card_sections(state.ctx, best, run_dir / best.model_dir)
        atomic_write_text(dst / "README.md", model_card(state.ctx.spec, best, state.reason, sections,
                                                        tt.card_pipeline_tag))
        from autoglm_core.io.checksums import write_checksums

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
        from autoglm_core.io import atomic_write_json
        from autoglm_core.types.schemas import RunReport

        ctx = state.ctx
        report = RunReport(
            run_dir=str(ctx.run_dir), spec=ctx.spec, config=ctx.config, candidates=list(ctx.candidates),
            data=ctx.splits.summary if ctx.splits else None, stages=state.runner.results, variants=state.variants,
            best=state.best, selection_reason=state.reason, exported_model=state.exported,
            warnings=state.warnings + list(state.tracker_warnings),
            versions=package_versions(), started_at=state.started, finished_at=now(),
        )
        from autoglm_core.engine.leaderboard import (
            effective_settings,
            leaderboard_rows,
            protocol_text,
            worse_than_baselines,
        )

        report.warnings += worse_than_baselines(state.best, state.variants, ctx.spec.objectives.primary_metric)
        report.protocol = protocol_text(state.runner.results, report.data)
        report.leaderboard = leaderboard_rows(report)
        atomic_write_json(ctx.run_dir / "effective_config.json", effective_settings(ctx.config, state.runner.results))
        write_report_files(report, ctx.run_dir, state.task_type)
        state.report = report
        return StageOutput()

    return Stage("report", "report", run, depends=("select",), record=False)
