"""Base classes of the components that plugins register.

A component is a small class with a ``name``, a one-line ``description``, a pydantic ``Options``
model (``extra="forbid"``, so a misspelt option is named) and one main method. The core creates it
with the options from the pipeline config: ``Compressor(options={"per_channel": True})``.

Heavy libraries (torch, transformers) are imported inside methods, never at module import.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from autoglm_core.types.schemas import validate
from autoglm_core.types.task_info import Metric, ParseRule

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from autoglm_core.training.loop import EpochCallback, TrainResult
    from autoglm_core.types.context import RunContext
    from autoglm_core.types.data import DataSplits, Example
    from autoglm_core.types.schemas import (
        CandidateSpec,
        PipelineConfig,
        RunReport,
        TaskSpec,
        TrainConfig,
        VariantResult,
    )

MODEL_META_FILE = "autoglm_model.json"


class Component:
    """Base of every registered component."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    kind: ClassVar[str] = "component"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

    def __init__(self, options: dict[str, Any] | BaseModel | None = None, *, where: str | None = None):
        source = where or f"options of {self.kind} {self.name!r}"
        # Any: each subclass reads the fields of its own Options model, which the base cannot name
        self.options: Any = validate(self.Options, options if options is not None else {}, source=source)


@dataclass
class BuiltModel:
    """A model plus what is needed to run and save it.

    ``format`` says how it is saved and loaded: ``"hf"`` is the Hugging Face layout with
    safetensors; any other value is the name of the compressor whose ``save``/``load`` handle it
    (for example ``"int8"``).
    """

    #: what the model reads: "text" (the tokenizer encodes strings), "pixels" (image arrays),
    #: "text+image"; components ask this instead of the task type's name
    inputs: ClassVar[str] = "text"

    model: Any
    tokenizer: Any
    labels: list[str]
    task_type: str
    candidate: CandidateSpec | None = None
    variant: str = "fine-tuned"
    format: str = "hf"
    meta: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ inference
    def predict_proba(self, texts: Sequence[str], batch_size: int = 32, max_length: int = 128) -> np.ndarray:
        """Class probabilities for a sequence classifier, shape (len(texts), len(labels))."""
        import numpy as np
        import torch

        self.model.eval()
        device = _module_device(self.model)
        out: list[np.ndarray] = []
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                enc = self.tokenizer(
                    list(texts[i : i + batch_size]), padding=True, truncation=True,
                    max_length=max_length, return_tensors="pt",
                )
                enc = {k: v.to(device) for k, v in enc.items()}
                logits = self.model(**enc).logits
                out.append(torch.softmax(logits.float(), dim=-1).cpu().numpy())
        if not out:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return np.concatenate(out, axis=0)

    def predict(self, texts: Sequence[str], batch_size: int = 32, max_length: int = 128) -> list[str]:
        probs = self.predict_proba(texts, batch_size=batch_size, max_length=max_length)
        return [self.labels[i] for i in probs.argmax(axis=1)]

    #: True when :meth:`predict_records` gives the model's own output (spans, ...) instead of one
    #: label and its probabilities per text; ``autoglm predict`` then prints those records
    predicts_records: ClassVar[bool] = False

    def predict_records(self, texts: Sequence[str], batch_size: int = 32, max_length: int = 128) -> list[dict[str, Any]]:
        """One JSON-ready record per text (models whose output is not a single label)."""
        raise NotImplementedError(f"{type(self).__name__} predicts labels: use predict_proba")

    # ------------------------------------------------------------------ persistence
    def metadata(self) -> dict[str, Any]:
        from autoglm_core import __version__

        return {
            "format": self.format,
            "task_type": self.task_type,
            "labels": list(self.labels),
            "variant": self.variant,
            "candidate": self.candidate.model_dump(mode="json") if self.candidate else None,
            "autoglm_version": __version__,
            **({"meta": self.meta} if self.meta else {}),
        }

    def save(self, directory: str | Path) -> Path:
        """Save in the Hugging Face layout with safetensors (``format == "hf"``) plus
        ``autoglm_model.json``. Compressed variants are saved by their compressor."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if self.format == "hf":
            self.model.save_pretrained(directory, safe_serialization=True)
            if self.tokenizer is not None:
                self.tokenizer.save_pretrained(directory)
        else:
            format_handler(self.format).save(self, directory)
        from autoglm_core.io import atomic_write_json
        from autoglm_core.io.checksums import write_checksums

        atomic_write_json(directory / MODEL_META_FILE, self.metadata())
        write_checksums(directory)  # last: loading checks every file against it
        return directory


def format_handler(fmt: str, manager: Any = None) -> Any:
    """The class that saves and loads whole models of format ``fmt``: a registered whole-model
    :class:`ModelFormat`, else the compressor of that name (compressed variants carry it)."""
    from autoglm_core.plugin.manager import get_manager

    manager = manager or get_manager()
    formats = manager.registry("model format")
    if fmt in formats and formats.get(fmt).whole_model:
        return formats.get(fmt)
    return manager.registry("compressor").get(fmt)


def _module_device(model: Any) -> Any:
    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError):
        import torch

        return torch.device("cpu")


def read_model_meta(directory: str | Path) -> dict[str, Any] | None:
    path = Path(directory) / MODEL_META_FILE
    if not path.exists():
        return None
    meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return meta


# --------------------------------------------------------------------------- component kinds


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
            on_epoch: EpochCallback | None = None, desc: str = "train") -> tuple[BuiltModel, TrainResult]:
        """Build ``candidate`` and train it with ``config`` on the shared loop
        (:func:`autoglm_core.training.loop.run_loop`); ``on_epoch`` sees every epoch's validation
        record. Search calls this once per trial: a task type that does not define it cannot be
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
        from autoglm_core.engine.report import per_class_card_section

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


