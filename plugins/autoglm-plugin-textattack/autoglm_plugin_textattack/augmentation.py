"""The ``textattack-augmentation`` defense: adversarial data augmentation.

Each training example gets ``transformations_per_example`` perturbed copies made by a TextAttack
augmenter (character swaps by default -- the same kind of noise as DeepWordBug -- or WordNet
synonyms, deletions, EDA), and the model keeps fine-tuning on clean plus augmented data with the
core's ``fine_tune``. Cheaper than attacking every example during training, and model-agnostic.
"""

from __future__ import annotations

import copy
import dataclasses
import random
from typing import Any, Literal

from pydantic import Field

from autoglm_core import Defense, RunContext

from .recipes import TextAttackError

AUGMENTERS = {
    "charswap": "CharSwapAugmenter",
    "wordnet": "WordNetAugmenter",
    "deletion": "DeletionAugmenter",
    "eda": "EasyDataAugmenter",
}


class TextAttackAugmentation(Defense):
    name = "textattack-augmentation"
    description = "fine-tune on clean plus TextAttack-augmented copies (character swaps, WordNet synonyms, ...)"

    class Options(Defense.Options):
        augmenter: Literal["charswap", "wordnet", "deletion", "eda"] = "charswap"
        pct_words_to_swap: float = Field(0.2, gt=0, le=1)
        transformations_per_example: int = Field(1, ge=1, le=10)
        fraction: float = Field(1.0, gt=0, le=1, description="share of the training examples that get copies")
        epochs: int = Field(2, ge=1, description="epochs of fine-tuning on clean + augmented data")
        learning_rate: float | None = Field(None, gt=0)
        max_steps: int | None = Field(None, ge=1)

    def augment(self, texts: list[str], seed: int) -> list[list[str]]:
        from .offline import has_wordnet, import_textattack, no_downloads

        o = self.options
        if o.augmenter in ("wordnet", "eda") and not has_wordnet():
            raise TextAttackError(f"defense {self.name!r}: augmenter {o.augmenter!r} needs WordNet 3.0 files "
                                  f"(apt-get install wordnet-base); use augmenter=charswap.")
        import_textattack()
        import numpy as np

        with no_downloads():
            import textattack.augmentation as aug

            augmenter = getattr(aug, AUGMENTERS[o.augmenter])(
                pct_words_to_swap=o.pct_words_to_swap, transformations_per_example=o.transformations_per_example)
        random.seed(seed)
        np.random.seed(seed)
        out = []
        for t in texts:
            try:
                out.append([a for a in augmenter.augment(t) if a != t])
            except Exception:  # noqa: BLE001 - a text with nothing to transform just gets no copy
                out.append([])
        return out

    def defend(self, built: Any, context: RunContext | None) -> Any:
        from autoglm_core import fine_tune

        who = f"defense {self.name!r}"
        splits = getattr(context, "splits", None) if context is not None else None
        if splits is None or not splits.train:
            raise TextAttackError(f"{who}: needs the run's training data (context.splits.train).")
        cfg_get = getattr(context, "train_config", None)
        cfg = None
        if callable(cfg_get) and built.candidate is not None:
            try:
                cfg = cfg_get(built.candidate)
            except Exception:  # noqa: BLE001
                cfg = None
        from autoglm_core import TrainConfig

        o = self.options
        cfg = (cfg or TrainConfig()).model_copy(update={k: v for k, v in {
            "epochs": o.epochs, "learning_rate": o.learning_rate, "max_steps": o.max_steps,
            "patience": o.epochs}.items() if v is not None})
        seed = int(getattr(getattr(context, "config", None), "seed", 0) or 0)
        rng = random.Random(seed)
        train = list(splits.train)
        chosen = [ex for ex in train if rng.random() < o.fraction]
        copies = self.augment([ex.text for ex in chosen], seed)
        extra = [dataclasses.replace(ex, text=t, meta={**ex.meta, "augmented": True})
                 for ex, texts in zip(chosen, copies, strict=True) for t in texts]
        model = copy.deepcopy(built.model)
        result = fine_tune(model, built.tokenizer, train + extra, list(splits.validation or []), built.labels, cfg,
                           seed=seed, progress=False, desc="augment-train")
        meta = dict(built.meta)
        meta["defenses"] = [*built.meta.get("defenses", []), self.name]
        meta["textattack_augmentation"] = {"augmenter": o.augmenter, "augmented_examples": len(extra),
                                           "pct_words_to_swap": o.pct_words_to_swap, "epochs_run": len(result.history)}
        return dataclasses.replace(built, model=result.model, meta=meta, variant=f"{built.variant}+augment")
