"""The decoding loops: greedy and multinomial sampling (one step at a time) and beam search."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from autoglm_core.models.decoding.logits import SamplingSettings
from autoglm_core.models.decoding.stepper import GenerationError, SpecialTokens, Stepper, check_inputs


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
