"""Torch modules for image and text+image classification (imported lazily: torch at import).

Every image model takes ``pixel_values`` in [0, 1], shape (batch, channels, height, width) of the
data (what :mod:`autoglm_core.data.images` produces) and returns logits. Normalisation, resizing
and channel changes that a backbone needs happen inside ``forward``, so they are differentiable:
an FGSM attack perturbs the real pixels and clamps to [0, 1].

Saving is ``save_pretrained(dir)``: ``config.json`` (architecture, rebuilt without pickle) plus
``model.safetensors``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

WEIGHTS = "model.safetensors"
CONFIG = "config.json"


class SmallCNN(nn.Module):
    """Three 3x3 conv blocks (BatchNorm, ReLU), adaptive pooling to 4x4, a 128-unit head.
    About 0.2M parameters; any input size works (8x8 digits up to 64x64)."""

    def __init__(self, channels: int, num_labels: int, width: int = 32, dropout: float = 0.25):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(channels, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(2 * w * 16, 128), nn.ReLU(),
                                  nn.Dropout(dropout), nn.Linear(128, num_labels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class ImageClassifier(nn.Module):
    """Wraps a backbone (``cnn``, ``vit`` from a ViTConfig, or ``hf``: any
    AutoModelForImageClassification) behind one ``forward(pixel_values) -> logits``."""

    def __init__(self, config: dict[str, Any], backbone: nn.Module | None = None):
        super().__init__()
        self.config = VisionConfig(config)
        c = self.config
        arch = c["arch"]
        if backbone is not None:
            self.backbone = backbone
        elif arch == "cnn":
            self.backbone = SmallCNN(c["channels"], c["num_labels"], **c.get("cnn", {}))
        elif arch in ("vit", "hf"):
            from transformers import AutoModelForImageClassification
            from transformers.models.auto.configuration_auto import CONFIG_MAPPING

            hf_cfg = dict(c["hf_config"])
            config_cls = CONFIG_MAPPING[hf_cfg["model_type"]]
            self.backbone = AutoModelForImageClassification.from_config(config_cls.from_dict(hf_cfg))
        else:
            raise ValueError(f"unknown image architecture {arch!r}")
        mean = torch.tensor(c.get("mean", [0.0] * c["backbone_channels"]), dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(c.get("std", [1.0] * c["backbone_channels"]), dtype=torch.float32).view(1, -1, 1, 1)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def adapt(self, x: torch.Tensor) -> torch.Tensor:
        """Data pixels -> what the backbone expects (channels, size, normalisation)."""
        c = self.config
        if x.dim() == 3:
            x = x.unsqueeze(0)
        if x.shape[1] != c["backbone_channels"]:
            x = x.expand(-1, c["backbone_channels"], -1, -1) if x.shape[1] == 1 else x.mean(1, keepdim=True)
        size = c.get("backbone_size")
        if size and tuple(x.shape[-2:]) != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return (x - self.mean) / self.std

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        out = self.backbone(self.adapt(pixel_values)) if self.config["arch"] == "cnn" else \
            self.backbone(pixel_values=self.adapt(pixel_values))
        return out.logits if hasattr(out, "logits") else out

    def save_pretrained(self, directory: str | Path, safe_serialization: bool = True) -> None:
        from safetensors.torch import save_model

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.config.save_pretrained(directory)
        save_model(self, str(directory / WEIGHTS))


class VisionConfig(dict):
    """A plain JSON config with ``save_pretrained`` (so the int8 compressor and tools that call
    ``model.config.save_pretrained`` work)."""

    def save_pretrained(self, directory: str | Path) -> None:
        (Path(directory) / CONFIG).write_text(json.dumps(dict(self), indent=2, ensure_ascii=False) + "\n",
                                              encoding="utf-8")

    def to_dict(self) -> dict[str, Any]:
        return dict(self)


# --------------------------------------------------------------------------- text + image


class TextEncoder(nn.Module):
    """Token embeddings + learned positions + a small Transformer encoder: one vector per token."""

    def __init__(self, vocab_size: int, dim: int, layers: int, heads: int, max_length: int, dropout: float):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.pos = nn.Embedding(max_length, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, dim * 2, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(input_ids.shape[1], device=input_ids.device)
        h = self.embed(input_ids) + self.pos(pos)[None]
        h = self.encoder(h, src_key_padding_mask=attention_mask == 0)
        return self.norm(h)


class ImageEncoder(nn.Module):
    """Conv blocks -> a grid of feature vectors, one image "token" per cell."""

    def __init__(self, channels: int, dim: int, grid: int = 4):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, dim, 3, padding=1), nn.BatchNorm2d(dim), nn.ReLU(),
            nn.AdaptiveAvgPool2d(grid),
        )
        self.pos = nn.Parameter(torch.zeros(1, grid * grid, dim))
        self.norm = nn.LayerNorm(dim)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        f = self.net(pixel_values)  # (B, D, g, g)
        return self.norm(f.flatten(2).transpose(1, 2) + self.pos)  # (B, g*g, D)


class CrossAttention(nn.Module):
    """Text queries attend to image features: softmax(Q K^T / sqrt(d_k)) V, several heads."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads, self.d_k = heads, dim // heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, text: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, d = text.shape
        n = image.shape[1]
        q = self.q(text).view(b, t, self.heads, self.d_k).transpose(1, 2)
        k = self.k(image).view(b, n, self.heads, self.d_k).transpose(1, 2)
        v = self.v(image).view(b, n, self.heads, self.d_k).transpose(1, 2)
        # scaling by sqrt(d_k) keeps the logits' variance ~1 so the softmax does not saturate
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.d_k), dim=-1)  # (B, H, T, N)
        out = (weights @ v).transpose(1, 2).reshape(b, t, d)
        return self.o(out), weights


