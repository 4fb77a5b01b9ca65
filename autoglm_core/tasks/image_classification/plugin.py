"""The ``image_classification`` task type: image-folder data, a small CNN, a ViT built from a
config, any local/cached Hugging Face image classifier, training, evaluation and reloading.

Built models take ``pixel_values`` in [0, 1] at the data's resolution (``built.meta["pixel_range"]``,
``built.meta["input_shape"]``), so the FGSM attack of ``autoglm-plugin-fgsm`` perturbs real pixels
(``Example.meta["pixels"]``) and clamps to the valid range.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoglm_core.data.image_processor import ImageProcessor
from autoglm_core.engine.build import build_model
from autoglm_core.plugin.components import BuiltModel
from autoglm_core.plugin.context import RunContext
from autoglm_core.plugin.hookspecs import hookimpl
from autoglm_core.plugin.task_type import TaskType
from autoglm_core.tasks.image_classification.backbones import (
    CNN_TRAIN,
    VIT_TRAIN,
    build_image_model,
    image_candidates,
)
from autoglm_core.training.classification import CLASSIFICATION_METRICS, variant_result
from autoglm_core.training.torch_classifier import batches_of, evaluate_arrays, fit_loop, model_device
from autoglm_core.types.data import DataSplits
from autoglm_core.types.errors import DataError, ModelLoadError
from autoglm_core.types.schemas import CandidateSpec, TaskSpec, TrainConfig, VariantResult
from autoglm_core.types.task_info import ParseRule

TASK = "image_classification"


@dataclass
class ImageBuiltModel(BuiltModel):
    """A BuiltModel whose inputs are images; ``tokenizer`` is the :class:`ImageProcessor`."""

    inputs = "pixels"

    def predict_proba(self, images: Any, batch_size: int = 64, max_length: int = 0) -> Any:  # type: ignore[override]
        import numpy as np
        import torch

        self.model.eval()
        device = model_device(self.model)
        out = []
        with torch.inference_mode():
            for i in range(0, len(images), batch_size):
                x = self.tokenizer(list(images[i : i + batch_size])).to(device)
                out.append(torch.softmax(self.model(x).float(), -1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)), dtype=np.float32)

    def predict(self, images: Any, batch_size: int = 64, max_length: int = 0) -> list[str]:  # type: ignore[override]
        return [self.labels[i] for i in self.predict_proba(images, batch_size).argmax(1)]


def _data_shape(context: RunContext) -> tuple[tuple[int, int], str]:
    splits = context.splits if context is not None else None
    size = getattr(splits, "image_size", None)
    mode = getattr(splits, "image_mode", None)
    if size is None or mode is None:
        from autoglm_core.data.images import pixel_shape

        c, h, w = pixel_shape(splits)
        size, mode = (w, h), ("L" if c == 1 else "RGB")
    return tuple(size), mode  # type: ignore[return-value]


def build_image_classifier(candidate: CandidateSpec, spec: TaskSpec, context: RunContext) -> BuiltModel | None:
    if candidate.builder not in ("image-cnn", "image-vit", "image-hf"):
        return None
    import torch

    labels = list(context.splits.labels) if context is not None and context.splits else list(spec.labels)
    size, mode = _data_shape(context)
    torch.manual_seed(context.seed if context is not None else 0)
    model = build_image_model(candidate, labels, size, mode)
    return ImageBuiltModel(model=model, tokenizer=ImageProcessor(size, mode), labels=labels, task_type=TASK,
                           candidate=candidate, variant="initialised", meta=image_meta(model))


def image_meta(model: Any) -> dict[str, Any]:
    c = model.config
    return {"pixel_range": list(c["pixel_range"]), "input_shape": [c["channels"], c["input_size"][1], c["input_size"][0]],
            "arch": c["arch"]}


# --------------------------------------------------------------------------- task type


def labelled_arrays(examples: list[Any], labels: list[str], processor: ImageProcessor) -> tuple[Any, Any]:
    import torch

    index = {lab: i for i, lab in enumerate(labels)}
    x = processor(examples)
    y = torch.tensor([index[ex.label] for ex in examples], dtype=torch.long)
    return x, y


def _forward_image(model: Any, inputs: dict[str, Any]) -> Any:
    return model(inputs["pixel_values"])


def as_image_built(built: BuiltModel) -> ImageBuiltModel:
    """Compressors return a plain BuiltModel; give it the image ``predict_proba`` back."""
    if isinstance(built, ImageBuiltModel):
        return built
    return ImageBuiltModel(model=built.model, tokenizer=built.tokenizer, labels=built.labels, task_type=built.task_type,
                           candidate=built.candidate, variant=built.variant, format=built.format, meta=built.meta)


class ImageClassification(TaskType):
    name = TASK
    description = "assign one of a fixed set of labels to an image (image folder: <class>/ sub-folders)"
    train_metric = "accuracy"
    single_process_reason = ("its batches are image tensors built in memory by a function of this process and its "
                             "networks (CNN, ViT, fusion) are not Hugging Face models that a worker process reloads")
    #: INT8 dynamic quantization covers Linear layers only: a CNN's convolutions stay fp32, so it is
    #: not run unless asked for (--compress int8)
    default_compress: tuple[str, ...] = ()
    metrics = CLASSIFICATION_METRICS
    reports_held_out = True  # val_* on the validation split (the loop's scores of the kept epoch when it can)
    parse_rules = (ParseRule(r"\b(images?|photos?|pictures?|pixels?|vision)\b|图片|图像|照片|视觉", 0.85, priority=20),)
    parse_prototypes = (
        "recognise handwritten letters in scanned forms",
        "tell which animal is shown in a photo",
        "sort aerial photographs of farmland by crop type",
        "spot cracks in pictures of concrete walls",
        "识别照片中的交通标志",
        "判断扫描图像里是否有病变",
        "按图片内容给风景照分类",
    )

    def candidates(self, spec: TaskSpec) -> list[CandidateSpec]:
        return image_candidates(spec)

    def build(self, candidate: CandidateSpec, context: RunContext) -> BuiltModel | None:
        return build_image_classifier(candidate, context.spec, context)

    def report_sections(self, report: Any, run_dir: Path) -> list[str]:
        from autoglm_core.engine.report import classification_sections

        return classification_sections(report, run_dir)

    def load_data(self, context: RunContext) -> DataSplits:
        from autoglm_core.data.images import load_image_folder
        from autoglm_core.data.load import reconcile_labels

        ref = context.spec.data
        if ref is None:
            raise DataError("no data given: pass an image folder (CLI: --data FOLDER; Python: dataset='folder/').")
        root = ref.path
        if root is None:
            raise DataError("image_classification reads one folder: pass --data FOLDER (with <class>/ sub-folders, "
                            "or train/ and val/ folders), not --train/--validation files.")
        splits = load_image_folder(root, context.config.split, context.config.seed)
        labels, warns = reconcile_labels(context.spec, splits.train + splits.validation + splits.test)
        splits.labels = labels
        splits.notes = warns + splits.notes
        return splits

    def fit(self, context: RunContext, candidate: CandidateSpec, config: TrainConfig, *, on_epoch: Any = None,
            desc: str = "train") -> tuple[BuiltModel, Any]:
        built = build_model(context, candidate)
        cfg = config
        x, y = labelled_arrays(context.splits.train, built.labels, built.tokenizer)
        val = context.splits.validation
        vx, vy = labelled_arrays(val, built.labels, built.tokenizer) if val else (None, None)
        n = len(built.labels)

        def val_eval(model: Any) -> Any:
            acc, f1, loss, _ = evaluate_arrays(model, _forward_image, {"pixel_values": vx}, vy, n)
            return acc, f1, loss

        default_lr = CNN_TRAIN["learning_rate"] if candidate.builder == "image-cnn" else VIT_TRAIN["learning_rate"]
        result = fit_loop(built.model, _forward_image, batches_of({"pixel_values": x}, y, cfg.batch_size), len(y),
                          val_eval if vx is not None else None, cfg, seed=context.seed, default_lr=default_lr,
                          device=context.device, on_epoch=on_epoch, desc=desc)
        built.model.to("cpu")
        return built, result

    def train(self, context: Any, candidate: CandidateSpec) -> BuiltModel:
        cfg = context.train_config(candidate)
        built, result = self.fit(context, candidate, cfg, desc=f"train {candidate.name}")
        built.variant = "fine-tuned"
        built.meta = {**image_meta(built.model), **result.meta(), "train_config": cfg.model_dump(mode="json")}
        return built

    def evaluate(self, context: RunContext, built: BuiltModel, variant: str, model_dir: Path | None = None) -> VariantResult:
        from autoglm_core.training.held_out import held_out_scores
        from autoglm_core.training.metrics import classification_metrics

        built = as_image_built(built)
        index = {lab: i for i, lab in enumerate(built.labels)}

        def scores(examples: list[Any]) -> dict[str, Any]:
            probs = built.predict_proba(examples, batch_size=128)
            return classification_metrics([index[ex.label] for ex in examples], probs.argmax(1).tolist(), built.labels)

        m = scores(context.splits.test)
        cand = built.candidate or CandidateSpec(name="model", backbone="unknown")
        result = variant_result(cand, variant, m)
        val = context.splits.validation
        result.metrics.update(held_out_scores(built, variant, self.metric_names(), val, lambda: scores(val)))
        return result

    def latency_inputs(self, context: RunContext, built: BuiltModel) -> list[Any] | None:
        return [ex.meta["pixels"] for ex in context.splits.test]

    @classmethod
    def load_model(cls, directory: Path, meta: dict[str, Any], **_: Any) -> BuiltModel:
        return load_image_model(directory, meta)


def load_image_model(directory: str | Path, meta: dict[str, Any] | None = None) -> ImageBuiltModel:
    """Rebuild a saved image classifier (config.json + model.safetensors + preprocessor_config.json)."""
    from autoglm_core.models.vision_nets import ImageClassifier, read_saved_config
    from autoglm_core.plugin.components import read_model_meta

    directory = Path(directory)
    meta = meta if meta is not None else (read_model_meta(directory) or {})
    fmt = meta.get("format", "hf")
    config = read_saved_config(directory)
    try:
        model = load_weights_any(ImageClassifier(config), directory, fmt, meta.get("meta", {}))
    except (RuntimeError, KeyError, ValueError) as e:
        raise ModelLoadError(f"{directory}: the weights do not match config.json: {e}") from None
    cand = meta.get("candidate")
    return ImageBuiltModel(model=model, tokenizer=ImageProcessor.from_pretrained(directory),
                           labels=list(meta.get("labels") or config["labels"]), task_type=TASK,
                           candidate=CandidateSpec.model_validate(cand) if cand else None,
                           variant=meta.get("variant", "fine-tuned"), format=fmt,
                           meta={**image_meta(model), **meta.get("meta", {})})


def load_weights_any(model: Any, directory: Path, fmt: str, qmeta: dict[str, Any]) -> Any:
    """The weights in whatever registered model format saved them (``hf``, ``int8``, ...)."""
    from autoglm_core.plugin.components import load_weights

    return load_weights(model, directory, {"format": fmt, "meta": qmeta})


@hookimpl
def autoglm_register_task_types(register):
    register(ImageClassification)
