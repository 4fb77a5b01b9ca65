"""One model step at a time over a growing sequence, with the KV cache; the special tokens and the
checks that give a clear error before the model would fail."""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any

from autoglm_core.types.errors import ConfigError


class GenerationError(ConfigError):
    """Generation cannot run with these inputs (prompt too long, empty prompt, ...)."""


def _token_ids(value: Any) -> list[int]:
    if value is None:
        return []
    if isinstance(value, int):
        return [value]
    return [int(v) for v in value]


@dataclass
class SpecialTokens:
    eos: list[int]
    pad: int | None
    decoder_start: int | None

    @classmethod
    def of(cls, model: Any, eos_token_id: Any = None, pad_token_id: Any = None) -> SpecialTokens:
        gen = getattr(model, "generation_config", None)
        cfg = model.config
        eos = _token_ids(eos_token_id if eos_token_id is not None else getattr(gen, "eos_token_id", None))
        if not eos:
            eos = _token_ids(getattr(cfg, "eos_token_id", None))
        pad = pad_token_id if pad_token_id is not None else getattr(gen, "pad_token_id", None)
        if pad is None:
            pad = getattr(cfg, "pad_token_id", None)
        if pad is None and eos:  # what generate() does (with a warning)
            pad = eos[0]
        start = getattr(gen, "decoder_start_token_id", None)
        if start is None:
            start = getattr(cfg, "decoder_start_token_id", None)
        if start is None:
            start = getattr(gen, "bos_token_id", None)
        return cls(eos, pad, start)


