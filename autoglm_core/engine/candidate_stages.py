"""The stages of one candidate: zero-shot baseline, training, evaluation, compressed and defended
variants, and attacks on each of its models."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from autoglm_core.engine.component_calls import call_component, call_task_type
from autoglm_core.engine.measure import evaluate_variant
from autoglm_core.engine.runner import StageOutput
from autoglm_core.engine.stage import LazyModel, PlannedRun, RunState, Stage, save_atomically, variant_of
from autoglm_core.plugin.components import BuiltModel
from autoglm_core.types.errors import AutoGLMError, NotApplicableError
from autoglm_core.types.schemas import CandidateSpec, ComponentRef, StageResult, VariantResult

log = logging.getLogger(__name__)


def candidate_stages(pipeline: PlannedRun, cand: CandidateSpec, index: int = 0) -> list[Stage]:
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
        vr = call_task_type(state.ctx, "zero_shot", state.ctx, cand)
        if vr is None:
            return StageOutput(status="skipped", notes=["no zero-shot baseline for this candidate", "expected"])
        return StageOutput(metrics={"variant": vr.model_dump(mode="json")})

    def collect(state: RunState, res: StageResult) -> None:
        vr = variant_of(res)
        if vr is not None:
            state.variants.append(vr)

    return Stage(f"{cand.name}/zero_shot", "zero_shot", run, candidate=cand.name, depends=("data",), collect=collect,
                 when=lambda state: may_start(state, cand, index), optional=True)


def _handle(state: RunState, cand: CandidateSpec) -> LazyModel:
    if cand.name not in state.handles:
        state.handles[cand.name] = LazyModel(state.ctx.candidate_dir(cand) / "model", manager=state.ctx.manager)
    return state.handles[cand.name]


def train_stage(pipeline: PlannedRun, cand: CandidateSpec, index: int = 0) -> Stage:
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
            built = call_task_type(state.ctx, "train", state.ctx, cand)
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


def _evaluation_can_follow(pipeline: PlannedRun, state: RunState, cand: CandidateSpec, share: float) -> bool:
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
        handle = _handle(state, cand)
        vr = evaluate_variant(state.ctx, state.task_type, handle.get(), "fine-tuned", handle.directory)
        return StageOutput(metrics={"variant": vr.model_dump(mode="json")})

    def collect(state: RunState, res: StageResult) -> None:
        vr = variant_of(res)
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
        ctx = state.ctx
        component = ctx.manager.registry(kind).get(ref.name)(ref.options, where=f"{kind} {ref.name!r} options")
        src = _handle(state, cand).get()
        check_applicable(src, kind, component)
        member = "compress" if kind == "compressor" else "defend"
        out = call_component(ctx.manager, kind, ref.name, member, getattr(component, member), src, ctx)
        out.variant = ref.name
        out.candidate = out.candidate or src.candidate
        directory = save_atomically(out, vdir(state))
        state.handles[f"{cand.name}/{ref.name}"] = LazyModel(directory, out, manager=ctx.manager)
        vr = evaluate_variant(ctx, state.task_type, out, ref.name, directory)
        vr.notes += [f"{k}: {v}" for k, v in out.meta.items() if k in ("backend", "method", "note")]
        return StageOutput(metrics={"variant": vr.model_dump(mode="json")}, artifacts={"model": ctx.rel(directory)})

    def collect(state: RunState, res: StageResult) -> None:
        vr = variant_of(res)
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
        return StageOutput(metrics=dict(call_component(ctx.manager, "attack", ref.name, "attack", component.attack,
                                                       handle.get(), ctx.splits.test, ctx)))

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
