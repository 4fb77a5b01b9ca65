"""pydantic v2 schemas for every config and report.

All models forbid unknown fields so that a typo in a config file is named instead of ignored.
:func:`validate` turns a pydantic ``ValidationError`` into a :class:`ConfigError` that names the
source (file) and the dotted field path.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from autoglm_core.types.errors import ConfigError
from autoglm_core.types.number_limits import non_finite_fields

M = TypeVar("M", bound=BaseModel)

EMPHASES = ("accuracy", "latency", "size", "robustness")
# Upper bounds of numeric config fields: far above any real use, low enough that a typo (an extra
# zero run, 1e9) fails at plan time instead of after hours or with an out-of-memory crash.
MAX_SEED = 2**32 - 1
MAX_BATCH_SIZE = 4096
MAX_LENGTH = 131_072
MAX_EPOCHS = 10_000


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


def format_validation_error(err: ValidationError, source: str) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "<root>"
        got = e.get("input")
        got_s = ""
        if e["type"] != "missing" and not isinstance(got, dict | list):
            got_s = f" (got {got!r})"
        parts.append(f"field '{loc}': {e['msg']}{got_s}")
    return f"{source}: invalid {err.title}: " + "; ".join(parts) + "."


def validate(model: type[M], data: Any, source: str = "input") -> M:
    """Validate ``data`` as ``model``; errors become a ConfigError naming ``source`` and the field."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source)) from None


# --------------------------------------------------------------------------- task specification


class Evidence(StrictModel):
    """Why a TaskSpec field has its value: the matched text and how sure the parser is."""

    value: Any
    evidence: str = Field(description="the words of the description (or the hint) that decided it")
    confidence: float = Field(ge=0.0, le=1.0)
    source: str = Field("parser", min_length=1, max_length=100,
                        description="who decided: 'parser', 'hint', 'default', 'data', or a parser plugin's name")


class Objectives(StrictModel):
    # any metric the task type declares; checked against it when the run is planned
    primary_metric: str = Field("accuracy", min_length=1)
    emphasis: list[Literal["accuracy", "latency", "size", "robustness"]] = Field(default_factory=list)
    max_latency_ms: float | None = Field(None, gt=0, allow_inf_nan=False, description="per example, batch 1")
    max_size_mb: float | None = Field(None, gt=0, allow_inf_nan=False)
    min_robust_accuracy: float | None = Field(None, ge=0, le=1)
    tolerance: float = Field(
        0.01, ge=0, le=1,
        description="primary-metric points a variant may give up for latency/size when those are emphasised",
    )


class Budget(StrictModel):
    max_candidates: int = Field(8, ge=1, le=1000, description="candidates kept, cheapest first")
    max_epochs: int | None = Field(None, ge=1, le=MAX_EPOCHS)
    time_budget_s: float | None = Field(None, gt=0, allow_inf_nan=False, description="soft limit on training time per candidate")


class DataRef(StrictModel):
    path: str | None = None
    train: str | None = None
    validation: str | None = None
    test: str | None = None
    text_column: str | None = None
    label_column: str | None = None
    format: str | None = Field(None, description="data loader name; inferred from the suffix when absent")
    encoding: str | None = Field(
        None, description="the files' text encoding (utf-8, iso-8859-1, gb18030, ...); None: UTF-8, or ISO-8859-1 "
                          "when no line is UTF-8 (a file mixing both is refused)")
    no_header: bool = Field(False, description="CSV/TSV without a header row: columns are chosen by 0-based index")
    label_map: dict[str, str] | None = Field(
        None, description="rename the data's labels, e.g. {'1': 'positive', '0': 'negative'}; every label in "
                          "the data must be a key (several keys may share a name to merge labels)")

    @field_validator("label_map", mode="before")
    @classmethod
    def _label_map_keys(cls, v: Any) -> Any:
        # YAML reads `1: positive` with an int key; labels in data files are strings
        if isinstance(v, dict):
            return {str(k).strip(): str(val).strip() if val is not None else val for k, val in v.items()}
        return v

    @model_validator(mode="after")
    def _some_file(self) -> DataRef:
        if self.label_map is not None:
            names = list(self.label_map.values())
            if any(not n for n in names):
                raise ValueError("label_map values must be non-empty label names")
        if not self.path and not self.train:
            raise ValueError("give either 'path' (one file, split by seed) or 'train' (+ 'validation'/'test')")
        return self