class ZeroShotScorer(Component):
    """Scores texts against label names without training."""

    kind = "zero-shot scorer"

    def predict_proba(self, built: BuiltModel, texts: Sequence[str], labels: Sequence[str], language: str) -> np.ndarray:
        raise NotImplementedError


class Evaluator(Component):
    """Extra evaluation of a built model; the returned numbers are merged into the variant's metrics
    (prefix them with the evaluator's name when they could clash)."""

    kind = "evaluator"

    def evaluate(self, built: BuiltModel, context: RunContext) -> dict[str, float]:
        raise NotImplementedError


@dataclass(frozen=True)
class Benchmark:
    """A folder of lm-eval task YAML files (and their data) that a plugin publishes."""

    name: str
    path: str
    description: str = ""
    tasks: tuple[str, ...] = ()


class Compressor(Component):
    """Turns a fine-tuned model into a smaller/faster variant. ``format`` of the returned model is
    the compressor's name when it needs custom save/load, ``"hf"`` otherwise."""

    kind = "compressor"

    def compress(self, built: BuiltModel, context: RunContext | None) -> BuiltModel:
        raise NotImplementedError

    def needs_training_data(self) -> bool:
        """Whether :meth:`compress` trains (``autoglm compress`` then holds out a test split and
        passes the rest as ``context.splits``)."""
        return False

    @classmethod
    def save(cls, built: BuiltModel, directory: Path) -> None:
        """Save a model whose ``format`` is this compressor's name (the metadata file is written
        by :meth:`BuiltModel.save`). A classmethod, like :meth:`load`: saving and loading need no
        options, only what the model's metadata records."""
        raise NotImplementedError(f"compressor {cls.name!r} does not save custom formats")

    @classmethod
    def load(cls, directory: Path, meta: dict[str, Any]) -> BuiltModel:
        """Load what :meth:`save` wrote, in a fresh process."""
        raise NotImplementedError(f"compressor {cls.name!r} does not load custom formats")


