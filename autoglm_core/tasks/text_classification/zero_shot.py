"""Zero-shot baseline by label-description similarity: embed the text and a short description of
each label with the (untrained) encoder, predict the most similar label. Scored before any
fine-tuning so the report shows how much training bought."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from autoglm_core.models.encoders import mean_pooled
from autoglm_core.plugin.components import BuiltModel, ZeroShotScorer
from autoglm_core.plugin.hookspecs import hookimpl

# Short descriptions make single-word labels easier to match than the bare word.
DESCRIPTIONS = {
    "en": {
        "positive": "good news: profit rose, growth, gains, improvement",
        "negative": "bad news: loss, decline, fell, drop, layoffs",
        "neutral": "neutral factual statement with no clear good or bad news",
    },
    "zh": {
        "正面": "好消息：利润增长，上涨，改善", "负面": "坏消息：亏损，下跌，裁员", "中性": "中性的客观陈述",
        "positive": "好消息：利润增长，上涨，改善", "negative": "坏消息：亏损，下跌，裁员", "neutral": "中性的客观陈述",
    },
}
TEMPLATES = {"en": "This text is {label}: {description}", "zh": "这段文字是{label}的：{description}"}


def label_prompts(labels: Sequence[str], language: str) -> list[str]:
    lang = "zh" if language == "zh" else "en"
    out = []
    for lab in labels:
        desc = DESCRIPTIONS[lang].get(lab.lower(), DESCRIPTIONS[lang].get(lab, lab))
        out.append(TEMPLATES[lang].format(label=lab, description=desc))
    return out


class SimilarityScorer(ZeroShotScorer):
    name = "similarity"
    description = "cosine similarity between mean-pooled encoder embeddings of the text and of each label's description"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")
        temperature: float = Field(0.05, gt=0, description="softmax temperature over the similarities")

    def predict_proba(self, built: BuiltModel, texts: Sequence[str], labels: Sequence[str], language: str) -> Any:
        import torch

        encoder = getattr(built.model, "base_model", built.model)
        encoder.eval()
        text_emb = mean_pooled(encoder, built.tokenizer, texts)
        label_emb = mean_pooled(encoder, built.tokenizer, label_prompts(labels, language))
        sims = text_emb @ label_emb.T
        return torch.softmax(sims / self.options.temperature, dim=-1).cpu().numpy()


@hookimpl
def autoglm_register_zero_shot(register):
    register(SimilarityScorer)
