"""The ``text_classification`` task type: data, zero-shot baseline, fine-tuning, evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoglm_core.data.load import load_splits
from autoglm_core.engine.build import build_model
from autoglm_core.plugin.components import BuiltModel
from autoglm_core.plugin.context import RunContext
from autoglm_core.plugin.hookspecs import hookimpl
from autoglm_core.plugin.task_type import TaskType
from autoglm_core.training.classification import CLASSIFICATION_METRICS, cand_name, score, variant_result
from autoglm_core.types.data import DataSplits
from autoglm_core.types.schemas import CandidateSpec, RunReport, TaskSpec, VariantResult
from autoglm_core.types.task_info import ParseRule


def build(context: RunContext, candidate: CandidateSpec) -> BuiltModel:
    return build_model(context, candidate)




class TextClassification(TaskType):
    name = "text_classification"
    description = "assign one of a fixed set of labels to a text (sentiment, topic, intent, ...)"
    train_metric = "macro_f1"
    single_process_reason = None  # fine_tune sends its job to torchrun workers
    metrics = CLASSIFICATION_METRICS
    parse_fallback = True
    text_predictor = True
    reports_held_out = True  # val_* from the validation split, or the k-fold mean on small data
    parse_rules = (ParseRule(
        r"\b(classif\w*|categori[sz]\w*|sentiment|detect\w*|identif\w*|label\w*|recogni[sz]\w*|tag\w*|spam|intent|"
        r"polarity|toxic\w*|topic)\b|分类|情感|情绪|识别|判断|检测|归类|区分|打标签|倾向", 0.9, priority=90),)
    parse_prototypes = (
        "decide whether a restaurant comment sounds happy or unhappy",
        "sort news articles by topic: sports, business, world or technology",
        "flag phishing attempts among incoming messages",
        "which category does this support ticket belong to: billing, account or delivery",
        "is this comment friendly or hostile",
        "how serious is each incident report: minor, major or critical",
        "tell whether a product question was answered or not",
        "assign each user query to one of several intents",
        "判断顾客留言的满意度",
        "给论坛帖子按话题归档",
        "给每条客服工单打上类别标签",
        "分辨客户来电记录的语气是友好还是不耐烦",
        "这段话属于哪个类别：投诉、咨询还是建议",
        "看看这封邮件是不是垃圾邮件",
    )

    def candidates(self, spec: TaskSpec) -> list[CandidateSpec]:
        from autoglm_core.models.candidates import classification_candidates

        return classification_candidates(spec)

    def build(self, candidate: CandidateSpec, context: RunContext) -> BuiltModel | None:
        from autoglm_core.models.candidates import build_classifier

        return build_classifier(candidate, context.spec, context)

    def report_sections(self, report: RunReport, run_dir: Path) -> list[str]:
        from autoglm_core.engine.report import classification_sections

        return classification_sections(report, run_dir)

    @classmethod
    def load_model(cls, directory: Path, meta: dict[str, Any], *, allow_pickle: bool = False,
                   trust_remote_code: bool = False) -> BuiltModel:
        """A Hugging Face sequence classifier (the exported run model, or any such directory)."""
        from autoglm_core.models.loading import load_hf_sequence_classifier

        return load_hf_sequence_classifier(directory, meta, allow_pickle=allow_pickle,
                                           trust_remote_code=trust_remote_code)

    @classmethod
    def plan_note(cls, config: Any, candidate: CandidateSpec, train_rows: int) -> str:
        """On small data a fine-tuned candidate's recipe is then cross-validated: k more fine-tunings,
        each on (k-1)/k of train+validation for the epochs early stopping chose."""
        from autoglm_core.tasks.text_classification.kfold import KFOLD_THRESHOLD, fine_tuned_folds

        k = fine_tuned_folds(config)
        if k < 2 or config.time_limit or train_rows >= KFOLD_THRESHOLD:
            return ""
        return (f"; then {k} fold fine-tunings of the same recipe for the k-fold estimate (small data: up to "
                f"~{(k - 1) * (1 + config.split.validation / max(config.split.train, 1e-9)):.1f}x that again)")

    def load_data(self, context: RunContext) -> DataSplits:
        splits = load_splits(context.spec, context.config.split, context.config.seed, context.manager)
        from autoglm_core.tasks.text_classification.label_mapping import map_numeric_labels

        splits.summary.label_mapping = map_numeric_labels(context, splits)
        n = context.config.max_train_rows
        if n and len(splits.train) > n:
            from autoglm_core.data.load import stratified_sample

            before = len(splits.train)
            splits.train = stratified_sample(splits.train, n, context.config.seed)
            splits.summary.split_sizes["train"] = len(splits.train)
            splits.notes.append(f"max_train_rows: training on a stratified sample of {len(splits.train)} of "
                                f"{before} training rows.")
        return splits

    def zero_shot(self, context: RunContext, candidate: CandidateSpec) -> VariantResult | None:
        cfg = context.config.zero_shot
        if not cfg.enabled:
            return None
        method, scorers = cfg.method, context.manager.registry("zero-shot scorer")
        if candidate.family == "causal-lm" and method == "similarity" and "lm-likelihood" in scorers:
            # a decoder-only backbone has no sentence embedding worth comparing: score label likelihoods
            from autoglm_core.models.causal_lm import load_causal_lm

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

    def fit(self, context: RunContext, candidate: CandidateSpec, config: Any, *, on_epoch: Any = None,
            desc: str = "train") -> tuple[BuiltModel, Any]:
        return self._fit_rows(context, candidate, config, context.splits.train, context.splits.validation,
                              on_epoch=on_epoch, desc=desc)

    def _fit_rows(self, context: RunContext, candidate: CandidateSpec, config: Any, train: Any, validation: Any, *,
                  on_epoch: Any = None, desc: str = "train") -> tuple[BuiltModel, Any]:
        from autoglm_core.training.finetune import fine_tune
        from autoglm_core.training.loop import resolve_freeze_embeddings

        built = build(context, candidate)
        config = resolve_freeze_embeddings(config, built.model, len(train))
        result = fine_tune(built.model, built.tokenizer, train, validation, built.labels, config, seed=context.seed,
                           device=context.device, progress=context.progress, desc=desc, on_epoch=on_epoch)
        built.model = result.model
        return built, result

    def train(self, context: Any, candidate: CandidateSpec) -> BuiltModel:
        if candidate.options.get("cheap"):  # TF-IDF, frozen-encoder heads, ...: they fit themselves
            built = build(context, candidate)
            if callable(getattr(built, "fit", None)):
                from autoglm_core.tasks.text_classification.kfold import kfold_fit, use_kfold

                if use_kfold(context, built):
                    return kfold_fit(context, candidate, build)
                built.fit(list(context.splits.train), list(context.splits.validation), context)  # type: ignore[attr-defined]  # the sklearn families' models
                built.meta["protocol"] = "holdout"
                return built
        from autoglm_core.tasks.text_classification.kfold import kfold_fine_tuned, use_kfold_fine_tuned

        cfg = context.train_config(candidate)
        built, result = self.fit(context, candidate, cfg, desc=f"train {candidate.name}")
        built.variant = "fine-tuned"
        effective = cfg.model_copy(update={"freeze_embeddings": result.frozen_embeddings})
        built.meta = {**result.meta(), "train_config": effective.model_dump(mode="json")}
        if use_kfold_fine_tuned(context, candidate):
            def fit_rows(rows: Any, fold_cfg: Any, desc: str) -> BuiltModel:
                return self._fit_rows(context, candidate, fold_cfg, rows, [], desc=desc)[0]

            kfold_fine_tuned(context, candidate, effective, result.best_epoch, fit_rows)
            cv = context.scratch.get(("cv", candidate.name))
            built.meta["protocol"] = f"{int(cv['metrics']['cv_folds'])}-fold" if cv else "holdout"
            if cv:
                built.meta["cv"] = cv
        else:
            built.meta["protocol"] = "holdout"
        return built

    def evaluate(self, context: RunContext, built: BuiltModel, variant: str, model_dir: Path | None = None) -> VariantResult:
        max_length = context.train_config(built.candidate).max_length if built.candidate else 128
        test = context.splits.test
        probs = built.predict_proba([ex.text for ex in test], batch_size=64, max_length=max_length)
        m = score(built.labels, [ex.label for ex in test], probs)
        cand = built.candidate or CandidateSpec(name="model", backbone="unknown")
        result = variant_result(cand, variant, m)
        val = list(context.splits.validation)
        # out-of-fold (k-fold) or member-weighted probabilities when a stage left them: refit models
        # have seen the validation rows
        val_probs = context.scratch.get(("val_probs", cand_name(built), variant))
        if val_probs is None and val:
            val_probs = built.predict_proba([ex.text for ex in val], batch_size=64, max_length=max_length)
        # kept for the ensemble stage, which weighs members on validation probabilities
        context.scratch[("probs", cand_name(built), variant)] = (val_probs, probs)
        name = cand_name(built)
        cv = (context.scratch.get(("cv", name), built.meta.get("cv"))
              if variant in ("fine-tuned", "ensemble") else None)
        if cv is not None:  # small data: k-fold on train+validation decides (see the kfold module)
            result.metrics.update(cv["metrics"])
            result.notes.append(cv["note"])
            if val and variant == "fine-tuned":  # the kept model on the validation rows: what variants change
                kept = built.predict_proba([ex.text for ex in val], batch_size=64, max_length=max_length)
                context.scratch[("kept_val", name)] = score(built.labels, [ex.label for ex in val], kept)
        elif val and val_probs is not None:
            vm = score(built.labels, [ex.label for ex in val], val_probs)
            result.metrics.update({"val_accuracy": vm["accuracy"], "val_macro_f1": vm["macro_f1"]})
            base = context.scratch.get(("kept_val", name))
            if base is not None:
                from autoglm_core.tasks.text_classification.kfold import variant_estimate

                shifted = variant_estimate(context, name, base, vm)
                if shifted:
                    result.metrics.update(shifted)
                    change = vm["accuracy"] - base["accuracy"]
                    result.notes.append(f"held-out score: the candidate's k-fold mean {shifted['val_accuracy'] - change:.4f} "
                                        f"{change:+.4f} (this variant's change on the validation rows)")
        return result

    def baselines(self, context: RunContext) -> list[VariantResult]:
        """The majority class of the training split, scored on the test split."""
        from collections import Counter

        import numpy as np

        labels = list(context.splits.labels)
        majority = Counter(ex.label for ex in context.splits.train).most_common(1)[0][0]
        probs = np.zeros((len(context.splits.test), len(labels)), dtype=np.float32)
        probs[:, labels.index(majority)] = 1.0
        m = score(labels, [ex.label for ex in context.splits.test], probs)
        cand = CandidateSpec(name="baseline", backbone="majority-class", builder="none")
        return [variant_result(cand, "majority", m, notes=[f"always predicts {majority!r}, the commonest training label"])]

    def ensemble(self, context: RunContext, members: list[tuple[BuiltModel, VariantResult]]) -> BuiltModel | None:
        """Caruana ensemble selection on validation probabilities of the trained candidates."""
        import numpy as np

        from autoglm_core.engine.ensemble import EnsembleModel, caruana_weights
        from autoglm_core.tasks.text_classification.kfold import ensemble_estimate, pool_labels

        val = list(context.splits.validation)
        if not val or len(members) < 2:
            return None
        index = {lab: i for i, lab in enumerate(context.splits.labels)}
        y = np.array([index[ex.label] for ex in val])
        by_name: dict[str, BuiltModel] = {}
        probs: dict[str, Any] = {}
        for built, vr in members:
            if list(built.labels) != list(context.splits.labels):
                continue
            cached = context.scratch.get(("probs", vr.candidate, vr.variant))
            p = cached[0] if cached is not None and cached[0] is not None else None
            if p is None:
                p = built.predict_proba([ex.text for ex in val], batch_size=64)
            by_name[vr.candidate], probs[vr.candidate] = built, np.asarray(p, dtype=np.float64)
        # small data, every member cross-validated: the weights are chosen on the out-of-fold
        # probabilities of all train+validation rows instead of the validation rows alone
        oof = {n: context.scratch.get(("oof", n)) for n in probs}
        pooled = bool(oof) and all(p is not None for p in oof.values())
        if pooled:
            probs = {n: np.asarray(p, dtype=np.float64) for n, p in oof.items()}
            y = pool_labels(context)
        weights, val_acc = caruana_weights(probs, y)
        if not weights:
            return None
        order = sorted(weights, key=lambda n: -weights[n])
        mixed = sum(weights[n] * probs[n] for n in order)
        if pooled:
            ensemble_estimate(context, probs)
            mixed = mixed[len(context.splits.train):]
        context.scratch[("val_probs", "ensemble", "ensemble")] = mixed
        rows = "out-of-fold probabilities of train+validation" if pooled else "validation probabilities"
        cand = CandidateSpec(name="ensemble", backbone="+".join(order), builder="ensemble", family="ensemble",
                             reason=f"greedy ensemble selection with replacement (Caruana et al. 2004) on {rows}")
        return EnsembleModel(model=[(round(weights[n], 4), by_name[n]) for n in order], tokenizer=None,
                             labels=list(context.splits.labels), task_type=self.name, candidate=cand,
                             variant="ensemble", format="ensemble",
                             meta={"weights": {n: round(weights[n], 4) for n in order},
                                   "validation_accuracy": round(val_acc, 4)})

    def latency_inputs(self, context: RunContext, built: BuiltModel) -> list[Any] | None:
        return [ex.text for ex in context.splits.test]


@hookimpl
def autoglm_register_task_types(register):
    register(TextClassification)


@hookimpl
def autoglm_register_model_formats(register):
    from autoglm_core.engine.ensemble import EnsembleFormat

    register(EnsembleFormat)
