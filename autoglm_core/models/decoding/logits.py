"""Logits processing in the order of ``generate()``: repetition penalty, temperature, top-k, top-p."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