class ModelFormat(Component):
    """How a model's weights are stored on disk. ``load_weights`` receives a freshly built model of
    the right architecture (fp32, from the saved config) and returns it with the saved weights, in
    whatever form the format needs (an INT8 format returns the quantized module)."""

    kind = "model format"
    #: False for formats that are not torch weights (ONNX): ``load_model`` refuses them and
    #: ``Predictor.load`` runs them through :meth:`predictor_backend`
    torch_loadable: ClassVar[bool] = True
    #: True for formats that are no torch architecture at all (TF-IDF linear models, frozen-encoder
    #: heads, ensembles): they save and load the whole model themselves (:meth:`save`, :meth:`load`)
    #: instead of filling an architecture the task type rebuilt
    whole_model: ClassVar[bool] = False

    @classmethod
    def save(cls, built: BuiltModel, directory: Path) -> None:
        """Whole-model formats: write everything :meth:`load` needs (no pickle)."""
        raise NotImplementedError(f"model format {cls.name!r} does not save whole models")

    @classmethod
    def load(cls, directory: Path, meta: dict[str, Any]) -> BuiltModel:
        """Whole-model formats: rebuild the model from what :meth:`save` wrote, in a fresh process."""
        raise NotImplementedError(f"model format {cls.name!r} does not load whole models")

    @classmethod
    def load_weights(cls, model: Any, directory: Path, meta: dict[str, Any]) -> Any:
        raise NotImplementedError(f"model format {cls.name!r} cannot load weights")

    @classmethod
    def predictor_backend(cls, directory: Path, meta: dict[str, Any]) -> Any:
        """A Predictor backend (``predict_proba(texts, batch_size)``) for formats torch cannot
        load; ``None``: the model is loaded with ``load_model`` and run in torch."""
        return None


def load_weights(model: Any, directory: Path, meta: dict[str, Any], manager: Any = None) -> Any:
    """Load the weights saved in ``directory`` into ``model`` with the format ``meta`` names."""
    from autoglm_core.plugin.manager import get_manager
    from autoglm_core.types.errors import ModelLoadError

    fmt = meta.get("format", "hf")
    formats = (manager or get_manager()).registry("model format")
    if fmt not in formats:
        raise ModelLoadError(f"{directory} is saved in format {fmt!r}, which no installed plugin provides "
                             f"(formats: {', '.join(formats.names())}); e.g. install autoglm-plugin-{fmt}.")
    return formats.get(fmt).load_weights(model, Path(directory), meta)


class Attack(Component):
    """An adversarial attack. Returns metrics; ``accuracy_under_attack`` is expected, plus whatever
    else the attack measures (success rate, perturbed words, queries)."""

    kind = "attack"
    #: True when the attack only queries probabilities (applies to non-torch models too)
    black_box: ClassVar[bool] = False

    def attack(self, built: BuiltModel, examples: Sequence[Example], context: RunContext | None) -> dict[str, float]:
        raise NotImplementedError


class Defense(Component):
    """Makes a model more robust (adversarial training, input denoising, ...); returns a new model."""

    kind = "defense"

    def defend(self, built: BuiltModel, context: RunContext) -> BuiltModel:
        raise NotImplementedError

    @staticmethod
    def restore(built: BuiltModel) -> BuiltModel:
        """Re-attach an inference-time defense to a reloaded model (``load_model`` calls it for the
        defenses named in the model's metadata); training-time defenses need nothing."""
        return built


class Decoder(Component):
    """A decoding strategy for autoregressive models."""

    kind = "decoder"

    def decode(self, model: Any, input_ids: Any, attention_mask: Any = None, **kwargs: Any) -> Any:
        """Return the generated token ids (batch, prompt + new tokens)."""
        raise NotImplementedError

    def stream(self, model: Any, input_ids: Any, attention_mask: Any = None, **kwargs: Any) -> Iterator[Any]:
        """Yield new token ids step by step (batch of one)."""
        raise NotImplementedError


class DataLoader(Component):
    """Reads one file format into rows (see :mod:`autoglm_core.types.data`)."""

    kind = "data loader"
    suffixes: ClassVar[tuple[str, ...]] = ()

    def load(self, path: Path, *, text_column: str | None = None, label_column: str | None = None) -> Any:
        raise NotImplementedError
