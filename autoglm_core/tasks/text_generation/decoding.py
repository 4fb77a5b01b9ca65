"""Autoregressive decoding P(x_t | x_<t) with a KV cache: greedy, beam search and sampling.

The loops mirror the algorithms of ``transformers``' ``GenerationMixin`` (4.5x) step for step, so
that with the same settings they return token-identical output (greedy, beam) and consume random
numbers the same way (sampling: ``torch.multinomial`` on the processed probabilities, one call per
step). They are leaner: model inputs are prepared once per step without signature inspection or
generic processor lists, which is where ``generate`` spends its per-step overhead.

Decoder-only models take left-padded batches (``attention_mask`` marks the padding); encoder-decoder
models (T5) run the encoder once and decode from ``decoder_start_token_id``. Both return what
``model.generate`` returns: decoder-only ``(batch, prompt + new)``, encoder-decoder ``(batch, 1 + new)``.

The registered components (``greedy``, ``beam``, ``sample``) live in
:mod:`autoglm_core.tasks.text_generation.decoders`; :func:`generate_text` is the convenience entry point used by
the CLI and the code assistant.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from autoglm_core.types.errors import ConfigError


class GenerationError(ConfigError):
    """Generation cannot run with these inputs (prompt too long, empty prompt, ...)."""


# --------------------------------------------------------------------------- model stepping


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


# --------------------------------------------------------------------------- logits processing


def apply_repetition_penalty(sequences: Any, scores: Any, penalty: float) -> Any:
    import torch

    score = torch.gather(scores, 1, sequences)
    score = torch.where(score < 0, score * penalty, score / penalty)
    return scores.scatter(1, sequences, score)


def apply_top_k(scores: Any, top_k: int) -> Any:
    import torch

    k = min(max(top_k, 1), scores.size(-1))
    kth = torch.topk(scores, k)[0][..., -1, None]
    return scores.masked_fill(scores < kth, -float("inf"))


def apply_top_p(scores: Any, top_p: float) -> Any:
    import torch

    sorted_logits, sorted_indices = torch.sort(scores, descending=False)
    cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove = cumulative <= (1 - top_p)
    remove[..., -1:] = 0  # always keep the most likely token
    remove = remove.scatter(1, sorted_indices, remove)
    return scores.masked_fill(remove, -float("inf"))


@dataclass
class SamplingSettings:
    temperature: float = 1.0
    top_k: int = 50
    top_p: float = 1.0
    repetition_penalty: float = 1.0

    def process(self, sequences: Any, scores: Any) -> Any:
        # the order of generate(): repetition penalty, then temperature, top-k, top-p
        if self.repetition_penalty != 1.0:
            scores = apply_repetition_penalty(sequences, scores, self.repetition_penalty)
        if self.temperature != 1.0:
            scores = scores / self.temperature
        if self.top_k:
            scores = apply_top_k(scores, self.top_k)
        if self.top_p < 1.0:
            scores = apply_top_p(scores, self.top_p)
        return scores


# --------------------------------------------------------------------------- greedy and sampling


def iterate_tokens(model: Any, input_ids: Any, attention_mask: Any = None, *, max_new_tokens: int,
                   sampling: SamplingSettings | None = None, eos_token_id: Any = None,
                   pad_token_id: Any = None) -> Iterator[tuple[Any, Any]]:
    """Greedy (``sampling is None``) or multinomial sampling, one step at a time.

    Yields ``(next_tokens, sequences)`` after each step: the new token of every row (finished rows
    get the pad token, as in ``generate``) and the sequences so far.
    """
    import torch

    check_inputs(model, input_ids, max_new_tokens)
    tokens = SpecialTokens.of(model, eos_token_id, pad_token_id)
    with torch.inference_mode():
        stepper = Stepper(model, input_ids, attention_mask, tokens=tokens)
        sequences = stepper.sequences
        unfinished = torch.ones(sequences.shape[0], dtype=torch.long, device=sequences.device)
        eos = torch.tensor(tokens.eos, device=sequences.device) if tokens.eos else None
        logits = stepper.prefill()
        for step in range(max_new_tokens):
            if sampling is not None:
                scores = sampling.process(sequences, logits)
                probs = torch.softmax(scores, dim=-1)
                next_tokens = torch.multinomial(probs, num_samples=1).squeeze(1)
            else:
                next_tokens = torch.argmax(logits, dim=-1)
            if eos is not None:
                next_tokens = next_tokens * unfinished + tokens.pad * (1 - unfinished)
            sequences = torch.cat([sequences, next_tokens[:, None]], dim=-1)
            yield next_tokens, sequences
            if eos is not None:
                unfinished = unfinished & ~torch.isin(next_tokens, eos)
                if unfinished.max() == 0:
                    return
            if step + 1 < max_new_tokens:
                logits = stepper.step(next_tokens)


# --------------------------------------------------------------------------- beam search


def _gather(tensor: Any, indices: Any) -> Any:
    import torch

    while indices.dim() < tensor.dim():
        indices = indices.unsqueeze(-1)
    return torch.take_along_dim(tensor, indices, dim=1)


def beam_search(model: Any, input_ids: Any, attention_mask: Any = None, *, max_new_tokens: int,
                num_beams: int = 4, length_penalty: float = 1.0, early_stopping: bool | str = False,
                num_return_sequences: int = 1, eos_token_id: Any = None, pad_token_id: Any = None) -> Any:
    """Beam search with the semantics of ``generate(num_beams=...)`` (transformers 4.5x): keep the
    top ``2 * num_beams`` continuations per step so that finished hypotheses never starve the live
    beams, score finished ones by ``sum log p / new_length ** length_penalty``, and stop per
    ``early_stopping`` (True: when ``num_beams`` hypotheses are done; False: when no live beam can
    beat the worst finished one at the current length; "never": at the best reachable length)."""
    import torch

    check_inputs(model, input_ids, max_new_tokens)
    if num_beams < 1:
        raise GenerationError(f"num_beams must be >= 1, got {num_beams}.")
    if not 1 <= num_return_sequences <= num_beams:
        raise GenerationError(
            f"num_return_sequences ({num_return_sequences}) must be between 1 and num_beams ({num_beams})."
        )
    tokens = SpecialTokens.of(model, eos_token_id, pad_token_id)
    batch = input_ids.shape[0]
    with torch.inference_mode():
        stepper = Stepper(model, input_ids, attention_mask, expand=num_beams, tokens=tokens)
        device = stepper.sequences.device
        cur_len = prompt_len = stepper.prompt_len
        max_length = prompt_len + max_new_tokens
        eos = torch.tensor(tokens.eos, device=device) if tokens.eos else None
        beams_to_keep = max(2, 1 + len(tokens.eos)) * num_beams
        top_mask = torch.zeros(beams_to_keep, dtype=torch.bool, device=device)
        top_mask[:num_beams] = True

        # generate() fills with `pad or eos[0]` (a pad id of 0 is falsy there), -1 without EOS
        fill = (tokens.pad or tokens.eos[0]) if tokens.eos else -1
        running = torch.full((batch, num_beams, max_length), fill, dtype=torch.long, device=device)
        running[:, :, :cur_len] = stepper.sequences.view(batch, num_beams, -1)
        finished_seqs = running.clone()
        running_scores = torch.zeros((batch, num_beams), dtype=torch.float, device=device)
        running_scores[:, 1:] = -1e9  # only the first beam expands at step one
        finished_scores = torch.full((batch, num_beams), -1e9, dtype=torch.float, device=device)
        is_finished = torch.zeros((batch, num_beams), dtype=torch.bool, device=device)
        can_improve = torch.ones((batch, 1), dtype=torch.bool, device=device)
        running_idx = torch.full((batch, num_beams, max_new_tokens), -1, dtype=torch.int32, device=device)
        finished_idx = running_idx.clone()
        batch_offset = torch.arange(batch, device=device).view(-1, 1) * num_beams

        logits = stepper.prefill()
        while True:
            log_probs = torch.log_softmax(logits, dim=-1)
            vocab = log_probs.shape[-1]
            log_probs = log_probs.view(batch, num_beams, vocab) + running_scores[:, :, None]
            log_probs = log_probs.reshape(batch, num_beams * vocab)

            # top-K continuations over all beams of each batch item
            topk_scores, topk_indices = torch.topk(log_probs, k=beams_to_keep)
            src_beam = topk_indices // vocab
            topk_ids = topk_indices % vocab
            topk_idx = _gather(running_idx, src_beam)
            topk_seqs = _gather(running, src_beam)
            topk_seqs[:, :, cur_len] = topk_ids
            topk_idx[:, :, cur_len - prompt_len] = (src_beam + batch_offset).to(topk_idx.dtype)

            # which continuations stop here (EOS or the length limit)
            if cur_len + 1 >= max_length:
                hits = torch.ones((batch, beams_to_keep), dtype=torch.bool, device=device)
            elif eos is not None:
                hits = torch.isin(topk_ids, eos)
            else:
                hits = torch.zeros((batch, beams_to_keep), dtype=torch.bool, device=device)

            # live beams for the next step: the best num_beams that did not stop
            live_scores = topk_scores + hits.to(torch.float32) * -1.0e9
            next_top = torch.topk(live_scores, k=num_beams)[1]
            running = _gather(topk_seqs, next_top)
            running_scores = _gather(live_scores, next_top)
            running_idx = _gather(topk_idx, next_top)

            # finished hypotheses: merge those that just stopped (among the top num_beams) into the pool
            just_done = hits & top_mask[None, :]
            scored = topk_scores / ((cur_len + 1 - prompt_len) ** length_penalty)
            full = torch.all(is_finished, dim=-1, keepdim=True) & (early_stopping is True)
            scored = scored + full.to(torch.float32) * -1.0e9
            scored = scored + (~can_improve).to(torch.float32) * -1.0e9
            scored = scored + (~just_done) * -1.0e9
            merged_scores = torch.cat((finished_scores, scored), dim=1)
            keep = torch.topk(merged_scores, k=num_beams)[1]
            finished_seqs = _gather(torch.cat((finished_seqs, topk_seqs), dim=1), keep)
            finished_scores = _gather(merged_scores, keep)
            finished_idx = _gather(torch.cat((finished_idx, topk_idx), dim=1), keep)
            is_finished = _gather(torch.cat((is_finished, just_done), dim=1), keep)

            beam_idx = running_idx[..., cur_len - prompt_len].reshape(-1)
            cur_len += 1

            # can a live beam still beat the worst finished hypothesis?
            if early_stopping == "never" and length_penalty > 0.0:
                best_len = max_length - prompt_len
            else:
                best_len = cur_len - prompt_len
            best_running = running_scores[:, :1] / (best_len ** length_penalty)
            worst_done = torch.where(is_finished, torch.min(finished_scores, dim=1, keepdim=True)[0], -1.0e9)
            can_improve = can_improve & torch.any(best_running > worst_done, dim=-1, keepdim=True)
            open_beams = not (bool(torch.all(is_finished)) and early_stopping is True)
            if not (bool(torch.any(can_improve)) and open_beams and not bool(torch.all(hits))):
                break
            stepper.reorder(beam_idx)
            logits = stepper.step(running[:, :, cur_len - 1].reshape(-1))

        seqs = finished_seqs[:, :num_return_sequences].reshape(batch * num_return_sequences, -1)
        idx = finished_idx[:, :num_return_sequences].reshape(batch * num_return_sequences, -1)
        generated = int(((idx + 1).bool()).sum(dim=1).max())
        return seqs[:, : prompt_len + generated]


# --------------------------------------------------------------------------- text in, text out


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
