"""The ``image_classification`` task type: image-folder data, a small CNN, a ViT built from a
config, any local/cached Hugging Face image classifier, training, evaluation and reloading.

Built models take ``pixel_values`` in [0, 1] at the data's resolution (``built.meta["pixel_range"]``,
``built.meta["input_shape"]``), so the FGSM attack of ``autoglm-plugin-fgsm`` perturbs real pixels
(``Example.meta["pixels"]``) and clamps to the valid range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoglm_core.plugin.components import BuiltModel
from autoglm_core.plugin.context import RunContext
from autoglm_core.plugin.hookspecs import hookimpl
from autoglm_core.plugin.task_type import TaskType
from autoglm_core.tasks.text_classification.plugin import CLASSIFICATION_METRICS
from autoglm_core.types.data import DataSplits
from autoglm_core.types.errors import DataError, ModelLoadError
from autoglm_core.types.schemas import CandidateSpec, TaskSpec, TrainConfig, VariantResult
from autoglm_core.types.task_info import ParseRule

TASK = "image_classification"
PROCESSOR_FILE = "preprocessor_config.json"
PIXEL_RANGE = (0.0, 1.0)

CNN_TRAIN = {"learning_rate": 2e-3, "epochs": 30, "batch_size": 64, "patience": 6, "warmup_ratio": 0.05,
             "early_stopping_metric": "accuracy", "weight_decay": 1e-4}
VIT_TRAIN = {"learning_rate": 1e-3, "epochs": 40, "batch_size": 64, "patience": 8, "warmup_ratio": 0.1,
             "early_stopping_metric": "accuracy", "weight_decay": 0.05}
HF_TRAIN = {"learning_rate": 5e-5, "epochs": 4, "batch_size": 16, "warmup_ratio": 0.1}
ALIASES = {"cnn": "cnn", "small-cnn": "cnn", "vit": "vit", "tiny-vit": "vit"}


# --------------------------------------------------------------------------- processor


class ImageProcessor:
    """Turns images (paths, PIL images, arrays, Examples) into a float tensor (B, C, H, W) in
    [0, 1] at the size and mode the model was trained on."""

    def __init__(self, size: tuple[int, int], mode: str):
        self.size = (int(size[0]), int(size[1]))  # (width, height), as PIL
        self.mode = mode

    @property
    def channels(self) -> int:
        return 1 if self.mode == "L" else 3

    def pixels(self, item: Any) -> Any:
        import numpy as np

        from autoglm_core.tasks.image_classification.images import open_image, to_pixels

        shape = (self.channels, self.size[1], self.size[0])
        meta = getattr(item, "meta", None)
        if isinstance(meta, dict):
            px = meta.get("pixels")
            if px is not None and tuple(np.shape(px)) == shape:
                return np.asarray(px, dtype=np.float32)
            item = meta.get("path") or getattr(item, "file", None)
        if isinstance(item, str | Path):
            im, why = open_image(item)
            if im is None:
                raise DataError(f"{item}: {why}")
            return to_pixels(im, self.size, self.mode)
        if hasattr(item, "mode") and hasattr(item, "size"):  # a PIL image
            return to_pixels(item, self.size, self.mode)
        arr = np.asarray(item, dtype=np.float32)
        if arr.shape == shape:
            return arr
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim == 3 and arr.shape[-1] in (1, 3) and arr.shape[0] not in (1, 3):
            arr = arr.transpose(2, 0, 1)  # HWC -> CHW
        if arr.max(initial=0.0) > 1.0:
            arr = arr / 255.0
        if arr.shape != shape:
            from PIL import Image

            hwc = np.clip(arr.transpose(1, 2, 0) * 255, 0, 255).astype("uint8")
            im = Image.fromarray(hwc[..., 0] if hwc.shape[-1] == 1 else hwc)
            return to_pixels(im, self.size, self.mode)
        return arr

    def __call__(self, images: Any) -> Any:
        import numpy as np
        import torch

        return torch.from_numpy(np.stack([self.pixels(x) for x in images])) if len(images) else \
            torch.zeros((0, self.channels, self.size[1], self.size[0]))

    def to_dict(self) -> dict[str, Any]:
        return {"processor": "autoglm-image", "size": list(self.size), "mode": self.mode,
                "pixel_range": list(PIXEL_RANGE)}

    def save_pretrained(self, directory: str | Path) -> None:
        import json

        (Path(directory) / PROCESSOR_FILE).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> ImageProcessor:
        import json

        path = Path(directory) / PROCESSOR_FILE
        if not path.exists():
            raise ModelLoadError(f"{directory}: no {PROCESSOR_FILE} (the image size and mode the model expects).")
        d = json.loads(path.read_text(encoding="utf-8"))
        return cls(tuple(d["size"]), d["mode"])  # type: ignore[arg-type]


@dataclass
class ImageBuiltModel(BuiltModel):
    """A BuiltModel whose inputs are images; ``tokenizer`` is the :class:`ImageProcessor`."""

    inputs = "pixels"

    def predict_proba(self, images: Any, batch_size: int = 64, max_length: int = 0) -> Any:  # type: ignore[override]
        import numpy as np
        import torch

        self.model.eval()
        device = _device(self.model)
        out = []
        with torch.inference_mode():
            for i in range(0, len(images), batch_size):
                x = self.tokenizer(list(images[i : i + batch_size])).to(device)
                out.append(torch.softmax(self.model(x).float(), -1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)), dtype=np.float32)

    def predict(self, images: Any, batch_size: int = 64, max_length: int = 0) -> list[str]:  # type: ignore[override]
        return [self.labels[i] for i in self.predict_proba(images, batch_size).argmax(1)]


def _device(model: Any) -> Any:
    import torch

    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


# --------------------------------------------------------------------------- training loop (shared)


def train_loop(model: Any, forward: Any, train_batches: Any, n_train: int, val_eval: Any, cfg: TrainConfig, *,
               seed: int, default_lr: float, device: str = "cpu") -> dict[str, Any]:
    """:func:`fit_loop`, returning :meth:`TrainResult.meta`."""
    return fit_loop(model, forward, train_batches, n_train, val_eval, cfg, seed=seed, default_lr=default_lr,
                    device=device).meta()


def fit_loop(model: Any, forward: Any, train_batches: Any, n_train: int, val_eval: Any, cfg: TrainConfig, *,
             seed: int, default_lr: float, device: str = "cpu", on_epoch: Any = None, desc: str = "train") -> Any:
    """A plain torch classifier on the shared loop (cross-entropy, gradients clipped at 1.0, no LoRA).

    ``train_batches(generator)`` yields (inputs dict, labels tensor) batches; ``forward(model,
    inputs)`` returns logits; ``val_eval(model)`` returns (accuracy, macro_f1, loss); it is None (or
    returns None) without a validation split (the last epoch is kept). Returns the loop's TrainResult."""
    import torch
    import torch.nn.functional as F

    from autoglm_core.training.loop import LoopSpec, run_loop

    gen = torch.Generator().manual_seed(seed)

    def batches(epoch: int) -> Any:
        for inputs, y in train_batches(gen):
            yield {**inputs, "labels": y}

    def loss(m: Any, batch: dict[str, Any]) -> Any:
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        return F.cross_entropy(forward(m, inputs), batch["labels"])

    def evaluate(m: Any) -> dict[str, float] | None:
        scored = val_eval(m)
        if scored is None:
            return None
        acc, f1, vloss = scored
        return {"accuracy": acc, "macro_f1": f1, "loss": vloss}

    spec = LoopSpec(train_batches=batches, steps_per_epoch=max(1, math.ceil(n_train / cfg.batch_size)),
                    evaluate=evaluate if val_eval is not None else None, loss=loss, metric="accuracy", peft_task=None,
                    default_lr=default_lr, max_grad_norm=1.0)
    return run_loop(model, spec, cfg, seed=seed, device=device, progress=False, on_epoch=on_epoch, desc=desc)


