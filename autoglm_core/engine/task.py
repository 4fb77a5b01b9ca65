"""The public pipeline: ``AutoTask.create(...) -> task.auto_build() -> pipeline.launch()``."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoglm_core.engine.pipeline_run import run_pipeline
from autoglm_core.engine.selection import held_out_problem
from autoglm_core.engine.stage_plan import plan_stages
from autoglm_core.io.pipeline_config import read_pipeline_config
from autoglm_core.types.errors import ConfigError, UnknownNameError
from autoglm_core.types.schemas import (
    CandidateSpec,
    ComponentRef,
    PipelineConfig,
    RunReport,
    TaskSpec,
    VariantResult,
    validate,
)

log = logging.getLogger(__name__)


def _load_config(config: PipelineConfig | dict[str, Any] | str | os.PathLike[str] | None) -> PipelineConfig:
    if config is None:
        return PipelineConfig()
    if isinstance(config, PipelineConfig):
        return config
    if isinstance(config, dict):
        return validate(PipelineConfig, config, source="pipeline config")
    return read_pipeline_config(config)


@dataclass
class AutoTask:
    """A parsed task: spec + config, not yet planned or run."""

    spec: TaskSpec
    config: PipelineConfig
    out: Path
    manager: Any

    @classmethod
    def create(cls, task_type: str | None = None, dataset: str | os.PathLike[str] | dict[str, Any] | None = None,
               description: str = "", *, config: PipelineConfig | dict[str, Any] | str | None = None,
               out: str | os.PathLike[str] | None = None, manager: Any = None, **hints: Any) -> AutoTask:
        """Parse ``description`` (English or Chinese) with the registered parsers; ``task_type``,
        ``labels=``, ``backbones=``, ``max_latency_ms=`` ... are hints that win over parsing."""
        from autoglm_core.plugin.manager import get_manager

        manager = manager or get_manager()
        if task_type:
            hints["task_type"] = task_type
        if dataset is not None:
            hints["data"] = dataset if isinstance(dataset, dict) else str(dataset)
        if not description and task_type:
            description = task_type.replace("_", " ")  # the task type alone is a valid, if terse, description
        spec = manager.hook.autoglm_parse_task(description=description, hints=hints)
        if spec is None:
            raise ConfigError("no parser could read the description (all parser plugins returned None).")
        spec = validate(TaskSpec, spec, source="parsed task spec")
        task_types = manager.registry("task type")
        if spec.task_type not in task_types:
            task_types.get(spec.task_type)  # raises with did-you-mean and the known task types
        default_out = Path("runs") / spec.task_type
        return cls(spec=spec, config=_load_config(config), out=Path(out) if out else default_out, manager=manager)

    @classmethod
    def from_description(cls, description: str, dataset: Any = None, **kwargs: Any) -> AutoTask:
        """Like :meth:`create`, but the task type is inferred from the description."""
        return cls.create(task_type=None, dataset=dataset, description=description, **kwargs)

    def _language_from_data(self) -> None:
        """The data's language decides the candidates (a Chinese data set gets Chinese-capable ones
        even with an English description; mixed data gets both kinds) unless the language was given
        as a hint or named in the description ("Chinese reviews"): the parser only sees the
        description, whose script says little about the data."""
        spec = self.spec
        ev = spec.evidence.get("language")
        if spec.data is None or (ev is not None and (ev.source == "hint" or ev.confidence >= 0.9)):
            return
        from autoglm_core.data.load import peek_language
        from autoglm_core.types.schemas import Evidence

        found = peek_language(spec.data, self.manager)
        if found is None or found == spec.language:
            return
        what = {"zh": "most data texts contain Chinese characters", "en": "few data texts contain Chinese characters",
                "multi": "the data mixes Chinese and non-Chinese texts",
                "other": "the data's function words are not English (nor Chinese)"}[found]
        evidence = {**spec.evidence, "language": Evidence(value=found, evidence=what, confidence=0.9, source="data")}
        warnings = [*spec.warnings, f"language: the description reads as {spec.language!r} but {what}; using "
                                    f"{found!r} (give --language to override)."]
        self.spec = spec.model_copy(update={"language": found, "evidence": evidence, "warnings": warnings})

    def auto_build(self) -> Pipeline:
        """Plan the run: candidates and stages. Nothing is trained yet; unknown backbones and
        component names fail here, before any work."""
        self._language_from_data()
        spec, manager = self.spec, self.manager
        task_type = manager.registry("task type").get(spec.task_type)
        for metric in dict.fromkeys([spec.metric, spec.objectives.primary_metric]):
            task_type.metric_info(metric)  # a metric the task type does not report fails now
        proposed: list[CandidateSpec] = list(task_type().candidates(spec))
        for group in manager.hook.autoglm_generate_candidates(spec=spec):
            proposed.extend(group or [])
        # the user's backbones= win: first, so de-duplication keeps them and the cut never drops them;
        # then the cheap families (seconds to fit), so max_candidates keeps the cheapest
        proposed.sort(key=lambda c: (not c.requested, not c.options.get("cheap")))
        seen: set[str] = set()
        candidates: list[CandidateSpec] = []
        for cand in proposed:
            if cand.backbone in seen:
                continue
            seen.add(cand.backbone)
            candidates.append(cand)
        if not candidates:
            raise ConfigError(
                f"no candidate model for task type {spec.task_type!r}: install the embedded model "
                f"(pip install 'autoglm-core[embedded]') or name a backbone (--backbone PATH)."
            )
        candidates = candidates[: max(spec.budget.max_candidates, sum(c.requested for c in candidates))]
        config = self.config
        compress = config.compress
        notes: list[str] = []
        task_default = task_type.default_compress
        if compress is None and task_default is not None:  # a task type may pick its own default
            compress = [ComponentRef(name=n) for n in task_default if n in manager.registry("compressor")]
            notes.append(f"compress: {', '.join(task_default) or 'none'} by default for {spec.task_type}")
        if compress is None:
            if "int8" in manager.registry("compressor"):
                compress = [ComponentRef(name="int8")]
            else:
                compress = []
                notes.append("compress: skipped, no 'int8' compressor installed (pip install ./plugins/autoglm-plugin-int8)")
        # validate every component name and its options now
        for kind, refs in (("compressor", compress), ("attack", config.attack), ("defense", config.defend),
                           ("evaluator", config.evaluate.evaluators)):
            registry = manager.registry(kind)
            for i, ref in enumerate(refs):
                registry.get(ref.name)(ref.options, where=f"config {kind} {ref.name!r} (item {i}) options")
        if config.zero_shot.enabled:
            manager.registry("zero-shot scorer").get(config.zero_shot.method)
        from autoglm_core.engine.config_limits import check_max_length
        from autoglm_core.engine.tracking import check_trackers
        from autoglm_core.training.distributed_setup import node_setup

        check_trackers(config, manager)  # an unknown tracker fails now, with "did you mean"

        check_max_length(config, candidates)

        nodes = node_setup()  # a bad multi-node setting fails here, before any work
        if config.train.num_processes > 1 or nodes.multi:  # N larger than the machine can run fails before any work
            from autoglm_core.training.distributed_setup import (
                check_num_processes,
                refuse_single_process,
                resolve_device,
            )

            refuse_single_process(manager.registry("task type").get(spec.task_type), config.train.num_processes,
                                  nodes.nnodes)

            check_num_processes(config.train.num_processes, resolve_device(config.device), config.train.batch_size,
                                nnodes=nodes.nnodes)
        if config.search is not None:  # a bad search space fails at plan time
            from autoglm_core.training.search import check_searchable, check_space, require_optuna

            require_optuna()
            check_searchable(manager.registry("task type").get(spec.task_type))
            check_space(config.search, set(config.train.model_fields_set))
            from autoglm_core.training.search_backends import backend_for

            backend_for(config, manager)  # an unknown backend or a bad backend option fails here
        check_held_out(task_type, len(candidates) * (1 + len(compress) + len(config.defend)),
                       spec.objectives.primary_metric)
        if spec.data is None:
            raise ConfigError("no data given: pass dataset='file.csv' (CLI: --data FILE).")
        from autoglm_core.data.reading import check_file

        for path in (spec.data.path, spec.data.train, spec.data.validation, spec.data.test):
            if path and not Path(path).is_dir():  # folders (image data) are checked by their task type
                check_file(Path(path))  # a missing or empty file fails at plan time, before any work
        return Pipeline(task=self, candidates=candidates, compress=list(compress), notes=notes)


@dataclass
class Pipeline:
    task: AutoTask
    candidates: list[CandidateSpec]
    compress: list[ComponentRef]
    notes: list[str] = field(default_factory=list)
    #: (candidate, batch size, max_length) -> (steps/s, why not): probes timed for the printed plan
    probe_cache: dict[Any, Any] = field(default_factory=dict, repr=False)
    #: seconds those probes took: under a time limit they count as spent (the limit is the run's)
    probe_seconds: float = 0.0

    @property
    def spec(self) -> TaskSpec:
        return self.task.spec

    @property
    def config(self) -> PipelineConfig:
        return self.task.config

    def stage_plan(self) -> list[Any]:
        """The run's :class:`~autoglm_core.engine.stage.Stage` objects, in order: what
        :meth:`launch` runs."""
        return plan_stages(self)

    def stages(self) -> list[str]:
        """The stage keys of the plan (``<search>`` stands for the candidate a search picks)."""
        return [s.key for s in self.stage_plan()]

    def plan(self) -> str:
        s = self.spec
        lines = [
            f"Task: {s.task_type} ({s.language}), labels: {', '.join(s.labels) or '(from the data)'}",
            f"Metric: {s.metric}; emphasis: {', '.join(s.objectives.emphasis) or 'none'}"
            + (f"; max latency {s.objectives.max_latency_ms} ms" if s.objectives.max_latency_ms else "")
            + (f"; max size {s.objectives.max_size_mb} MB" if s.objectives.max_size_mb else "")
            + (f"; min robust accuracy {s.objectives.min_robust_accuracy}" if s.objectives.min_robust_accuracy else ""),
            f"Data: {s.data.path or s.data.train if s.data else '-'}",
            "Candidates:",
            *[f"  - {c.name}: {c.backbone} ({c.reason}){estimate(self, c)}" for c in self.candidates],
            *budget_lines(self),
            "Stages: " + " -> ".join(self.stages()),
            f"Output: {self.task.out}",
            *[f"Note: {n}" for n in self.notes + s.warnings],
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.plan()

    def launch(self, *, resume: bool = False, overwrite: bool = False, progress: bool = True) -> RunReport:
        """Run every stage; returns the RunReport (also written to ``report.json``)."""
        return run_pipeline(self, resume=resume, overwrite=overwrite, progress=progress)


def estimate(pipeline: Pipeline, cand: CandidateSpec) -> str:
    """Steps and estimated seconds of training per candidate (autoglm_core.engine.plan_estimate)."""
    from autoglm_core.engine.plan_estimate import estimate as estimate_candidate

    return estimate_candidate(pipeline, cand)


def budget_lines(pipeline: Pipeline) -> list[str]:
    limit = pipeline.config.time_limit
    if not limit:
        return []
    return [f"Time limit: {limit:g}s for the run: cheap candidates first; each fine-tuned one gets a share of what "
            f"is left, and a probe of its first steps cuts its step plan to fit."]


def best_of(report: RunReport) -> VariantResult:
    if report.best is None:
        raise UnknownNameError("the run selected no model")
    return report.best


def check_held_out(task_type: Any, choices: int, metric: str) -> None:
    """A run that would choose among models fails at plan time when its task type reports no
    held-out metrics, or when ``metric`` is one it only scores on a benchmark: selection never reads
    the test split, built-in task types and plugins' alike."""
    problem = held_out_problem(task_type, choices, metric)
    if problem:
        raise ConfigError(problem)
