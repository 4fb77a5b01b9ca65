"""The ``char-noise`` attack: gradient-free, character level, English and Chinese.

Like DeepWordBug (Gao et al. 2018) it ranks the units of the text (words; single characters for
Chinese) by how much deleting each one lowers the probability of the true label, then edits the
most important units one at a time -- adjacent swap, deletion, insertion, substitution, homoglyph
or a glued symbol for words; homophone, deletion, duplication, a glued symbol or a swap for Chinese
characters -- keeping the edit that hurts the true label most, until the prediction flips or the
perturbation budget is spent. It needs only predicted probabilities, so it works on any model
(quantized, exported, gradient-masked) and shows when a defense merely hides gradients.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

from pydantic import Field

from autoglm_core import Attack, RunContext

from .common import examples_for, label_ids
from .noise import apply_variant, attackable, char_variants, is_cjk, units, word_variants


class CharNoiseAttack(Attack):
    name = "char-noise"
    black_box = True  # needs only predicted probabilities: applies to any model, torch or not
    description = ("gradient-free greedy character noise (swaps, deletions, insertions, homoglyphs; homophones "
                   "for Chinese) on the most important words/characters; works on Chinese and any model")

    class Options(Attack.Options):
        max_perturb_ratio: float = Field(0.2, gt=0, le=1, description="most units (words/characters) to edit")
        candidates: int = Field(6, ge=1, le=50, description="edits tried per unit")
        batch_size: int = Field(32, ge=1)
        max_length: int = Field(128, ge=8)
        seed: int = 0

    def attack(self, built: Any, examples: Sequence[Any], context: RunContext | None) -> dict[str, float]:
        examples = examples_for(built, examples, context, "attack 'char-noise'")
        y = label_ids(built, examples, "attack 'char-noise'")
        rng = random.Random(self.options.seed)
        outcomes = [self.attack_one(built, ex.text, t, rng) for ex, t in zip(examples, y, strict=True)]
        return summarise(outcomes)

    # ------------------------------------------------------------------ one example
    def _probs(self, built: Any, texts: list[str], counter: list[int]) -> Any:
        counter[0] += len(texts)
        return built.predict_proba(texts, batch_size=self.options.batch_size, max_length=self.options.max_length)

    def attack_one(self, built: Any, text: str, label: int, rng: random.Random) -> dict[str, Any]:
        queries = [0]
        p0 = self._probs(built, [text], queries)[0]
        if int(p0.argmax()) != label:
            return {"status": "skipped", "queries": queries[0], "text": text}
        parts = units(text)
        idx = [i for i, u in enumerate(parts) if attackable(u)]
        if not idx:
            return {"status": "failed", "queries": queries[0], "perturbed": 0, "units": 0, "text": text}
        # importance: drop in the true label's probability when the unit is deleted
        leave_out = ["".join(parts[:i] + parts[i + 1 :]) for i in idx]
        drops = p0[label] - self._probs(built, leave_out, queries)[:, label]
        order = [idx[j] for j in sorted(range(len(idx)), key=lambda j: -drops[j])]
        budget = max(1, math.ceil(self.options.max_perturb_ratio * len(idx)))
        current, best_p, edited = parts, float(p0[label]), 0
        for i in order[:budget]:
            unit = current[i]
            if is_cjk(unit):
                nxt = current[i + 1] if i + 1 < len(current) else ""
                variants = char_variants(unit, nxt, rng, self.options.candidates)
            else:
                variants = word_variants(unit, rng, self.options.candidates)
            if not variants:
                continue
            trials = [apply_variant(current, i, v) for v in variants]
            probs = self._probs(built, ["".join(t) for t in trials], queries)
            j = int(probs[:, label].argmin())
            if probs[j, label] >= best_p:
                continue
            current, best_p, edited = trials[j], float(probs[j, label]), edited + 1
            if int(probs[j].argmax()) != label:
                return {"status": "succeeded", "queries": queries[0], "perturbed": edited, "units": len(idx),
                        "text": text, "adversarial": "".join(current)}
        return {"status": "failed", "queries": queries[0], "perturbed": edited, "units": len(idx), "text": text}


def summarise(outcomes: Sequence[dict[str, Any]]) -> dict[str, float]:
    """TextAttack-style summary: success rate over the examples the model got right, perturbed
    units over the successful attacks, queries over the attacked examples."""
    n = len(outcomes)
    done = [o for o in outcomes if o["status"] != "skipped"]
    ok = [o for o in done if o["status"] == "succeeded"]
    return {
        "clean_accuracy": len(done) / n if n else 0.0,
        "accuracy_under_attack": (len(done) - len(ok)) / n if n else 0.0,
        "attack_success_rate": len(ok) / len(done) if done else 0.0,
        "perturbed_units_pct": 100 * sum(o["perturbed"] / o["units"] for o in ok) / len(ok) if ok else 0.0,
        "queries_per_example": sum(o["queries"] for o in done) / len(done) if done else 0.0,
        "examples": float(n),
    }
