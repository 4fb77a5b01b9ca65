"""The ``text_classification`` task type: data, zero-shot baseline, fine-tuning, evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..components import BuiltModel, TaskType
from ..data.load import load_splits
from ..data.types import DataSplits
from ..errors import ConfigError
from ..hookspecs import hookimpl
from ..metrics import classification_metrics
from ..schemas import CandidateSpec, VariantResult
from .evaluators import measure_latency, parameter_count, size_on_disk_mb


def build(context: Any, candidate: CandidateSpec) -> BuiltModel:
    built = context.manager.hook.autoglm_build_model(candidate=candidate, spec=context.spec, context=context)
    if built is None:
        raise ConfigError(
            f"no model builder handles candidate {candidate.name!r} (builder {candidate.builder!r}, task "
            f"{context.spec.task_type!r}). Install the plugin that provides it; `autoglm plugins` lists builders."
        )
    return built


def score(built_labels: list[str], gold: list[str | None], probs: Any) -> dict[str, Any]:
    index = {lab: i for i, lab in enumerate(built_labels)}
    y_true = [index[g] for g in gold]  # type: ignore[index]
    y_pred = probs.argmax(axis=1).tolist()
    return classification_metrics(y_true, y_pred, built_labels)


def variant_result(candidate: CandidateSpec, variant: str, m: dict[str, Any], **extra: Any) -> VariantResult:
    return VariantResult(
        candidate=candidate.name, variant=variant, backbone=candidate.backbone,
        metrics={"accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}, per_class=m["per_class"],
        confusion_matrix=m["confusion_matrix"], **extra,
    )


class TextClassification(TaskType):
    name = "text_classification"
    description = "assign one of a fixed set of labels to a text (sentiment, topic, intent, ...)"

    def load_data(self, context: Any) -> DataSplits:
        return load_splits(context.spec, context.config.split, context.config.seed, context.manager)

    def zero_shot(self, context: Any, candidate: CandidateSpec) -> VariantResult | None:
        cfg = context.config.zero_shot
        if not cfg.enabled:
            return None
        method, scorers = cfg.method, context.manager.registry("zero-shot scorer")
        if candidate.family == "causal-lm" and method == "similarity" and "lm-likelihood" in scorers:
            # a decoder-only backbone has no sentence embedding worth comparing: score label likelihoods
            from .text_generation import load_causal_lm

            method = "lm-likelihood"
            model, tokenizer = load_causal_lm(candidate.backbone, candidate.trust_remote_code)
            built = BuiltModel(model=model, tokenizer=tokenizer, labels=list(context.splits.labels),
                               task_type="text_generation", candidate=candidate)
        else:
            built = build(context, candidate)
            if callable(getattr(built, "fit", None)):  # a non-neural family: nothing to score before fitting
                return None
        scorer = scorers.get(method)(cfg.options if method == cfg.method else {}, where="config zero_shot.options")
        test = context.splits.test
        probs = scorer.predict_proba(built, [ex.text for ex in test], built.labels, context.splits.summary.language)
        m = score(built.labels, [ex.label for ex in test], probs)
        return variant_result(candidate, "zero-shot", m, notes=[f"zero-shot scorer {method!r}, no training"])

    def train(self, context: Any, candidate: CandidateSpec) -> BuiltModel:
        from ..training import fine_tune

        built = build(context, candidate)
        if callable(getattr(built, "fit", None)):  # TF-IDF, frozen-encoder heads, ...: they fit themselves
            built.fit(list(context.splits.train), list(context.splits.validation), context)
            return built
        cfg = context.train_config(candidate)
        result = fine_tune(built.model, built.tokenizer, context.splits.train, context.splits.validation,
                           built.labels, cfg, seed=context.seed, device=context.device,
                           progress=context.progress, desc=f"train {candidate.name}")
        built.model = result.model
        built.variant = "fine-tuned"
        built.meta = {"history": result.history, "best_epoch": result.best_epoch, "steps": result.steps,
                      "train_seconds": round(result.duration_s, 2), "stop_reason": result.stop_reason,
                      "train_config": cfg.model_dump(mode="json")}
        return built

    def evaluate(self, context: Any, built: BuiltModel, variant: str, model_dir: Path | None = None) -> VariantResult:
        cfg = context.config.evaluate
        max_length = context.train_config(built.candidate).max_length if built.candidate else 128
        test = context.splits.test
        texts = [ex.text for ex in test]
        probs = built.predict_proba(texts, batch_size=64, max_length=max_length)
        m = score(built.labels, [ex.label for ex in test], probs)
        latency = measure_latency(built, texts[: cfg.latency_examples], cfg.latency_batch_sizes,
                                  cfg.latency_repeats, max_length)
        extra_metrics: dict[str, float] = {}
        for ref in cfg.evaluators:
            evaluator = context.manager.registry("evaluator").get(ref.name)(ref.options, where=f"evaluator {ref.name!r} options")
            extra_metrics.update(evaluator.evaluate(built, context))
        cand = built.candidate or CandidateSpec(name="model", backbone="unknown")
        result = variant_result(
            cand, variant, m, latency_ms=latency, params=parameter_count(built.model), size_mb=size_on_disk_mb(model_dir),
            throughput_per_s=round(1000.0 / min(latency.values()), 2) if latency and min(latency.values()) > 0 else None,
            model_dir=context.rel(model_dir) if model_dir is not None else None,
        )
        result.metrics.update(extra_metrics)
        return result


@hookimpl
def autoglm_register_task_types(register):
    register(TextClassification)
