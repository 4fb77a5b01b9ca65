"""The stages after the candidates: the ensemble, selection, export of the selected model and the
report files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoglm_core.engine.component_calls import call_task_type
from autoglm_core.engine.measure import evaluate_variant
from autoglm_core.engine.runner import StageOutput
from autoglm_core.engine.selection import NOT_OFFERED
from autoglm_core.engine.stage import RunState, Stage, copy_atomically, save_atomically, variant_of
from autoglm_core.types.errors import AutoGLMError
from autoglm_core.types.schemas import StageResult, VariantResult


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
        ctx = state.ctx
        built = call_task_type(ctx, "ensemble", ctx, [(h.get(), vr) for h, vr in state.trained])
        if built is None:
            return StageOutput(status="skipped", notes=["no validation rows or fewer than two members", "expected"])
        directory = save_atomically(built, edir(state))
        vr = evaluate_variant(ctx, state.task_type, built, "ensemble", directory)
        vr.notes.append("weights: " + ", ".join(f"{k} {v:g}" for k, v in built.meta.get("weights", {}).items()))
        return StageOutput(metrics={"variant": vr.model_dump(mode="json"), "weights": built.meta.get("weights", {})},
                           artifacts={"model": ctx.rel(directory)})

    def collect(state: RunState, res: StageResult) -> None:
        vr = variant_of(res)
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
        sections = call_task_type(state.ctx, "model_card_sections", state.ctx, best, run_dir / best.model_dir)
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
