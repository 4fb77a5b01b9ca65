"""The text + image model: a word vocabulary for the text, the processor that turns (text, image) pairs
into tensors, the built model that predicts on them, and building or reloading the fusion network."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoglm_core.data.image_processor import ImageProcessor
from autoglm_core.plugin.components import BuiltModel
from autoglm_core.training.torch_classifier import model_device
from autoglm_core.types.data import Example
from autoglm_core.types.errors import ModelLoadError
from autoglm_core.types.schemas import CandidateSpec

TASK = "multimodal_classification"
VOCAB_FILE = "vocab.json"
MODEL_DEFAULTS = {"dim": 64, "layers": 1, "heads": 4, "dropout": 0.1}


TOKEN_RE = re.compile(r"[\u4e00-\u9fff]|[^\W_]+|[^\w\s]", re.UNICODE)


class TextVocab:
    """Words (one token per Chinese character) seen at least twice in training; 0 = pad, 1 = unknown."""

    def __init__(self, tokens: list[str]):
        self.itos = ["[PAD]", "[UNK]", *tokens]
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    @staticmethod
    def tokenize(text: str) -> list[str]:
        return TOKEN_RE.findall(text.lower())

    @classmethod
    def build(cls, texts: list[str], min_count: int = 1, max_size: int = 20000) -> TextVocab:
        counts = Counter(t for text in texts for t in cls.tokenize(text))
        return cls([t for t, n in counts.most_common(max_size) if n >= min_count])

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, texts: list[str], max_length: int) -> tuple[Any, Any]:
        import torch

        ids = [[self.stoi.get(t, 1) for t in self.tokenize(x)][:max_length] or [1] for x in texts]
        width = max((len(i) for i in ids), default=1)
        input_ids = torch.zeros((len(ids), width), dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for r, row in enumerate(ids):
            input_ids[r, : len(row)] = torch.tensor(row)
            mask[r, : len(row)] = 1
        return input_ids, mask


class MultimodalProcessor:
    """Texts -> input_ids/attention_mask; images -> pixel_values (see :class:`ImageProcessor`)."""

    def __init__(self, vocab: TextVocab, image: ImageProcessor, max_length: int):
        self.vocab, self.image, self.max_length = vocab, image, max_length

    def __call__(self, items: list[Any]) -> dict[str, Any]:
        texts = [x.text if isinstance(x, Example) else x[0] for x in items]
        images = [x if isinstance(x, Example) else x[1] for x in items]
        ids, mask = self.vocab.encode(texts, self.max_length)
        return {"input_ids": ids, "attention_mask": mask, "pixel_values": self.image(images)}

    def save_pretrained(self, directory: str | Path) -> None:
        self.image.save_pretrained(directory)
        (Path(directory) / VOCAB_FILE).write_text(json.dumps({"tokens": self.vocab.itos[2:],
                                                               "max_length": self.max_length}, ensure_ascii=False),
                                                  encoding="utf-8")

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> MultimodalProcessor:
        path = Path(directory) / VOCAB_FILE
        if not path.exists():
            raise ModelLoadError(f"{directory}: no {VOCAB_FILE} (the text vocabulary of the model).")
        d = json.loads(path.read_text(encoding="utf-8"))
        return cls(TextVocab(d["tokens"]), ImageProcessor.from_pretrained(directory), int(d["max_length"]))


@dataclass
class MultimodalBuiltModel(BuiltModel):
    """Inputs are Examples (text + ``meta`` image) or (text, image) pairs; ``tokenizer`` is the
    :class:`MultimodalProcessor`."""

    inputs = "text+image"

    def predict_proba(self, items: Any, batch_size: int = 64, max_length: int = 0) -> Any:  # type: ignore[override]
        import numpy as np
        import torch

        self.model.eval()
        device = model_device(self.model)
        out = []
        with torch.inference_mode():
            for i in range(0, len(items), batch_size):
                batch = {k: v.to(device) for k, v in self.tokenizer(list(items[i : i + batch_size])).items()}
                out.append(torch.softmax(self.model(**batch).float(), -1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)), dtype=np.float32)

    def predict(self, items: Any, batch_size: int = 64, max_length: int = 0) -> list[str]:  # type: ignore[override]
        return [self.labels[i] for i in self.predict_proba(items, batch_size).argmax(1)]


def build_fusion(fusion: str, labels: list[str], vocab: TextVocab, channels: int, max_length: int,
                 options: dict[str, Any]) -> Any:
    from autoglm_core.models.vision_nets import FusionClassifier

    cfg = {**MODEL_DEFAULTS, **{k: v for k, v in options.items() if k in MODEL_DEFAULTS}}
    return FusionClassifier({**cfg, "fusion": fusion, "num_labels": len(labels), "labels": list(labels),
                             "vocab_size": len(vocab), "channels": channels, "max_length": max_length,
                             "pixel_range": [0.0, 1.0]})


def load_multimodal_model(directory: str | Path, meta: dict[str, Any] | None = None) -> MultimodalBuiltModel:
    from autoglm_core.models.vision_nets import FusionClassifier, read_saved_config
    from autoglm_core.plugin.components import load_weights, read_model_meta

    directory = Path(directory)
    meta = meta if meta is not None else (read_model_meta(directory) or {})
    config = read_saved_config(directory)
    try:
        model = load_weights(FusionClassifier(config), directory, meta)
    except (RuntimeError, KeyError, ValueError) as e:
        raise ModelLoadError(f"{directory}: the weights do not match config.json: {e}") from None
    cand = meta.get("candidate")
    return MultimodalBuiltModel(model=model, tokenizer=MultimodalProcessor.from_pretrained(directory),
                                labels=list(meta.get("labels") or config["labels"]), task_type=TASK,
                                candidate=CandidateSpec.model_validate(cand) if cand else None,
                                variant=meta.get("variant", "fine-tuned"), format="hf", meta=meta.get("meta", {}))
