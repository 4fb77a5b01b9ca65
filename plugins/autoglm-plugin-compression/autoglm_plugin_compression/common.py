"""Shared pieces of the compressors: input checks, where training data comes from, and the
fine-tuning settings (the run's train config when there is a run, the options otherwise)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from autoglm_core import BuiltModel, ConfigError, RunContext


class TrainingOptions(BaseModel):
    """Options of compressors that (may) train. ``None`` means: the run's train config, or the default."""

    model_config = ConfigDict(extra="forbid")
    data: str | None = Field(None, description="labelled data file used for training when there is no run "
                                               "context (split 80/10/10 by seed; training uses train+validation)")
    epochs: int | None = Field(None, ge=1)
    learning_rate: float | None = Field(None, gt=0)
    batch_size: int | None = Field(None, ge=1)
    max_length: int | None = Field(None, ge=8)
    max_steps: int | None = Field(None, ge=1, description="hard cap on optimizer steps (tests, smoke runs)")
    seed: int = 0


def check_classifier(built: BuiltModel, who: str) -> None:
    if built.format != "hf":
        raise ConfigError(
            f"compressor {who!r} needs an fp32 Hugging Face model, but this one is a {built.format!r} variant "
            f"({built.variant}); apply {who!r} before {built.format!r}."
        )
    model = built.model
    if built.inputs != "text" or not built.labels or not hasattr(model, "config") or not hasattr(model, "base_model"):
        raise ConfigError(
            f"compressor {who!r} works on sequence classifiers; got a {built.task_type!r} model "
            f"({type(model).__name__})."
        )


def encoder_layers(model: Any, who: str) -> Any:
    """The encoder's layer list (BERT, RoBERTa, ELECTRA, ... all use ``base_model.encoder.layer``)."""
    layers = getattr(getattr(model.base_model, "encoder", None), "layer", None)
    if layers is None:
        raise ConfigError(
            f"compressor {who!r} supports BERT-style encoders (base_model.encoder.layer); "
            f"{type(model).__name__} is not one."
        )
    return layers


def copy_built(built: BuiltModel, model: Any, variant: str, meta: dict[str, Any]) -> BuiltModel:
    return BuiltModel(model=model, tokenizer=built.tokenizer, labels=list(built.labels), task_type=built.task_type,
                      candidate=built.candidate, variant=variant, format="hf",
                      meta={**built.meta, **meta, "source_variant": built.variant})


def clone_model(model: Any) -> Any:
    return copy.deepcopy(model).cpu().float()


def training_data(context: RunContext | None, options: TrainingOptions, who: str, labels: list[str]) -> tuple[list, list]:
    """(train, validation) examples: the run's splits, or the ``data`` option's file split by seed."""
    splits = getattr(context, "splits", None) if context is not None else None
    if splits is not None:
        return list(splits.train), list(splits.validation)
    if not options.data:
        raise ConfigError(
            f"compressor {who!r} needs training data: run it inside a pipeline run, or give the option "
            f"data=FILE (a labelled .csv/.tsv/.jsonl/.txt file)."
        )
    from autoglm_core import DataRef, SplitConfig, get_manager, load_file, stratified_split

    path = Path(options.data)
    loaded = load_file(path, DataRef(path=str(path)), get_manager())
    unknown = sorted({ex.label for ex in loaded.examples} - set(labels))
    if unknown:
        first = next(ex for ex in loaded.examples if ex.label == unknown[0])
        raise ConfigError(
            f"option data={options.data!r} of compressor {who!r}: label {unknown[0]!r} (first at {first.file}:"
            f"{first.line}) is not one of the model's labels {labels}."
        )
    train, val, _test, _ = stratified_split(loaded.examples, SplitConfig(train=0.8, validation=0.1, test=0.1),
                                            options.seed)
    return train, val


def train_config(context: RunContext | None, built: BuiltModel, options: TrainingOptions, **defaults: Any) -> Any:
    """The run's train config (batch size, max length, patience, time budget; when there is a run)
    with the compressor's own defaults (``epochs``, ``learning_rate``: recovering from pruning or
    distilling needs a different schedule than fine-tuning from scratch), overridden by the options."""
    from autoglm_core import TrainConfig

    base = None
    if context is not None and hasattr(context, "train_config"):
        try:
            base = context.train_config(built.candidate)
        except Exception:  # a context without a usable train config: fall back to defaults
            base = None
    if base is None:
        base = TrainConfig()
    over = {k: getattr(options, k) for k in ("epochs", "learning_rate", "batch_size", "max_length", "max_steps")
            if getattr(options, k) is not None}
    cfg = base.model_copy(update={"method": "full", **defaults, **over})
    return TrainConfig.model_validate(cfg.model_dump())


def device_of(context: RunContext | None) -> str:
    dev = getattr(context, "device", None) if context is not None else None
    name = str(dev) if dev is not None else "auto"
    return "cuda" if name.startswith("cuda") else name if name in ("cpu", "auto") else "auto"
