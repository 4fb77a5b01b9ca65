"""The ``lm-likelihood`` zero-shot scorer: classification by label log-likelihood under a causal LM."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from autoglm_core.models.causal_lm import scoring_lm
from autoglm_core.plugin.components import BuiltModel, ZeroShotScorer
from autoglm_core.types.errors import ConfigError


class LMLikelihoodScorer(ZeroShotScorer):
    """P(label | prompt(text)) under a causal LM: each label is scored by the log-likelihood of its
    tokens after the prompt (mean per token by default, so long labels are not penalised)."""

    name = "lm-likelihood"
    description = "zero-shot classification with a causal LM by label log-likelihood after a prompt template"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        template: str = Field("classification", description="prompt template name (autoglm_core.models.prompts)")
        normalize: Literal["mean", "sum"] = Field("mean", description="per-token mean or sum of label log-probs")
        batch_size: int = Field(16, ge=1)
        max_length: int = Field(256, ge=8)
        model: str | None = Field(None, description="score with this causal LM instead of the candidate: "
                                                    "'smollm2-135m' or a model directory (for encoder candidates)")

    def predict_proba(self, built: BuiltModel, texts: Sequence[str], labels: Sequence[str], language: str) -> Any:
        import numpy as np

        from autoglm_core.models.prompts import label_prefix, render

        model, tok = scoring_lm(self.options.model) if self.options.model else (built.model, built.tokenizer)
        if not labels:
            raise ConfigError("lm-likelihood zero-shot scoring needs at least one label.")
        if getattr(model.config, "is_encoder_decoder", False) or not hasattr(model, "get_output_embeddings") \
                or model.get_output_embeddings() is None:
            raise ConfigError(
                f"the lm-likelihood zero-shot scorer needs a causal language model; {type(model).__name__} has no "
                f"language-modelling head. Use the 'similarity' scorer for encoders."
            )
        lang = "zh" if language == "zh" else language
        prefix = label_prefix(lang)
        label_ids = [tok(prefix + lab, add_special_tokens=False)["input_ids"] for lab in labels]
        if any(not ids for ids in label_ids):
            raise ConfigError(f"a label tokenizes to nothing: {[lab for lab, i in zip(labels, label_ids, strict=True) if not i]}.")
        scores = np.zeros((len(texts), len(labels)), dtype=np.float64)
        pairs = []
        for ti, text in enumerate(texts):
            prompt_ids = tok(render(self.options.template, lang, text=text), add_special_tokens=False)["input_ids"]
            for li, lids in enumerate(label_ids):
                keep = max(1, self.options.max_length - len(lids))
                pairs.append((ti, li, prompt_ids[-keep:], lids))
        for i in range(0, len(pairs), self.options.batch_size):
            chunk = pairs[i : i + self.options.batch_size]
            for (ti, li, _, lids), lp in zip(chunk, self._label_logprobs(model, tok, chunk), strict=True):
                scores[ti, li] = lp / len(lids) if self.options.normalize == "mean" else lp
        scores -= scores.max(axis=1, keepdims=True)
        probs = np.exp(scores)
        return (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)

    @staticmethod
    def _label_logprobs(model: Any, tok: Any, chunk: list[tuple[int, int, list[int], list[int]]]) -> list[float]:
        import torch

        device = next(model.parameters()).device
        seqs = [p + lab for _, _, p, lab in chunk]
        width = max(map(len, seqs))
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, s in enumerate(seqs):
            ids[r, : len(s)] = torch.tensor(s)
            mask[r, : len(s)] = 1
        model.eval()
        with torch.inference_mode():
            logp = torch.log_softmax(model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float(), -1)
        out = []
        for r, (_, _, p, lab) in enumerate(chunk):
            positions = torch.arange(len(p) - 1, len(p) + len(lab) - 1)
            out.append(float(logp[r, positions, torch.tensor(lab)].sum()))
        return out
