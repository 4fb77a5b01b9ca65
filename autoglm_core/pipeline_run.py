"""Runs a planned :class:`~autoglm_core.task.Pipeline` stage by stage (see :mod:`autoglm_core.runner`)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .budget import TimeBudget, is_cheap, order_cheap_first
from .components import BuiltModel
from .errors import AutoGLMError, NotApplicableError
from .io import atomic_write_json, atomic_write_text
from .runner import RunContext, StageOutput, StageRunner, now, package_versions, prepare_run_dir
from .schemas import RunReport, VariantResult
from .selection import select_best

if TYPE_CHECKING:  # pragma: no cover
    from .task import Pipeline

log = logging.getLogger(__name__)

OPTIONAL_STAGES = ("compress", "defend", "attack")


class LazyModel:
    """A saved model that is loaded only when a later stage needs it (resume skips the load)."""

    def __init__(self, directory: Path, built: BuiltModel | None = None, manager: Any = None):
        self.directory = directory
        self.built = built
        self.manager = manager

    def get(self) -> BuiltModel:
        if self.built is None:
            from .model_io import load_model

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


def _variant(result_metrics: dict[str, Any]) -> VariantResult:
    return VariantResult.model_validate(result_metrics["variant"])


def run_pipeline(pipeline: Pipeline, *, resume: bool = False, overwrite: bool = False, progress: bool = True) -> RunReport:
    task = pipeline.task
    spec, config, manager = task.spec, task.config, task.manager
    run_dir = Path(task.out)
    started = now()
    ctx = RunContext(run_dir=run_dir, spec=spec, config=config, manager=manager,
                     candidates=list(pipeline.candidates), progress=progress)
    task_type = manager.registry("task type").get(spec.task_type)()
    # data first: always re-read (cheap, deterministic), and a data error leaves no run folder behind
    ctx.splits = task_type.load_data(ctx)
    prepare_run_dir(run_dir, spec, config, resume, overwrite)
    runner = StageRunner(ctx, resume)
    warnings: list[str] = list(spec.warnings) + list(pipeline.notes)
    summary = ctx.splits.summary
    runner.run("data", "data", None, lambda: StageOutput(metrics={"summary": summary.model_dump(mode="json")},
                                                         notes=list(ctx.splits.notes)))
    warnings += ctx.splits.notes
    from .data.split_record import write_split

    write_split(run_dir, ctx.splits, config.seed, {"max_train_rows": config.max_train_rows})
    if summary.rows_skipped:
        warnings.append(f"{summary.rows_skipped} data row(s) could not be used; see data.skipped in report.json "
                        f"(first: {summary.skipped[0].file}:{summary.skipped[0].line}: {summary.skipped[0].reason}).")

    variants: list[VariantResult] = []
    baselines = getattr(task_type, "baselines", None)
    if callable(baselines):  # e.g. the majority class: what any model must beat
        res = runner.run("baselines", "baselines", None, lambda: StageOutput(
            metrics={"variants": [v.model_dump(mode="json") for v in baselines(ctx)]}))
        variants += [VariantResult.model_validate(v) for v in res.metrics.get("variants", [])]

    candidates = list(pipeline.candidates)
    if config.search is not None:  # issue 7: an Optuna search replaces the planned candidate list
        from .search import search_stage

        candidates = ctx.candidates = search_stage(ctx, task_type, runner, candidates)

    trained: list[tuple[LazyModel, VariantResult]] = []  # fine-tuned candidates, for the ensemble
    budget = TimeBudget(config.time_limit) if config.time_limit else None
    if budget is not None:
        candidates = ctx.candidates = order_cheap_first(candidates)
    failures: list[Exception] = []
    for index, cand in enumerate(candidates):
        cdir = ctx.candidate_dir(cand)
        if budget is not None and not budget.may_start(index):
            budget.skipped.append(cand.name)
            continue
        if config.zero_shot.enabled:
            def zero_shot(cand=cand) -> StageOutput:
                vr = task_type.zero_shot(ctx, cand)
                if vr is None:
                    return StageOutput(status="skipped", notes=["no zero-shot baseline for this candidate", "expected"])
                return StageOutput(metrics={"variant": vr.model_dump(mode="json")})

            res = _optional(runner, f"{cand.name}/zero_shot", "zero_shot", cand.name, zero_shot, warnings)
            if "variant" in res.metrics:
                variants.append(_variant(res.metrics))

        model_dir = cdir / "model"
        handle = LazyModel(model_dir, manager=manager)

        if budget is not None and not is_cheap(cand):
            ctx.time_shares[cand.name] = round(budget.train_share(candidates[index:]), 1)

        def train(cand=cand, model_dir=model_dir, handle=handle) -> StageOutput:
            try:
                built = task_type.train(ctx, cand)
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # one broken candidate must not cost the others
                log.warning("candidate %s failed: %s", cand.name, exc, exc_info=not isinstance(exc, AutoGLMError))
                failures.append(exc)
                return StageOutput(status="failed", notes=[f"{type(exc).__name__}: {exc}"])
            save_atomically(built, model_dir)
            handle.built = built
            meta = {k: v for k, v in built.meta.items()}
            if cand.name in ctx.time_shares:
                meta["time_share_s"] = ctx.time_shares[cand.name]
            return StageOutput(metrics=meta, artifacts={"model": ctx.rel(model_dir)})

        res = runner.run(f"{cand.name}/train", "train", cand.name, train)
        if res.status == "failed":
            warnings.append(f"candidate {cand.name} failed in training ({'; '.join(res.notes)}); the run goes on "
                            f"without it.")
            continue

        def evaluate(variant: str, h: LazyModel) -> StageOutput:
            vr = task_type.evaluate(ctx, h.get(), variant, h.directory)
            return StageOutput(metrics={"variant": vr.model_dump(mode="json")})

        res = runner.run(f"{cand.name}/evaluate", "evaluate", cand.name, lambda h=handle: evaluate("fine-tuned", h))
        base = _variant(res.metrics)
        variants.append(base)
        trained.append((handle, base))
        models: list[tuple[str, LazyModel, VariantResult]] = [("fine-tuned", handle, base)]

        for kind, refs in (("compressor", pipeline.compress), ("defense", config.defend)):
            stage = "compress" if kind == "compressor" else "defend"
            for ref in refs:
                if budget is not None and budget.expired():
                    budget.skipped.append(f"{cand.name}/{stage}/{ref.name}")
                    continue
                vdir = cdir / ref.name
                vhandle = LazyModel(vdir, manager=manager)

                def make_variant(ref=ref, vdir=vdir, vhandle=vhandle, kind=kind, handle=handle) -> StageOutput:
                    component = manager.registry(kind).get(ref.name)(ref.options, where=f"{kind} {ref.name!r} options")
                    src = handle.get()
                    check_applicable(src, kind, component)
                    out = component.compress(src, ctx) if kind == "compressor" else component.defend(src, ctx)
                    out.variant = ref.name
                    out.candidate = out.candidate or src.candidate
                    save_atomically(out, vdir)
                    vhandle.built = out
                    vr = task_type.evaluate(ctx, out, ref.name, vdir)
                    vr.notes += [f"{k}: {v}" for k, v in out.meta.items() if k in ("backend", "method", "note")]
                    return StageOutput(metrics={"variant": vr.model_dump(mode="json")}, artifacts={"model": ctx.rel(vdir)})

                res = _optional(runner, f"{cand.name}/{stage}/{ref.name}", stage, cand.name, make_variant, warnings)
                if "variant" in res.metrics:
                    vr = _variant(res.metrics)
                    variants.append(vr)
                    models.append((ref.name, vhandle, vr))

        for ref in config.attack:
            for vname, vhandle, vr in models:
                if budget is not None and budget.expired():
                    budget.skipped.append(f"{cand.name}/attack/{ref.name}/{vname}")
                    continue

                def attack(ref=ref, vhandle=vhandle) -> StageOutput:
                    component = manager.registry("attack").get(ref.name)(ref.options, where=f"attack {ref.name!r} options")
                    check_applicable(vhandle.get(), "attack", component)
                    return StageOutput(metrics=dict(component.attack(vhandle.get(), ctx.splits.test, ctx)))

                res = _optional(runner, f"{cand.name}/attack/{ref.name}/{vname}", "attack", cand.name, attack, warnings)
                if res.status == "ok":
                    for k, v in res.metrics.items():
                        if isinstance(v, int | float):
                            vr.robustness[f"{ref.name}:{k}"] = float(v)
                    if "accuracy_under_attack" in res.metrics:
                        acc = float(res.metrics["accuracy_under_attack"])
                        vr.robustness["robust_accuracy"] = min(vr.robustness.get("robust_accuracy", acc), acc)

    if not trained and failures:
        first = failures[0]
        raise first if isinstance(first, AutoGLMError) else AutoGLMError(
            f"every candidate failed in training; the first: {type(first).__name__}: {first}")
    if budget is not None:
        if budget.expired():
            done = ", ".join(vr.candidate for _, vr in trained)
            warnings.append(f"time limit {budget.limit_s:g}s reached after {budget.elapsed():.0f}s; returning the best "
                            f"finished candidate (finished: {done}); skipped for lack of time: "
                            f"{', '.join(budget.skipped) or 'nothing'}. A larger --time-limit lets them run.")
        elif budget.skipped:
            warnings.append(f"time limit: skipped {', '.join(budget.skipped)}.")
    combine = getattr(task_type, "ensemble", None)
    if callable(combine) and len(trained) >= 2:
        edir = run_dir / "candidates" / "ensemble" / "model"

        def ensemble() -> StageOutput:
            built = combine(ctx, [(h.get(), vr) for h, vr in trained])
            if built is None:
                return StageOutput(status="skipped", notes=["no validation rows or fewer than two members", "expected"])
            save_atomically(built, edir)
            vr = task_type.evaluate(ctx, built, "ensemble", edir)
            vr.notes.append("weights: " + ", ".join(f"{k} {v:g}" for k, v in built.meta.get("weights", {}).items()))
            return StageOutput(metrics={"variant": vr.model_dump(mode="json"), "weights": built.meta.get("weights", {})},
                               artifacts={"model": ctx.rel(edir)})

        res = _optional(runner, "ensemble", "ensemble", None, ensemble, warnings)
        if "variant" in res.metrics:
            variants.append(_variant(res.metrics))

    best, reason = select_best(variants, spec.objectives)
    runner.run("select", "select", None, lambda: StageOutput(
        metrics={"best": best.model_dump(mode="json") if best else None, "reason": reason}))
    exported = None
    if best is not None and config.export and best.model_dir:
        src = run_dir / best.model_dir
        dst = run_dir / "model"

        def export() -> StageOutput:
            copy_atomically(src, dst)
            from .report import model_card

            atomic_write_text(dst / "README.md", model_card(spec, best, reason))
            return StageOutput(artifacts={"model": "model"})

        runner.run("export", "export", None, export)
        exported = "model"

    warnings += worse_than_baselines(best, variants, spec.objectives.primary_metric)
    report = RunReport(
        run_dir=str(run_dir), spec=spec, config=config, candidates=candidates, data=summary,
        stages=runner.results, variants=variants, best=best, selection_reason=reason, exported_model=exported,
        warnings=warnings, versions=package_versions(), started_at=started, finished_at=now(),
        protocol=protocol_text(runner.results, summary),
    )
    from .leaderboard import leaderboard_rows

    report.leaderboard = leaderboard_rows(report)
    atomic_write_json(run_dir / "effective_config.json", effective_settings(config, runner.results))
    from .report import write_report

    write_report(report, run_dir)
    atomic_write_json(run_dir / "report.json", report.model_dump(mode="json"))
    return report


EFFECTIVE_KEYS = ("train_config", "C", "features", "classifier", "encoder", "protocol", "time_share_s", "probe",
                  "steps", "stop_reason")


def effective_settings(config: Any, stages: list[Any]) -> dict[str, Any]:
    """What each candidate was really trained with (backbone defaults, budget cuts and the time
    limit applied), next to config.json, which records what was asked."""
    per_candidate = {st.candidate: {k: st.metrics[k] for k in EFFECTIVE_KEYS if k in st.metrics}
                     for st in stages if st.stage == "train" and st.status == "ok"}
    return {"seed": config.seed, "time_limit": config.time_limit, "max_train_rows": config.max_train_rows,
            "candidates": per_candidate}


def worse_than_baselines(best: VariantResult | None, variants: list[VariantResult], metric: str) -> list[str]:
    """A selected model that does not beat the zero-shot or majority-class baseline on the test
    split deserves a loud line, not a quiet row in a table."""
    if best is None or metric not in best.metrics:
        return []
    out = []
    for v in variants:
        if v.variant in ("zero-shot", "majority") and v.metrics.get(metric, float("-inf")) >= best.metrics[metric]:
            out.append(f"the selected model ({best.candidate}/{best.variant}, test {metric} {best.metrics[metric]:.4f}) "
                       f"is not better than the {v.variant} baseline ({v.candidate}: {v.metrics[metric]:.4f}); more "
                       f"data, labels that match the description, or a longer --time-limit may help.")
    return out


def protocol_text(stages: list[Any], summary: Any) -> str:
    kinds = sorted({str(st.metrics.get("protocol")) for st in stages if st.stage == "train" and st.metrics.get("protocol")})
    folds = [k for k in kinds if k.endswith("-fold")]
    if folds:
        rows = summary.split_sizes.get("train", 0) + summary.split_sizes.get("validation", 0)
        return (f"small data ({rows} labelled train+validation rows): the TF-IDF and frozen-encoder candidates are "
                f"compared by stratified {folds[0]} cross-validation on train+validation (mean ± spread) and refit on "
                f"all of it; fine-tuned transformers use the holdout validation split; the test split only reports.")
    return "holdout: candidates are compared on the validation split; the test split only reports."


def check_applicable(built: BuiltModel, kind: str, component: Any) -> None:
    """Models that are not torch modules (TF-IDF, frozen-encoder heads, ensembles) say which
    components apply to them; the stage is then skipped with that reason instead of crashing."""
    why = getattr(built, "not_applicable", lambda *a: None)(kind, component)
    if why:
        raise NotApplicableError(why)


def _optional(runner: StageRunner, key: str, stage: str, candidate: str, fn: Any, warnings: list[str]) -> Any:
    """Compress/defend/attack stages: a failing component is recorded and the run goes on (its
    stage is retried on --resume). Names and options were validated at plan time, so an AutoGLMError
    here means the component does not apply to this variant (e.g. a gradient attack on an INT8
    model): the stage is marked skipped with the component's explanation."""

    def guarded() -> StageOutput:
        try:
            return fn()
        except NotApplicableError as exc:  # expected (e.g. int8 on a TF-IDF model): noted, not a warning
            return StageOutput(status="skipped", notes=[f"not applicable: {exc}", "expected"])
        except AutoGLMError as exc:
            return StageOutput(status="skipped", notes=[f"not applicable: {exc}"])
        except Exception as exc:  # a broken optional component must not cost the whole run
            log.warning("stage %s failed: %s", key, exc, exc_info=True)
            return StageOutput(status="failed", notes=[f"{type(exc).__name__}: {exc}"])

    res = runner.run(key, stage, candidate, guarded)
    if res.status == "failed":
        warnings.append(f"stage {key} failed: {'; '.join(res.notes)}")
    elif res.status == "skipped" and "expected" not in res.notes:
        warnings.append(f"stage {key} skipped: {'; '.join(res.notes)}")
    return res
