"""The image backbones: a small CNN, a ViT built from a config, or any local/cached Hugging Face image
classifier; their candidates, recommended training settings and networks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoglm_core.data.image_processor import PIXEL_RANGE
from autoglm_core.types.errors import ModelLoadError
from autoglm_core.types.schemas import CandidateSpec, TaskSpec

CNN_TRAIN = {"learning_rate": 2e-3, "epochs": 30, "batch_size": 64, "patience": 6, "warmup_ratio": 0.05,
             "early_stopping_metric": "accuracy", "weight_decay": 1e-4}
VIT_TRAIN = {"learning_rate": 1e-3, "epochs": 40, "batch_size": 64, "patience": 8, "warmup_ratio": 0.1,
             "early_stopping_metric": "accuracy", "weight_decay": 0.05}
HF_TRAIN = {"learning_rate": 5e-5, "epochs": 4, "batch_size": 16, "warmup_ratio": 0.1}
ALIASES = {"cnn": "cnn", "small-cnn": "cnn", "vit": "vit", "tiny-vit": "vit"}


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
    from autoglm_core.models.vision_nets import ImageClassifier

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