class TaskSpec(StrictModel):
    task_type: str
    description: str = ""
    language: str = "en"
    labels: list[str] = Field(default_factory=list)
    domain: str | None = None
    data: DataRef | None = None
    metric: str = Field("accuracy", min_length=1)  # checked against the task type's metrics at plan time
    objectives: Objectives = Field(default_factory=Objectives)
    budget: Budget = Field(default_factory=Budget)
    backbones: list[str] = Field(default_factory=list, description="backbones the user asked for")
    evidence: dict[str, Evidence] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)

    @field_validator("labels")
    @classmethod
    def _unique_labels(cls, v: list[str]) -> list[str]:
        v = [str(x).strip() for x in v]
        if any(not x for x in v):
            raise ValueError("labels must be non-empty strings")
        dupes = sorted({x for x in v if v.count(x) > 1})
        if dupes:
            raise ValueError(f"labels repeat {dupes}: each label must appear once")
        return v

    def spec_hash(self) -> str:
        payload = self.model_dump(mode="json", exclude={"evidence", "warnings"})
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


class CandidateSpec(StrictModel):
    name: str = Field(description="short unique id within a run, used in the run directory")
    backbone: str = Field(description="Hugging Face name, local path, or a built-in id such as 'tiny-bert'")
    builder: str = Field("hf", description="which model builder handles it")
    family: str | None = None
    source: str = Field("builtin", description="plugin that proposed it")
    reason: str = ""
    params_estimate: int | None = None
    trust_remote_code: bool = False
    options: dict[str, Any] = Field(default_factory=dict, description="builder options (e.g. tiny config sizes)")
    train_overrides: dict[str, Any] = Field(default_factory=dict, description="TrainConfig fields for this backbone")
    requested: bool = Field(False, description="named by the user (backbones=): planned first, never replaced "
                                               "by another plugin's candidate nor cut by max_candidates")


# --------------------------------------------------------------------------- pipeline config