def batches_of(arrays: dict[str, Any], y: Any, batch_size: int) -> Any:
    """A function gen -> shuffled batches of tensors (used as ``train_batches``)."""
    import torch

    def make(gen: Any) -> Any:
        order = torch.randperm(len(y), generator=gen)
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            if len(idx) < 2 and len(order) > 1:
                continue  # BatchNorm cannot train on a batch of one
            yield {k: v[idx] for k, v in arrays.items()}, y[idx]

    return make


def evaluate_arrays(model: Any, forward: Any, arrays: dict[str, Any], y: Any, n_labels: int,
                    batch_size: int = 256) -> tuple[float, float, float, list[int]]:
    """(accuracy, macro-F1, mean loss, predictions) of a model on tensors."""
    import torch
    import torch.nn.functional as F

    from autoglm_core.training.metrics import classification_metrics

    model.eval()
    device = _device(model)
    preds: list[int] = []
    loss = 0.0
    with torch.inference_mode():
        for s in range(0, len(y), batch_size):
            logits = forward(model, {k: v[s : s + batch_size].to(device) for k, v in arrays.items()}).float()
            loss += float(F.cross_entropy(logits, y[s : s + batch_size].to(device), reduction="sum"))
            preds += logits.argmax(-1).tolist()
    m = classification_metrics(y.tolist(), preds, [str(i) for i in range(n_labels)])
    return m["accuracy"], m["macro_f1"], loss / max(len(y), 1), preds


