"""Sentence encoders shared by several users: the prepared ``me5-small`` loaded once per process,
and the mean-pooled embedding that the zero-shot scorer, the description parser and label matching
compute with an encoder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from autoglm_core.models.embedded import prepared_path

_ENCODER: dict[str, tuple[Any, Any]] = {}


def load_me5_encoder() -> tuple[Any, Any]:
    """The prepared ``me5-small`` as a bare encoder (no pooler, eval mode) and its tokenizer, loaded
    once per process and shared by its users (the parser's prototypes, the frozen-encoder head):
    one copy of the 118M parameters instead of one per user. Prepares it first when needed."""
    if "me5-small" not in _ENCODER:
        from transformers import AutoTokenizer, XLMRobertaModel
        from transformers.utils import logging as hf_logging

        path = prepared_path("me5-small")
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # a tokenizer-regex notice meant for another model family
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = XLMRobertaModel.from_pretrained(path, add_pooling_layer=False, use_safetensors=True).eval()
        finally:
            hf_logging.set_verbosity(verbosity)
        _ENCODER["me5-small"] = (model, tokenizer)
    return _ENCODER["me5-small"]


def mean_pooled(encoder: Any, tokenizer: Any, texts: Sequence[str], batch_size: int = 64, max_length: int = 128) -> Any:
    """L2-normalised mean of ``encoder``'s last hidden states over each text's tokens (a torch
    tensor, one row per text): the zero-shot scorer's and the parser's sentence embedding."""
    import torch

    chunks = []
    device = next(encoder.parameters()).device
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            enc = tokenizer(list(texts[i : i + batch_size]), padding=True, truncation=True, max_length=max_length,
                            return_tensors="pt").to(device)
            hidden = encoder(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            chunks.append(torch.nn.functional.normalize(pooled, dim=-1))
    return torch.cat(chunks) if chunks else torch.zeros(0)
