"""The task type component: how one task type loads data, trains, evaluates and reports, and the
defaults every task type inherits (classification's where a default needs one)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from autoglm_core.plugin.components import BuiltModel, Component
from autoglm_core.types.task_info import Metric, ParseRule

if TYPE_CHECKING:  # pragma: no cover
    from autoglm_core.plugin.context import RunContext
    from autoglm_core.types.data import DataSplits
    from autoglm_core.types.schemas import (
        CandidateSpec,
        PipelineConfig,
        RunReport,
        TaskSpec,
        TrainConfig,
        VariantResult,
    )

#: the task type of a plain Hugging Face directory without ``autoglm_model.json``
PLAIN_HF_TASK_TYPE = "text_classification"


def per_class_card_section(spec: TaskSpec, best: VariantResult, column: str = "label") -> list[str]:
    """The labels and a precision/recall/F1/support row per class: the classification card."""
    rows = "\n".join(
        f"| {lab} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {int(m['support'])} |"
        for lab, m in best.per_class.items()
    )
    labels = ", ".join(best.per_class) or ", ".join(spec.labels)
    return [f"Labels: {labels}\n\n| {column} | precision | recall | F1 | support |\n|---|---|---|---|---|\n{rows}\n"]


class TaskType(Component):
    """How one task type (``text_classification``, ...) loads data, scores zero-shot, trains and
    evaluates, and what the core needs to know about it: its metrics, the description rules that
    recognise it, its candidates and builder, how its saved models load, its report sections.
    The runner calls ``load_data``, ``zero_shot``, ``train`` and ``evaluate`` for every candidate;
    everything else has a "not supported" default here, so the core never has to ask by name."""

    kind = "task type"
    #: the validation metric the shared loop early-stops on (and search optimises) unless the
    #: config names another; loss and perplexity are minimised, the others maximised
    train_metric: ClassVar[str] = "loss"

    #: metrics the task reports; the first is the default primary metric
    metrics: ClassVar[tuple[Metric, ...]] = ()
    #: description rules that recognise the task type (gathered by the built-in parser)
    parse_rules: ClassVar[tuple[ParseRule, ...]] = ()
    #: a few example descriptions (English and Chinese): when no rule matches or rules of several
    #: task types match, the parser's multilingual encoder picks the task type of the nearest one
    parse_prototypes: ClassVar[tuple[str, ...]] = ()
    #: the task type assumed when no rule of any task type matches a description
    parse_fallback: ClassVar[bool] = False
    #: False for tasks without classes (generation): the parser reads no labels for them
    has_labels: ClassVar[bool] = True
    #: compressors run by default (``None``: the core's default, int8 when installed)
    default_compress: ClassVar[tuple[str, ...] | None] = None
    #: False when the task can run without a training split (zero-shot only tasks)
    needs_training_data: ClassVar[bool] = True
    #: True when saved models map texts to label probabilities (``Predictor``, ``autoglm predict``)
    text_predictor: ClassVar[bool] = False
    #: True when ``evaluate`` reports ``val_<metric>`` for the primary metric, scored on held-out rows
    #: (the validation split, or a cross-validation mean): selection reads only those numbers, never
    #: the test split, so a plan with a choice of models needs it (a clear error at plan time otherwise)
    reports_held_out: ClassVar[bool] = False
    #: declared metrics that ``evaluate`` never scores on the run's splits because they come from a
    #: benchmark (e.g. HumanEval's pass@1): they have no held-out value, so a run choosing among
    #: models cannot take one as its primary metric (an error at plan time)
    benchmark_metrics: ClassVar[tuple[str, ...]] = ()
    #: why ``train.num_processes > 1`` (or several machines) cannot work for this task type, said at
    #: plan time; None when its training goes through a recipe the torchrun workers rebuild
    #: (autoglm_core.training.recipe)
    single_process_reason: ClassVar[str | None] = (
        "its training does not go through a training recipe that the worker processes can rebuild")

    # ------------------------------------------------------------------ declarations the core reads
    @classmethod
    def metric_names(cls) -> list[str]:
        return [m.name for m in cls.metrics]

    @classmethod
    def default_metric(cls) -> str:
        return cls.metrics[0].name if cls.metrics else "accuracy"

    @classmethod
    def metric_info(cls, name: str) -> Metric:
        """The declared metric ``name``; an unknown one is a ConfigError naming the task's metrics."""
        for m in cls.metrics:
            if m.name == name:
                return m
        from autoglm_core.types.errors import ConfigError, did_you_mean

        known = cls.metric_names()
        raise ConfigError(f"metric {name!r} is not a metric of task type {cls.name!r}.{did_you_mean(name, known)} "
                          f"Its metrics: {', '.join(known) or '(none declared)'}.")

    @classmethod
    def higher_is_better(cls, name: str) -> bool:
        """Direction of a metric; undeclared ones (from extra evaluators) count as higher-is-better."""
        return next((m.higher_is_better for m in cls.metrics if m.name == name), True)

    # ------------------------------------------------------------------ planning
    def candidates(self, spec: TaskSpec) -> list[CandidateSpec]:
        """The task's own candidate backbones, best first (other plugins add theirs through
        ``autoglm_generate_candidates``)."""
        return []

    def build(self, candidate: CandidateSpec, context: RunContext) -> BuiltModel | None:
        """Build the model for one of the task's own candidates; ``None`` when this task type has
        no builder for ``candidate.builder`` (plugins' ``autoglm_build_model`` are asked first)."""
        return None

    def parse_evidence(self, text: str, matched: str) -> dict[str, Any]:
        """Extra fields the task reads from a description it was recognised in (``matched`` is the
        rule's match): ``{field: Evidence}``."""
        return {}

    def accept_parsed_labels(self, labels: list[str]) -> bool:
        """Whether labels the parser found in the description are the task's classes."""
        return True

    # ------------------------------------------------------------------ the stages
    def load_data(self, context: RunContext) -> DataSplits:
        raise NotImplementedError

    def zero_shot(self, context: RunContext, candidate: CandidateSpec) -> VariantResult | None:
        """Score the test split without training; ``None`` when the task has no zero-shot baseline."""
        return None

    def train(self, context: RunContext, candidate: CandidateSpec) -> BuiltModel:
        raise NotImplementedError

    def fit(self, context: RunContext, candidate: CandidateSpec, config: TrainConfig, *,
            on_epoch: Callable[[int, dict[str, float]], None] | None = None,
            desc: str = "train") -> tuple[BuiltModel, Any]:
        """Build ``candidate`` and train it with ``config`` on the shared loop
        (:func:`autoglm_core.training.loop.run_loop`); returns the model and the loop's
        ``TrainResult`` (typed ``Any`` here: the training layer sits above this one). ``on_epoch``
        sees every epoch's validation record. Search calls this once per trial: a task type that does not define it cannot be
        searched, and a ``search:`` config for it is refused when the run is planned."""
        raise NotImplementedError(f"task type {self.name!r} does not train through fit()")

    @classmethod
    def searchable(cls) -> bool:
        return cls.fit is not TaskType.fit

    @classmethod
    def plan_note(cls, config: PipelineConfig, candidate: CandidateSpec, train_rows: int) -> str:
        """A few words the printed plan adds to a fine-tuned candidate's time estimate for work the
        task type does beyond training it once (e.g. cross-validating its recipe on small data);
        empty when there is none."""
        return ""

    def evaluate(self, context: RunContext, built: BuiltModel, variant: str, model_dir: Path | None = None) -> VariantResult:
        """Task metrics on the test split. Latency, size, parameter count and extra evaluators are
        added by the evaluate stage for every task type (:func:`task_agnostic_measurements`)."""
        raise NotImplementedError

    def latency_inputs(self, context: RunContext, built: BuiltModel) -> list[Any] | None:
        """Inputs to time ``built.predict`` on (``None``: latency is not measured for this task)."""
        return None

    def extra_metrics(self, built: BuiltModel, outputs: list[Any], inputs: list[Any]) -> dict[str, float]:
        """Task-specific numbers beyond the declared metrics (none by default)."""
        return {}

    def baselines(self, context: RunContext) -> list[VariantResult]:
        """Reference results any model must beat (e.g. the majority class), scored on the test
        split; none by default."""
        return []

    def ensemble(self, context: RunContext, members: list[tuple[BuiltModel, VariantResult]]) -> BuiltModel | None:
        """One model combining the trained candidates (``None``: this task type does not ensemble)."""
        return None

    # ------------------------------------------------------------------ reporting and reloading
    def report_sections(self, report: RunReport, run_dir: Path) -> list[str]:
        """Markdown sections of ``report.md`` specific to this task (none by default)."""
        return []

    #: the Hugging Face ``pipeline_tag`` of the exported model's card
    card_pipeline_tag: ClassVar[str] = "text-classification"

    def model_card_sections(self, context: RunContext, best: VariantResult, model_dir: Path) -> list[str]:
        """The task-specific part of the exported model's card (README.md), markdown blocks after the
        test scores; ``model_dir`` is the selected variant's saved folder. Default: the labels and a
        per-class precision/recall/F1 table (classification)."""
        return per_class_card_section(context.spec, best)

    @classmethod
    def load_model(cls, directory: Path, meta: dict[str, Any], *, allow_pickle: bool = False,
                   trust_remote_code: bool = False) -> BuiltModel:
        """Reload a saved model of this task type (resume, predict, compress and attack use it)."""
        from autoglm_core.types.errors import NotApplicableError

        raise NotApplicableError(f"task type {cls.name!r} cannot reload saved models.")

    @classmethod
    def can_load_models(cls) -> bool:
        return cls.load_model.__func__ is not TaskType.load_model.__func__  # type: ignore[attr-defined]