def context_length(model: Any) -> int | None:
    """The longest sequence a decoder-only model can attend to, or None (relative positions)."""
    cfg = model.config
    if getattr(cfg, "is_encoder_decoder", False):
        return None
    for attr in ("n_positions", "max_position_embeddings", "n_ctx", "seq_length"):
        value = getattr(cfg, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def check_inputs(model: Any, input_ids: Any, max_new_tokens: int) -> None:
    """Clear errors for what would otherwise fail deep inside the model."""
    if max_new_tokens is None or int(max_new_tokens) <= 0:
        raise GenerationError(f"max_new_tokens must be a positive integer, got {max_new_tokens!r}.")
    if input_ids.dim() != 2 or input_ids.shape[1] == 0:
        raise GenerationError(
            f"the prompt is empty (input_ids of shape {tuple(input_ids.shape)}): give at least one token."
        )
    limit = context_length(model)
    if limit is None:
        return
    prompt_len = int(input_ids.shape[1])
    if prompt_len >= limit:
        raise GenerationError(
            f"the prompt has {prompt_len} tokens but the model's context is {limit} tokens: shorten the "
            f"prompt (or truncate it) so that it leaves room for the new tokens."
        )
    if prompt_len + int(max_new_tokens) > limit:
        raise GenerationError(
            f"the prompt has {prompt_len} tokens and max_new_tokens is {max_new_tokens}, which exceeds the "
            f"model's context of {limit} tokens: use max_new_tokens <= {limit - prompt_len} or a shorter prompt."
        )


def _new_cache(model: Any) -> Any:
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    cfg = model.config

    def make() -> Any:
        try:
            return DynamicCache(config=cfg.get_text_config(decoder=True))
        except TypeError:  # older transformers without the config argument
            return DynamicCache()

    if getattr(cfg, "is_encoder_decoder", False):
        return EncoderDecoderCache(make(), make())
    return make()


def _can_repeat(cache: Any) -> bool:
    return callable(getattr(cache, "batch_repeat_interleave", None))


@functools.lru_cache(maxsize=64)
def _function_params(function: Any) -> frozenset[str]:
    return frozenset(inspect.signature(function).parameters)


def _forward_params(model: Any) -> frozenset[str]:
    """The keyword names ``model.forward`` takes. inspect.signature costs ~0.1 ms per call, so the
    answer is cached per class function; a forward replaced on the instance (accelerate hooks) is
    inspected every time, as caching it would keep the model alive."""
    forward = model.forward
    function = getattr(forward, "__func__", None)
    if function is not None and getattr(forward, "__self__", None) is model:
        return _function_params(function)
    return frozenset(inspect.signature(forward).parameters)


class Stepper:
    """Runs the model one step at a time over a growing sequence, keeping the KV cache.

    ``expand`` repeats every row (beam search) the way ``generate`` does: decoder-only prompts are
    expanded before the prefill; encoder outputs are computed once and then expanded.
    """

    def __init__(self, model: Any, input_ids: Any, attention_mask: Any = None, expand: int = 1,
                 tokens: SpecialTokens | None = None):
        import torch

        self.model = model
        self.enc_dec = bool(getattr(model.config, "is_encoder_decoder", False))
        params = _forward_params(model)
        self._extra: dict[str, Any] = {}
        if "logits_to_keep" in params:
            self._extra["logits_to_keep"] = 1
        self._positions = (not self.enc_dec) and "position_ids" in params
        device = input_ids.device
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        self.cache = _new_cache(model)
        if self.enc_dec:
            tokens = tokens or SpecialTokens.of(model)
            if tokens.decoder_start is None:
                raise GenerationError("the encoder-decoder model has no decoder_start_token_id in its config.")
            encoder = model.get_encoder()
            enc = encoder(input_ids=input_ids, attention_mask=attention_mask, return_dict=True)
            if expand > 1:
                enc["last_hidden_state"] = enc.last_hidden_state.repeat_interleave(expand, dim=0)
                attention_mask = attention_mask.repeat_interleave(expand, dim=0)
            self.encoder_outputs = enc
            self.mask = attention_mask
            rows = input_ids.shape[0] * expand
            self.sequences = torch.full((rows, 1), tokens.decoder_start, dtype=torch.long, device=device)
        else:
            # the prefill runs once per prompt and its cache is then repeated for the beams (generate
            # runs it on every beam's copy of the same prompt: num_beams times the prefill work)
            self._prefill = (input_ids, attention_mask) if expand > 1 and _can_repeat(self.cache) else None
            self._expand = expand
            if expand > 1:
                input_ids = input_ids.repeat_interleave(expand, dim=0)
                attention_mask = attention_mask.repeat_interleave(expand, dim=0)
            self.sequences = input_ids
            self.mask = attention_mask
        self.prompt_len = self.sequences.shape[1]
        self.cache_position = torch.arange(self.prompt_len, device=device)

    def prefill(self) -> Any:
        """Logits (float32, rows x vocab) for the next token after the prompt."""
        if self.enc_dec:
            out = self.model(encoder_outputs=self.encoder_outputs, attention_mask=self.mask,
                             decoder_input_ids=self.sequences, past_key_values=self.cache, use_cache=True,
                             cache_position=self.cache_position, return_dict=True, **self._extra)
        else:
            ids, mask = self._prefill if self._prefill is not None else (self.sequences, self.mask)
            kwargs = dict(self._extra)
            if self._positions:
                pos = mask.long().cumsum(-1) - 1
                pos.masked_fill_(mask == 0, 1)
                kwargs["position_ids"] = pos
            out = self.model(input_ids=ids, attention_mask=mask, past_key_values=self.cache,
                             use_cache=True, cache_position=self.cache_position, return_dict=True, **kwargs)
            if self._prefill is not None:
                self._prefill = None
                self.cache.batch_repeat_interleave(self._expand)
                return self._last_logits(out).repeat_interleave(self._expand, dim=0)
        return self._last_logits(out)

    def step(self, next_tokens: Any) -> Any:
        """Feed one new token per row; returns the logits of the token after it."""
        import torch

        new = next_tokens[:, None]
        self.cache_position = self.cache_position[-1:] + 1
        if self.enc_dec:
            out = self.model(encoder_outputs=self.encoder_outputs, attention_mask=self.mask, decoder_input_ids=new,
                             past_key_values=self.cache, use_cache=True, cache_position=self.cache_position,
                             return_dict=True, **self._extra)
        else:
            self.mask = torch.cat([self.mask, self.mask.new_ones((self.mask.shape[0], 1))], dim=-1)
            kwargs = dict(self._extra)
            if self._positions:
                # == (cumsum(mask) - 1)[:, -1:], what generate computes over the whole mask
                kwargs["position_ids"] = self.mask.long().sum(-1, keepdim=True) - 1
            out = self.model(input_ids=new, attention_mask=self.mask, past_key_values=self.cache, use_cache=True,
                             cache_position=self.cache_position, return_dict=True, **kwargs)
        return self._last_logits(out)

    def reorder(self, beam_idx: Any) -> None:
        if hasattr(self.model, "_reorder_cache"):
            self.cache = self.model._reorder_cache(self.cache, beam_idx)
        else:
            self.cache.reorder_cache(beam_idx)

    @staticmethod
    def _last_logits(out: Any) -> Any:
        import torch

        logits = out.logits
        # with logits_to_keep=1 the model returns one position: use it as is (no rows x vocab copy
        # per step); without it, copy the last position so the prompt-long prefill logits are freed
        return logits[:, -1, :].to(copy=logits.shape[1] > 1, dtype=torch.float32)