class ComponentRef(StrictModel):
    """A registered component by name plus its options (validated by the component's Options)."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v


class LoraSettings(StrictModel):
    r: int = Field(8, ge=1, le=4096)
    alpha: int = Field(16, ge=1, le=65536)
    dropout: float = Field(0.1, ge=0, lt=1)
    target_modules: list[str] | None = Field(None, description="None: peft's default for the architecture")


class TrainConfig(StrictModel):
    method: Literal["full", "lora"] = "full"
    epochs: int = Field(8, ge=1, le=MAX_EPOCHS)
    learning_rate: float | None = Field(None, gt=0, le=10, allow_inf_nan=False,
                                        description="None: the backbone's recommended rate")
    batch_size: int = Field(32, ge=1, le=MAX_BATCH_SIZE)
    eval_batch_size: int = Field(64, ge=1, le=MAX_BATCH_SIZE)
    max_length: int = Field(128, ge=8, le=MAX_LENGTH, description="tokens; at most the backbone's positions")
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0, le=10, allow_inf_nan=False)
    patience: int = Field(3, ge=1, le=MAX_EPOCHS, description="epochs without validation improvement before stopping")
    early_stopping_metric: str | None = Field(
        None, description="validation metric for early stopping (loss and perplexity are minimised); None: the "
        "task type's own (macro_f1 for classification, loss for generation, f1 for token classification)",
    )
    max_steps: int | None = Field(None, ge=1, le=10**9, description="hard cap on optimizer steps (tests, smoke runs)")
    time_budget_s: float | None = Field(None, gt=0, allow_inf_nan=False)
    freeze_embeddings: bool | None = Field(
        None, description="keep the input (word) embedding matrix fixed in full fine-tuning: faster steps and less "
        "optimizer memory on large vocabularies (me5-small: 96M of its 118M parameters; an output layer "
        "tied to it stays fixed too). None: the task type decides "
        "(text classification freezes it below 2,000 training rows when the vocabulary has 100k+ entries)",
    )
    lora: LoraSettings = Field(default_factory=LoraSettings)
    num_processes: int = Field(
        1, ge=1, le=1024, description="training processes (DDP through accelerate; CPU: gloo, GPU: NCCL); see docs/distributed.md"
    )
    gradient_accumulation_steps: int = Field(1, ge=1, le=100_000)
    # distributed training: how the processes keep their models in step
    sync_mode: Literal["sync", "accumulate", "local-sgd"] = Field(
        "sync", description="sync: all-reduce gradients every step; accumulate: every sync_every micro-batches "
        "(no_sync in between); local-sgd: average parameters every sync_every steps (accelerate LocalSGD)",
    )
    sync_every: int = Field(4, ge=1, le=100_000, description="K for sync_mode 'accumulate' and 'local-sgd'")
    dist_timeout_s: float = Field(
        1800.0, gt=0, allow_inf_nan=False, description="a collective that waits longer than this fails the run (no hang on a dead worker)"
    )


class ZeroShotConfig(StrictModel):
    enabled: bool = True
    method: str = Field("similarity", description="registered zero-shot scorer")
    options: dict[str, Any] = Field(default_factory=dict)


class EvaluateConfig(StrictModel):
    latency_batch_sizes: list[Annotated[int, Field(ge=1, le=MAX_BATCH_SIZE)]] = Field(
        default_factory=lambda: [1, 32], description="batch sizes timed (each 1..4096)")
    latency_repeats: int = Field(3, ge=1, le=1000)
    latency_examples: int = Field(64, ge=1, le=1_000_000, description="test examples timed per batch size")
    evaluators: list[ComponentRef] = Field(default_factory=list, description="extra registered evaluators")


class SplitConfig(StrictModel):
    train: float = Field(0.8, gt=0, lt=1)
    validation: float = Field(0.1, ge=0, lt=1)
    test: float = Field(0.1, gt=0, lt=1)

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitConfig:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + validation + test must be 1.0, got {total:g}")
        return self


class SearchConfig(StrictModel):
    """Budgeted hyper-parameter and backbone search with Optuna (docs/distributed.md)."""

    trials: int = Field(8, ge=1, le=100_000, description="at most this many trials")
    timeout_s: float | None = Field(None, gt=0, allow_inf_nan=False, description="stop starting new trials after this many seconds")
    storage: str | None = Field(
        None, description="Optuna storage URL; None: sqlite:///<run_dir>/search.db. Any RDB URL (postgresql://...) "
        "lets several machines share one study",
    )
    study_name: str | None = Field(None, description="None: derived from the run's spec hash")
    space: dict[str, list[Any] | dict[str, Any]] = Field(
        default_factory=lambda: {"learning_rate": [1e-5, 5e-4, "log"], "epochs": [2, 8]},
        description="name -> [low, high] or [low, high, 'log'] (a number range), a list of choices (strings, or "
        "more than two values), or {low, high, log, step} / {choices: [...]}. 'backbone' chooses among backbones "
        "(default: the planned candidates); other names are TrainConfig fields",
    )
    pruner: Literal["median", "none"] = "median"
    metric: str | None = Field(
        None, description="validation metric to maximise (loss is minimised); None: train.early_stopping_metric, "
        "else the task type's own"
    )
    sampler_seed: int | None = Field(None, ge=0, le=MAX_SEED, description="None: the pipeline seed")
    workers: int = Field(1, ge=1, le=256, description="search processes on this machine sharing the study "
                         "(the run plus workers-1 `autoglm search-worker` processes)")
    heartbeat_s: float = Field(60, gt=0, le=86_400, allow_inf_nan=False, description="a running trial whose "
                               "worker sent no heartbeat for 2x this long is marked failed and retried")
    backend: str = Field("optuna", min_length=1, description="what runs the trials: 'optuna' (this process plus "
                         "search.workers-1 workers) or a plugin's backend ('ray': pip install ./plugins/autoglm-plugin-ray)")
    backend_options: dict[str, Any] = Field(default_factory=dict, description="options of the search backend "
                                            "(ray: address, num_workers, cpus_per_worker, ...; docs/distributed.md)")


class TransferConfig(StrictModel):
    """Cross-lingual transfer mode of ``autoglm run`` (see autoglm_plugin_transfer/transfer.py and docs/applications.md)."""

    data_root: str = Field(description="folder with one sub-folder per language, each with train.csv, valid.csv "
                                       "(or validation.csv) and test.csv (the NusaX-Senti layout)")
    source: list[str] = Field(default_factory=lambda: ["english"], min_length=1,
                              description="training language(s): folder names or codes (en, id, jv, ...)")
    targets: list[str] | None = Field(None, description="evaluation languages; None = every language found")
    train_on_all: bool = Field(True, description="also train on all languages (source + targets) as the reference")
    max_train_per_language: int | None = Field(None, ge=1, description="cap training rows per language (quick runs)")
    max_test_per_language: int | None = Field(None, ge=1, description="cap test rows per language (quick runs)")
    all_languages_epochs: int | None = Field(None, ge=1, description="epochs of the all-languages setting (it has "
                                                                       "N times the data); None = train.epochs")
    text_column: str | None = None
    label_column: str | None = None


class PipelineConfig(StrictModel):
    seed: int = Field(0, ge=0, le=MAX_SEED, description="0 .. 2**32-1 (what numpy and torch accept)")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    split: SplitConfig = Field(default_factory=SplitConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    zero_shot: ZeroShotConfig = Field(default_factory=ZeroShotConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    compress: list[ComponentRef] | None = Field(
        None, description="compressors to run; None = 'int8' when a plugin provides it, [] = none"
    )
    attack: list[ComponentRef] = Field(default_factory=list)
    defend: list[ComponentRef] = Field(default_factory=list)
    export: bool = True
    time_limit: float | None = Field(
        None, gt=0, description="seconds for the whole run: cheap candidates first, each later one gets a share of "
        "what is left (see docs/automl.md); None = train every candidate to early stopping")
    max_train_rows: int | None = Field(None, ge=1, description="train on a stratified sample of this many rows")
    fine_tuned_folds: int | None = Field(
        None, ge=0, le=10, description="small data (under 2,000 train+validation rows, no time limit): folds of the "
        "cross-validation of each fine-tuned candidate's recipe, which gives the estimate and the selection score; "
        "each fold is one more fine-tuning. 0 or 1: the holdout validation split only. None: 3, or "
        "$AUTOGLM_FINE_TUNED_FOLDS",
    )
    transfer: TransferConfig | None = Field(
        None, description="cross-lingual transfer mode: train on source language(s), evaluate on each target")
    search: SearchConfig | None = Field(
        None, description="budgeted Optuna search; replaces the fixed candidate list when set"
    )
    track: list[ComponentRef] = Field(
        default_factory=list, description="experiment trackers to log to (mlflow, tensorboard); also --track, AUTOGLM_TRACK")

    @model_validator(mode="before")
    @classmethod
    def _finite_numbers(cls, data: Any) -> Any:
        bad = non_finite_fields(data) if isinstance(data, dict) else []
        if bad:
            raise ValueError(f"numbers must be finite and fit in 64 bits: {'; '.join(bad[:5])}")
        return data



# --------------------------------------------------------------------------- results


class StageResult(StrictModel):
    key: str
    stage: str
    candidate: str | None = None
    status: Literal["ok", "skipped", "failed"] = "ok"
    started_at: str
    finished_at: str
    duration_s: float
    metrics: dict[str, Any] = Field(default_factory=dict)
    artifacts: dict[str, str] = Field(default_factory=dict, description="name -> path relative to the run dir")
    notes: list[str] = Field(default_factory=list)


class RowIssue(StrictModel):
    file: str
    line: int
    reason: str


class DataSummary(StrictModel):
    files: list[str]
    rows_read: int
    rows_used: int
    rows_skipped: int
    skipped: list[RowIssue] = Field(default_factory=list, description="first 100 unusable rows")
    label_counts: dict[str, int]
    split_sizes: dict[str, int]
    language: str
    text_column: str | None = None
    label_column: str | None = None
    label_mapping: dict[str, Any] | None = Field(
        None, description="numeric label codes named from the description: the assignment, the zero-shot "
        "agreement of it and of the runner-up, and whether it was applied")


class VariantResult(StrictModel):
    candidate: str
    variant: str = Field(description="'zero-shot', 'fine-tuned', or a compressor/defense name")
    backbone: str
    metrics: dict[str, float] = Field(default_factory=dict)
    per_class: dict[str, dict[str, float]] = Field(default_factory=dict)
    confusion_matrix: list[list[int]] = Field(default_factory=list)
    latency_ms: dict[str, float] = Field(default_factory=dict, description="batch size -> ms per example")
    throughput_per_s: float | None = None
    params: int | None = None
    size_mb: float | None = None
    robustness: dict[str, float] = Field(default_factory=dict)
    model_dir: str | None = None
    meets_objectives: bool = True
    notes: list[str] = Field(default_factory=list)


class RunReport(StrictModel):
    run_dir: str
    spec: TaskSpec
    config: PipelineConfig
    candidates: list[CandidateSpec]
    data: DataSummary | None = None
    stages: list[StageResult] = Field(default_factory=list)
    variants: list[VariantResult] = Field(default_factory=list)
    best: VariantResult | None = None
    selection_reason: str = ""
    exported_model: str | None = None
    warnings: list[str] = Field(default_factory=list)
    leaderboard: list[dict[str, Any]] = Field(
        default_factory=list, description="every candidate, variant, the ensemble and baselines: held-out and test "
        "metric, fit time, latency, size, time budget (classification runs)")
    protocol: str = Field("", description="how candidates were compared (holdout validation, k-fold on small data)")
    versions: dict[str, str] = Field(default_factory=dict)
    started_at: str
    finished_at: str | None = None


SCHEMAS: dict[str, type[BaseModel]] = {
    "TaskSpec": TaskSpec,
    "CandidateSpec": CandidateSpec,
    "PipelineConfig": PipelineConfig,
    "StageResult": StageResult,
    "RunReport": RunReport,
}
