"""Text in, text out: prompts tokenized as a batch, a registered decoder, the new tokens decoded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from autoglm_core.models.decoding.stepper import GenerationError


def encode_prompts(model: Any, tokenizer: Any, prompts: Sequence[str]) -> tuple[Any, Any]:
    """Tokenize prompts as a batch: left padding for decoder-only models (new tokens must follow
    the last real token of every row), right padding for encoder-decoder models."""
    if isinstance(prompts, str):
        prompts = [prompts]
    if not prompts or any(not isinstance(p, str) or not p for p in prompts):
        raise GenerationError("every prompt must be a non-empty string.")
    enc_dec = bool(getattr(model.config, "is_encoder_decoder", False))
    side = tokenizer.padding_side
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right" if enc_dec else "left"
    try:
        enc = tokenizer(list(prompts), padding=True, return_tensors="pt")
    finally:
        tokenizer.padding_side = side
    try:
        device = next(model.parameters()).device
    except StopIteration:  # pragma: no cover
        import torch

        device = torch.device("cpu")
    return enc["input_ids"].to(device), enc["attention_mask"].to(device)


def new_tokens(model: Any, sequences: Any, prompt_len: int) -> Any:
    """The generated part of ``decode``'s output."""
    if getattr(model.config, "is_encoder_decoder", False):
        return sequences[:, 1:]
    return sequences[:, prompt_len:]


def generate_text(model: Any, tokenizer: Any, prompts: Sequence[str] | str, decoder: str | Any = "greedy",
                  **options: Any) -> list[str]:
    """Generate a continuation of every prompt with a registered decoder (name or instance)."""
    dec = get_decoder(decoder, options)
    input_ids, mask = encode_prompts(model, tokenizer, prompts)
    out = dec.decode(model, input_ids, mask)
    gen = new_tokens(model, out, input_ids.shape[1])
    return tokenizer.batch_decode(gen, skip_special_tokens=True)


def get_decoder(decoder: str | Any, options: dict[str, Any] | None = None) -> Any:
    if not isinstance(decoder, str):
        return decoder
    from autoglm_core.plugin.manager import get_manager

    cls = get_manager().registry("decoder").get(decoder)
    return cls(options=options or {})