# --------------------------------------------------------------------------- candidates and builders


def cnn_candidate(name: str = "small-cnn", reason: str = "") -> CandidateSpec:
    return CandidateSpec(name=name, backbone="small-cnn", builder="image-cnn", family="cnn", params_estimate=230_000,
                         reason=reason or "3-block CNN trained from scratch: fast on CPU, strong on small images",
                         train_overrides=CNN_TRAIN)


def vit_candidate(name: str = "tiny-vit", reason: str = "", **options: Any) -> CandidateSpec:
    return CandidateSpec(name=name, backbone="tiny-vit", builder="image-vit", family="vit", params_estimate=110_000,
                         reason=reason or "ViT built from a transformers ViTConfig (2 layers, 64 dims, patch 2-8)",
                         options=options, train_overrides=VIT_TRAIN)


def _in_hf_cache(name: str) -> bool:
    from autoglm_core.models.candidates import in_hf_cache as cached

    return cached(name)


def resolve_image_backbone(name: str, index: int) -> CandidateSpec:
    key = name.strip()
    alias = ALIASES.get(key.lower())
    if alias == "cnn":
        return cnn_candidate(f"c{index}-small-cnn", reason="requested by the user")
    if alias == "vit":
        return vit_candidate(f"c{index}-tiny-vit", reason="requested by the user")
    from autoglm_core.models.candidates import local_or_cached_candidate

    return local_or_cached_candidate(key, index, builder="image-hf", kind="image backbone", aliases=ALIASES,
                                     train_overrides=HF_TRAIN)


def image_candidates(spec: TaskSpec) -> list[CandidateSpec]:
    if spec.backbones:
        return [resolve_image_backbone(b, i).model_copy(update={"requested": True})
                for i, b in enumerate(spec.backbones)]
    return [cnn_candidate(), vit_candidate()]


def _data_shape(context: RunContext) -> tuple[tuple[int, int], str]:
    splits = context.splits if context is not None else None
    size = getattr(splits, "image_size", None)
    mode = getattr(splits, "image_mode", None)
    if size is None or mode is None:
        from autoglm_core.tasks.image_classification.images import pixel_shape

        c, h, w = pixel_shape(splits)
        size, mode = (w, h), ("L" if c == 1 else "RGB")
    return tuple(size), mode  # type: ignore[return-value]


def vit_config(size: tuple[int, int], channels: int, labels: list[str], **options: Any) -> Any:
    from transformers import ViTConfig

    side = max(size)
    patch = options.pop("patch_size", None) or (2 if side <= 16 else 4 if side <= 32 else 8)
    return ViTConfig(
        image_size=side, patch_size=patch, num_channels=channels, hidden_size=options.pop("hidden_size", 64),
        num_hidden_layers=options.pop("num_hidden_layers", 2), num_attention_heads=options.pop("num_attention_heads", 4),
        intermediate_size=options.pop("intermediate_size", 128), hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.0, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={lab: i for i, lab in enumerate(labels)}, **options,
    )