class GatedFusion(nn.Module):
    """g = sigmoid(W [h_text; h_image]); h = g * h_text + (1 - g) * h_image (per dimension)."""

    def __init__(self, dim: int):
        super().__init__()
        self.w = nn.Linear(2 * dim, dim)

    def forward(self, h_text: torch.Tensor, h_image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.sigmoid(self.w(torch.cat([h_text, h_image], dim=-1)))
        return g * h_text + (1 - g) * h_image, g


FUSIONS = ("gated-xattn", "concat", "text", "image")


class FusionClassifier(nn.Module):
    """Text + image classifier with one of four fusions (the ablation):

    * ``text``: text encoder only; ``image``: image encoder only;
    * ``concat``: [mean text; mean image] -> MLP (late fusion, no interaction before the head);
    * ``gated-xattn``: text tokens attend to image cells (cross-attention); the attended image
      summary ``h_image`` and the text summary ``h_text`` are mixed by the gate.
    """

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        self.config = VisionConfig(config)
        c = self.config
        dim, fusion = c["dim"], c["fusion"]
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; one of {FUSIONS}")
        self.text = TextEncoder(c["vocab_size"], dim, c["layers"], c["heads"], c["max_length"], c["dropout"]) \
            if fusion != "image" else None
        self.image = ImageEncoder(c["channels"], dim) if fusion != "text" else None
        self.cross = CrossAttention(dim, c["heads"]) if fusion == "gated-xattn" else None
        self.gate = GatedFusion(dim) if fusion == "gated-xattn" else None
        in_dim = 2 * dim if fusion == "concat" else dim
        self.head = nn.Sequential(nn.Linear(in_dim, dim), nn.GELU(), nn.Dropout(c["dropout"]),
                                  nn.Linear(dim, c["num_labels"]))

    @staticmethod
    def _mean(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(-1).to(h.dtype)
        return (h * m).sum(1) / m.sum(1).clamp(min=1.0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, pixel_values: torch.Tensor) -> torch.Tensor:
        fusion = self.config["fusion"]
        if fusion == "image":
            return self.head(self.image(pixel_values).mean(1))
        t = self.text(input_ids, attention_mask)
        h_text = self._mean(t, attention_mask)
        if fusion == "text":
            return self.head(h_text)
        img = self.image(pixel_values)
        if fusion == "concat":
            return self.head(torch.cat([h_text, img.mean(1)], dim=-1))
        attended, _ = self.cross(t, img)
        h_image = self._mean(attended, attention_mask)  # what each word found in the image, pooled
        h, _ = self.gate(h_text, h_image)
        return self.head(h)

    def save_pretrained(self, directory: str | Path, safe_serialization: bool = True) -> None:
        from safetensors.torch import save_model

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.config.save_pretrained(directory)
        save_model(self, str(directory / WEIGHTS))


def load_weights(model: nn.Module, directory: str | Path) -> nn.Module:
    from safetensors.torch import load_model

    load_model(model, str(Path(directory) / WEIGHTS))
    return model.eval()


def read_saved_config(directory: Path) -> dict[str, Any]:
    """config.json of a saved image or fusion net, refusing a directory without safetensors weights."""
    from autoglm_core.models.loading import check_weights
    from autoglm_core.types.errors import ModelLoadError

    if not (directory / "config.json").exists():
        raise ModelLoadError(f"{directory} has no config.json: it is not a saved Open-AutoGLM model directory.")
    if not check_weights(directory, allow_pickle=False):
        raise ModelLoadError(f"{directory}: no safetensors weights (pickle weights are never loaded for image models).")
    return json.loads((directory / "config.json").read_text(encoding="utf-8"))
