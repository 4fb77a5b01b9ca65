"""Helpers shared by the attacks and defenses of this plugin: labels, batches, train settings."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

from autoglm_core import AutoGLMError, RunContext


class AttackError(AutoGLMError):
    """An attack or defense cannot run on this model or these examples."""


def check_epsilons(values: Sequence[Any], field: str = "epsilons") -> list[float]:
    """Epsilons must be finite, non-negative numbers (bools and strings are refused)."""
    out: list[float] = []
    for v in values:
        if isinstance(v, str):
            try:
                v = float(v)
            except ValueError:
                raise ValueError(f"{field}: {v!r} is not a number (give e.g. [0.01, 0.05])") from None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)) or v < 0:
            raise ValueError(f"{field}: {v!r} is not a non-negative number (give e.g. [0.01, 0.05])")
        out.append(float(v))
    return out


def label_ids(built: Any, examples: Sequence[Any], who: str) -> list[int]:
    """Map example labels to class ids, naming the file and line of a label the model does not know."""
    index = {lab: i for i, lab in enumerate(built.labels)}
    ids: list[int] = []
    for ex in examples:
        if ex.label is None:
            raise AttackError(f"{who}: {ex.file}:{ex.line} has no label; attacks need labelled examples.")
        if ex.label not in index:
            raise AttackError(
                f"{who}: {ex.file}:{ex.line} has label {ex.label!r}, which the model does not know "
                f"(its labels: {built.labels}). Attack with data labelled like the training data."
            )
        ids.append(index[ex.label])
    return ids


def examples_for(built: Any, examples: Sequence[Any] | None, context: RunContext | None, who: str) -> list[Any]:
    """The examples to attack: the given ones, else the run's test split."""
    if examples:
        return list(examples)
    splits = getattr(context, "splits", None) if context is not None else None
    if splits is not None and splits.test:
        return list(splits.test)
    raise AttackError(f"{who}: no examples to attack; give examples (CLI: --data FILE).")


def train_config(built: Any, context: RunContext | None, **overrides: Any) -> Any:
    """The run's training settings for this candidate (or the defaults), with overrides applied."""
    from autoglm_core import TrainConfig

    cfg = None
    if context is not None and hasattr(context, "train_config") and built.candidate is not None:
        try:
            cfg = context.train_config(built.candidate)
        except Exception:  # noqa: BLE001 - standalone contexts may not know the candidate
            cfg = None
    cfg = cfg or TrainConfig()
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return cfg.model_copy(update=overrides) if overrides else cfg


def train_splits(context: RunContext | None, who: str) -> tuple[list[Any], list[Any]]:
    splits = getattr(context, "splits", None) if context is not None else None
    if splits is None or not splits.train:
        raise AttackError(f"{who}: needs the run's training data (context.splits.train); run it inside a pipeline "
                          f"or pass a context with splits.")
    return list(splits.train), list(splits.validation or [])


def seed_of(context: RunContext | None, default: int = 0) -> int:
    cfg = getattr(context, "config", None) if context is not None else None
    return int(getattr(cfg, "seed", default) if cfg is not None else default)


def copy_built(built: Any, **changes: Any) -> Any:
    """A new BuiltModel with a deep copy of the model (defenses never modify their input)."""
    import dataclasses

    changes.setdefault("meta", dict(built.meta))
    changes.setdefault("model", copy.deepcopy(built.model))
    return dataclasses.replace(built, **changes)


def model_device(model: Any) -> Any:
    import torch

    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")
