"""Runs a planned :class:`~autoglm_core.engine.task.Pipeline`: its stages, in order (see
:mod:`autoglm_core.engine.stage_plan` for the plan, :mod:`autoglm_core.engine.stage` for how one
stage executes and :mod:`autoglm_core.engine.runner` for the run directory and resume)."""

from __future__ import annotations

from pathlib import Path

from autoglm_core.engine.closing_stages import write_report_files
from autoglm_core.engine.component_calls import call_task_type
from autoglm_core.engine.runner import RunContext, StageRunner, now, prepare_run_dir
from autoglm_core.engine.stage import PlannedRun, RunState
from autoglm_core.engine.stage_plan import plan_stages
from autoglm_core.types.schemas import RunReport


def run_pipeline(pipeline: PlannedRun, *, resume: bool = False, overwrite: bool = False, progress: bool = True) -> RunReport:
    """Run every stage with the run folder locked against other runs for the whole run, and the
    run's listeners (stage progress, experiment trackers) attached."""
    from autoglm_core.engine.run_lock import hold_run_dir
    from autoglm_core.engine.tracking import RunListeners

    with hold_run_dir(pipeline.task.out), RunListeners(pipeline, progress) as listeners:
        report = _run_pipeline(pipeline, resume=resume, overwrite=overwrite, progress=progress,
                               tracker_warnings=listeners.warnings)
        listeners.finish(report)
        late = [w for w in listeners.warnings if w not in report.warnings]
        if late:  # a tracker that failed while its last calls were drained: the report names it too
            report.warnings += late
            write_report_files(report, Path(report.run_dir), pipeline.task.manager.registry("task type").get(
                pipeline.task.spec.task_type)())
        return report


def _run_pipeline(pipeline: PlannedRun, *, resume: bool, overwrite: bool, progress: bool,
                  tracker_warnings: list[str]) -> RunReport:
    task = pipeline.task
    started = now()
    ctx = RunContext(run_dir=Path(task.out), spec=task.spec, config=task.config, manager=task.manager,
                     candidates=list(pipeline.candidates), progress=progress)
    # data first: always re-read (cheap, deterministic), and a data error leaves no run folder behind
    ctx.splits = call_task_type(ctx, "load_data", ctx)
    prepare_run_dir(ctx.run_dir, ctx.spec, ctx.config, resume, overwrite)
    state = RunState(ctx=ctx, task_type=ctx.task_type, runner=StageRunner(ctx, resume), pipeline=pipeline,
                     warnings=list(ctx.spec.warnings) + list(pipeline.notes), started=started,
                     tracker_warnings=tracker_warnings)
    stages = plan_stages(pipeline)
    i = 0
    while i < len(stages):
        stage = stages[i]
        res = stage.execute(state)
        if stage.replan is not None and res is not None:  # search: the chosen candidate's stages
            tail = [s for s in stages[i + 1:] if s.candidate is None]  # drop the placeholder's stages
            stages = stages[: i + 1] + stage.replan(state, res) + tail
        i += 1
    return state.report