def build_image_model(candidate: CandidateSpec, labels: list[str], size: tuple[int, int], mode: str) -> Any:
    from autoglm_core.tasks.image_classification.nets import ImageClassifier

    channels = 1 if mode == "L" else 3
    base = {"num_labels": len(labels), "labels": list(labels), "channels": channels, "input_size": list(size),
            "pixel_range": list(PIXEL_RANGE)}
    if candidate.builder == "image-cnn":
        # centre pixels: the digits (and most scans) are mostly dark background
        return ImageClassifier({**base, "arch": "cnn", "backbone_channels": channels, "mean": [0.5] * channels,
                                "std": [0.5] * channels, "cnn": dict(candidate.options)})
    if candidate.builder == "image-vit":
        cfg = vit_config(size, channels, labels, **dict(candidate.options))
        return ImageClassifier({**base, "arch": "vit", "backbone_channels": channels, "backbone_size": max(size),
                                "mean": [0.5] * channels, "std": [0.5] * channels, "hf_config": cfg.to_dict()})
    # any Hugging Face image classifier: its own size, channels and normalisation
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    from autoglm_core.models.loading import check_weights

    path = candidate.backbone
    local = Path(path)
    use_safe = check_weights(local, bool(candidate.options.get("allow_pickle"))) if local.is_dir() else True
    try:
        hf = AutoModelForImageClassification.from_pretrained(
            path, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={lab: i for i, lab in enumerate(labels)},
            ignore_mismatched_sizes=True, trust_remote_code=candidate.trust_remote_code, use_safetensors=use_safe)
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"image backbone {candidate.backbone!r}: cannot load it offline: {e}") from None
    mean, std, hf_size = [0.5] * 3, [0.5] * 3, None
    try:
        proc = AutoImageProcessor.from_pretrained(path)
        mean, std = list(proc.image_mean), list(proc.image_std)
        s = proc.size
        hf_size = s.get("height") or s.get("shortest_edge") if isinstance(s, dict) else int(s)
    except Exception:  # no processor saved: use the config's size and [-1, 1] normalisation
        pass
    hf_channels = int(getattr(hf.config, "num_channels", 3))
    hf_size = hf_size or getattr(hf.config, "image_size", None)
    return ImageClassifier({**base, "arch": "hf", "backbone_channels": hf_channels, "backbone_size": hf_size,
                            "mean": mean[:hf_channels], "std": std[:hf_channels], "hf_config": hf.config.to_dict()},
                           backbone=hf)


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
        from autoglm_core.data.load import reconcile_labels
        from autoglm_core.tasks.image_classification.images import load_image_folder

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
        from autoglm_core.tasks.text_classification.plugin import build

        built = build(context, candidate)
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
        from autoglm_core.tasks.text_classification.plugin import variant_result
        from autoglm_core.training.metrics import classification_metrics

        test = context.splits.test
        built = as_image_built(built)
        probs = built.predict_proba(test, batch_size=128)
        index = {lab: i for i, lab in enumerate(built.labels)}
        m = classification_metrics([index[ex.label] for ex in test], probs.argmax(1).tolist(), built.labels)
        cand = built.candidate or CandidateSpec(name="model", backbone="unknown")
        return variant_result(cand, variant, m)

    def latency_inputs(self, context: RunContext, built: BuiltModel) -> list[Any] | None:
        return [ex.meta["pixels"] for ex in context.splits.test]

    @classmethod
    def load_model(cls, directory: Path, meta: dict[str, Any], **_: Any) -> BuiltModel:
        return load_image_model(directory, meta)


def _read_config(directory: Path, fmt: str = "hf") -> dict[str, Any]:
    import json

    from autoglm_core.models.loading import check_weights

    if not (directory / "config.json").exists():
        raise ModelLoadError(f"{directory} has no config.json: it is not a saved Open-AutoGLM model directory.")
    if not check_weights(directory, allow_pickle=False):
        raise ModelLoadError(f"{directory}: no safetensors weights (pickle weights are never loaded for image models).")
    return json.loads((directory / "config.json").read_text(encoding="utf-8"))


def load_image_model(directory: str | Path, meta: dict[str, Any] | None = None) -> ImageBuiltModel:
    """Rebuild a saved image classifier (config.json + model.safetensors + preprocessor_config.json)."""
    from autoglm_core.plugin.components import read_model_meta
    from autoglm_core.tasks.image_classification.nets import ImageClassifier

    directory = Path(directory)
    meta = meta if meta is not None else (read_model_meta(directory) or {})
    fmt = meta.get("format", "hf")
    config = _read_config(directory, fmt)
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
