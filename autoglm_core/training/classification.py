"""Scoring a classifier: metrics of its test probabilities against the gold labels, the declared
classification metrics and the VariantResult of a scored variant (text, image, multimodal and token
classification share them)."""

from __future__ import annotations

from typing import Any

from autoglm_core.plugin.components import BuiltModel
from autoglm_core.training.metrics import classification_metrics
from autoglm_core.types.schemas import CandidateSpec, VariantResult
from autoglm_core.types.task_info import Metric


def score(built_labels: list[str], gold: list[str | None], probs: Any) -> dict[str, Any]:
    index = {lab: i for i, lab in enumerate(built_labels)}
    y_true = [index[g] for g in gold]  # type: ignore[index]
    y_pred = probs.argmax(axis=1).tolist()
    return classification_metrics(y_true, y_pred, built_labels)


classification_score = score  # the public name (plugins import it from autoglm_core)


def cand_name(built: BuiltModel) -> str:
    return built.candidate.name if built.candidate else "model"


def variant_result(candidate: CandidateSpec, variant: str, m: dict[str, Any], **extra: Any) -> VariantResult:
    return VariantResult(
        candidate=candidate.name, variant=variant, backbone=candidate.backbone,
        metrics={"accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}, per_class=m["per_class"],
        confusion_matrix=m["confusion_matrix"], **extra,
    )


CLASSIFICATION_METRICS = (
    Metric("accuracy", description="share of test examples labelled correctly"),
    Metric("macro_f1", description="unweighted mean of per-class F1",
           keywords=r"\b(macro[- ]?f1|f1[- ]?score|f1)\b|F1值|F1分数"),
)
