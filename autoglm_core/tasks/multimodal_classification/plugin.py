"""The ``multimodal_classification`` task type (text + image): a table with a text column, an
image-path column and a label; a fusion classifier where text tokens attend to image features
(cross-attention scaled by sqrt(d_k)) and a gate mixes the two summaries
(g = sigmoid(W[h_text; h_image]), h = g*h_text + (1-g)*h_image).

Training the gated model also trains the ablation -- text only, image only, concatenation -- on the
same split, so the report shows what each modality and the fusion contribute (``ablation`` in the
train stage's metrics, rendered by the report).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from autoglm_core.data.image_processor import ImageProcessor
from autoglm_core.engine.build import build_model
from autoglm_core.plugin.components import BuiltModel
from autoglm_core.plugin.context import RunContext
from autoglm_core.plugin.hookspecs import hookimpl
from autoglm_core.plugin.task_type import TaskType
from autoglm_core.tasks.multimodal_classification.model import (
    TASK,
    MultimodalBuiltModel,
    MultimodalProcessor,
    TextVocab,
    build_fusion,
    load_multimodal_model,
)
from autoglm_core.tasks.multimodal_classification.table import load_multimodal_table
from autoglm_core.training.classification import CLASSIFICATION_METRICS, variant_result
from autoglm_core.training.torch_classifier import batches_of, evaluate_arrays, train_loop
from autoglm_core.types.data import DataSplits, Example
from autoglm_core.types.errors import ConfigError, DataError
from autoglm_core.types.schemas import CandidateSpec, DataSummary, TaskSpec, VariantResult
from autoglm_core.types.task_info import ParseRule

FUSION_TRAIN = {"learning_rate": 1e-3, "epochs": 30, "batch_size": 64, "patience": 6, "max_length": 32,
                "warmup_ratio": 0.05, "early_stopping_metric": "accuracy", "weight_decay": 0.01}
ABLATION = ("text", "image", "concat", "gated-xattn")


# --------------------------------------------------------------------------- candidates / builder


def fusion_candidate(fusion: str = "gated-xattn", name: str | None = None, ablation: bool = True,
                     reason: str = "") -> CandidateSpec:
    return CandidateSpec(
        name=name or f"fusion-{fusion}", backbone=f"fusion-{fusion}", builder="fusion", family="fusion",
        params_estimate=150_000, options={"fusion": fusion, "ablation": ablation and fusion == "gated-xattn"},
        reason=reason or ("text transformer + image CNN; text tokens attend to image cells (scaled by sqrt(d_k)), "
                          "gated fusion; trains the text-only/image-only/concat ablation too"),
        train_overrides=FUSION_TRAIN,
    )


def multimodal_candidates(spec: TaskSpec) -> list[CandidateSpec]:
    if spec.backbones:
        out = []
        for i, b in enumerate(spec.backbones):
            key = b.strip().lower().removeprefix("fusion-")
            if key not in ABLATION:
                raise ConfigError(f"unknown multimodal backbone {b!r}: use one of {', '.join(ABLATION)}.")
            out.append(fusion_candidate(key, name=f"c{i}-fusion-{key}", ablation=False, reason="requested by the user")
                       .model_copy(update={"requested": True}))
        return out
    return [fusion_candidate()]


def build_fusion_model(candidate: CandidateSpec, spec: TaskSpec, context: RunContext) -> BuiltModel | None:
    if candidate.builder != "fusion":
        return None
    import torch

    splits = context.splits
    labels = list(splits.labels)
    max_length = context.train_config(candidate).max_length
    vocab = TextVocab.build([ex.text for ex in splits.train])
    image = ImageProcessor(splits.image_size, splits.image_mode)
    torch.manual_seed(context.seed)
    model = build_fusion(candidate.options.get("fusion", "gated-xattn"), labels, vocab, image.channels, max_length,
                         candidate.options)
    return MultimodalBuiltModel(model=model, tokenizer=MultimodalProcessor(vocab, image, max_length), labels=labels,
                                task_type=TASK, candidate=candidate, variant="initialised",
                                meta={"fusion": model.config["fusion"], "pixel_range": [0.0, 1.0]})


# --------------------------------------------------------------------------- task type


def _forward(model: Any, inputs: dict[str, Any]) -> Any:
    return model(**inputs)


def _arrays(examples: list[Example], built: Any) -> tuple[dict[str, Any], Any]:
    import torch

    index = {lab: i for i, lab in enumerate(built.labels)}
    return built.tokenizer(examples), torch.tensor([index[e.label] for e in examples], dtype=torch.long)


def fit_fusion(context: RunContext, built: MultimodalBuiltModel, candidate: CandidateSpec) -> dict[str, Any]:
    """Train ``built.model`` in place with padded full-data tensors; returns the training info."""
    cfg = context.train_config(candidate)
    x, y = _arrays(context.splits.train, built)  # padded once, batches are slices
    val = context.splits.validation
    vx, vy = _arrays(val, built) if val else (None, None)
    n = len(built.labels)

    def val_eval(model: Any) -> Any:
        acc, f1, loss, _ = evaluate_arrays(model, _forward, vx, vy, n)
        return acc, f1, loss

    info = train_loop(built.model, _forward, batches_of(x, y, cfg.batch_size), len(y),
                      val_eval if vx is not None else None, cfg,
                      seed=context.seed, default_lr=FUSION_TRAIN["learning_rate"], device=context.device)
    built.model.to("cpu")
    return {**info, "train_config": cfg.model_dump(mode="json")}


def test_scores(context: RunContext, built: MultimodalBuiltModel) -> dict[str, float]:
    x, y = _arrays(context.splits.test, built)
    acc, f1, _, _ = evaluate_arrays(built.model, _forward, x, y, len(built.labels))
    return {"accuracy": round(acc, 4), "macro_f1": round(f1, 4)}


class MultimodalClassification(TaskType):
    name = TASK
    description = "assign one of a fixed set of labels to a text + image pair (table: text, image path, label)"
    train_metric = "accuracy"
    single_process_reason = ("its text + image fusion network is trained by its own loop in this process, which "
                             "worker processes cannot rebuild")
    default_compress: tuple[str, ...] = ()  # the fusion model is ~0.2M parameters; nothing to gain
    metrics = CLASSIFICATION_METRICS
    reports_held_out = True  # val_* on the validation split (the loop's scores of the kept epoch when it can)
    parse_rules = (ParseRule(
        r"((image|photo|picture)s?\b.{0,40}\b(caption|text|review|comment|description)s?\b)|"
        r"((caption|text|review|comment)s?\b.{0,40}\b(image|photo|picture)s?\b)|"
        r"((图片|图像|照片).{0,12}(评论|文字|文本|描述|标题))|((评论|文字|文本|描述|标题).{0,12}(图片|图像|照片))",
        0.85, priority=10),)
    parse_prototypes = (
        "classify products using both their photo and their title",
        "decide if a post breaks the rules from its picture and the text written on it",
        "label social media posts from the picture together with the caption",
        "根据商品图片和标题一起判断类别",
        "结合照片和文字说明判断广告是否违规",
        "同时看图片和评论给帖子打标签",
    )

    def candidates(self, spec: TaskSpec) -> list[CandidateSpec]:
        return multimodal_candidates(spec)

    def build(self, candidate: CandidateSpec, context: RunContext) -> BuiltModel | None:
        return build_fusion_model(candidate, context.spec, context)

    def parse_evidence(self, text: str, matched: str) -> dict[str, Any]:
        from autoglm_core.data.description_rules import split_modalities
        from autoglm_core.types.schemas import Evidence

        return {"modalities": Evidence(value=split_modalities(matched), evidence=matched, confidence=0.85)}

    def accept_parsed_labels(self, labels: list[str]) -> bool:
        from autoglm_core.data.description_rules import MODALITY_WORDS
        from autoglm_core.data.description_rules import search as _search

        # "photos and captions" names the inputs, not the classes
        return not all(_search(MODALITY_WORDS, x) for x in labels)

    def report_sections(self, report: Any, run_dir: Path) -> list[str]:
        from autoglm_core.engine.report import classification_sections

        return classification_sections(report, run_dir)

    def load_data(self, context: RunContext) -> DataSplits:
        from autoglm_core.data.images import DEFAULT_MAX_SIDE, choose_size, to_pixels
        from autoglm_core.data.load import MAX_REPORTED_ISSUES, reconcile_labels, stratified_split

        ref = context.spec.data
        if ref is None or not ref.path:
            raise DataError("multimodal_classification reads one table: pass --data FILE.csv with a text column, "
                            "an image-path column and a label column.")
        path = Path(ref.path)
        if path.is_dir():
            raise DataError(f"{path} is a folder; multimodal data is a table (.csv/.tsv/.jsonl) with a text column "
                            f"and an image-path column.")
        loaded = load_multimodal_table(path, text_column=ref.text_column, label_column=ref.label_column)
        if not loaded.examples:
            first = loaded.issues[0] if loaded.issues else None
            raise DataError(f"{path}: no usable rows ({loaded.rows_read} read)"
                            + (f"; first problem: line {first.line}: {first.reason}." if first else "."))
        sizes = Counter(ex.meta["image"].size for ex in loaded.examples)
        modes = Counter(ex.meta["image"].mode for ex in loaded.examples)
        grey = sum(n for m, n in modes.items() if m in ("L", "1", "LA", "I;16", "I"))
        mode = "L" if grey * 2 >= sum(modes.values()) else "RGB"
        size = choose_size(sizes, DEFAULT_MAX_SIDE)
        for ex in loaded.examples:
            ex.meta["pixels"] = to_pixels(ex.meta.pop("image"), size, mode)
        labels, warns = reconcile_labels(context.spec, loaded.examples)
        train, val, test, notes = stratified_split(loaded.examples, context.config.split, context.config.seed)
        if not train or not test:
            raise DataError(f"{path}: too few usable rows for a train and a test split ({len(loaded.examples)}).")
        counts = Counter(ex.label for ex in loaded.examples)
        summary = DataSummary(
            files=[str(path)], rows_read=loaded.rows_read, rows_used=len(loaded.examples),
            rows_skipped=len(loaded.issues), skipped=loaded.issues[:MAX_REPORTED_ISSUES],
            label_counts={str(k): v for k, v in sorted(counts.items())},
            split_sizes={"train": len(train), "validation": len(val), "test": len(test)},
            language=_language(loaded.examples), text_column=loaded.text_column, label_column=loaded.label_column)
        notes = warns + notes + [f"modalities: text ({loaded.text_column}) + image; images used at "
                                 f"{size[0]}x{size[1]} {mode} (modes seen: {dict(modes)})"]
        splits = DataSplits(train, val, test, labels, summary, notes=notes)
        splits.image_size, splits.image_mode = size, mode  # type: ignore[attr-defined]
        return splits

    def train(self, context: RunContext, candidate: CandidateSpec) -> BuiltModel:
        built = build_model(context, candidate)
        info = fit_fusion(context, built, candidate)
        built.variant = "fine-tuned"
        built.meta = {"fusion": built.model.config["fusion"], "pixel_range": [0.0, 1.0], **info}
        if candidate.options.get("ablation"):
            rows = []
            for fusion in ABLATION:
                if fusion == built.model.config["fusion"]:
                    other, oinfo = built, info
                else:
                    import torch

                    torch.manual_seed(context.seed)
                    model = build_fusion(fusion, built.labels, built.tokenizer.vocab, built.tokenizer.image.channels,
                                         built.tokenizer.max_length, candidate.options)
                    other = MultimodalBuiltModel(model=model, tokenizer=built.tokenizer, labels=built.labels,
                                                 task_type=TASK, candidate=candidate)
                    oinfo = fit_fusion(context, other, candidate)
                rows.append({"fusion": fusion, **test_scores(context, other),
                             "params": sum(p.numel() for p in other.model.parameters()),
                             "train_seconds": oinfo["train_seconds"], "best_epoch": oinfo["best_epoch"]})
            built.meta["ablation"] = rows
        return built

    def evaluate(self, context: RunContext, built: BuiltModel, variant: str, model_dir: Path | None = None) -> VariantResult:
        from autoglm_core.training.held_out import held_out_scores
        from autoglm_core.training.metrics import classification_metrics

        index = {lab: i for i, lab in enumerate(built.labels)}

        def scores(examples: list[Example]) -> dict[str, Any]:
            probs = built.predict_proba(examples, batch_size=128)
            return classification_metrics([index[ex.label] for ex in examples], probs.argmax(1).tolist(), built.labels)

        m = scores(context.splits.test)
        cand = built.candidate or CandidateSpec(name="model", backbone="unknown")
        result = variant_result(cand, variant, m, notes=[f"fusion: {built.model.config['fusion']}"])
        val = context.splits.validation
        result.metrics.update(held_out_scores(built, variant, self.metric_names(), val, lambda: scores(val)))
        return result

    def latency_inputs(self, context: RunContext, built: BuiltModel) -> list[Any] | None:
        return list(context.splits.test)

    @classmethod
    def load_model(cls, directory: Path, meta: dict[str, Any], **_: Any) -> BuiltModel:
        return load_multimodal_model(directory, meta)


def _language(examples: list[Example]) -> str:
    from autoglm_core.data.language import detect_language

    return detect_language(ex.text for ex in examples[:2000])



@hookimpl
def autoglm_register_task_types(register):
    register(MultimodalClassification)
