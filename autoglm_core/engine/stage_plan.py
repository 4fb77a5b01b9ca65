"""The plan of a run as a list of :class:`~autoglm_core.engine.stage.Stage` objects, and the stages
that come before the candidates (data, baselines, search).

``Pipeline.stages()`` (the printed plan, ``--dry-run``) and ``run_pipeline`` use the same list;
the only stages not known when the run is planned are those of the candidate an Optuna search
picks: the plan shows them for the placeholder candidate ``<search>``, and the search stage
replaces them with the chosen candidate's stages when it finishes.
"""

from __future__ import annotations

import time

from autoglm_core.engine.candidate_stages import candidate_stages
from autoglm_core.engine.closing_stages import ensemble_stage, export_stage, report_stage, select_stage
from autoglm_core.engine.component_calls import call_task_type
from autoglm_core.engine.runner import StageOutput
from autoglm_core.engine.stage import PlannedRun, RunState, Stage
from autoglm_core.plugin.task_type import TaskType
from autoglm_core.types.schemas import CandidateSpec, StageResult, VariantResult

SEARCH_PLACEHOLDER = "<search>"


def plan_stages(pipeline: PlannedRun) -> list[Stage]:
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


def _task_type_class(pipeline: PlannedRun) -> type[TaskType]:
    return pipeline.task.manager.registry("task type").get(pipeline.spec.task_type)


def has_baselines(pipeline: PlannedRun) -> bool:
    return _task_type_class(pipeline).baselines is not TaskType.baselines


def baselines_stage() -> Stage:
    """Reference results of the task type (the majority class): what any model must beat."""

    def run(state: RunState) -> StageOutput:
        return StageOutput(metrics={"variants": [v.model_dump(mode="json") for v in call_task_type(state.ctx, "baselines", state.ctx)]})

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
