"""The ``fgsm`` attack: accuracy under one FGSM step at several epsilons."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field, field_validator

from autoglm_core import Attack, RunContext

from .common import AttackError, check_epsilons, examples_for, label_ids


def eps_key(eps: float) -> str:
    return f"accuracy_eps_{eps:g}"


class FGSMAttack(Attack):
    name = "fgsm"
    description = ("Fast Gradient Sign Method: one step of size epsilon along the sign of the loss gradient, "
                   "in embedding space for text models, in pixel space (clamped) for image models")

    class Options(Attack.Options):
        epsilons: list[float] = Field(default_factory=lambda: [0.001, 0.005, 0.01, 0.02],
                                      description="step sizes to report (L-inf, embedding or pixel units)")
        epsilon: float = Field(0.01, description="the step size whose accuracy is accuracy_under_attack")
        relative: bool = Field(False, description="text: epsilons are multiples of the embedding matrix's std")
        max_length: int = Field(128, ge=8)
        batch_size: int = Field(32, ge=1)
        clamp_min: float = Field(0.0, description="images: smallest valid pixel value")
        clamp_max: float = Field(1.0, description="images: largest valid pixel value")

        @field_validator("epsilons", mode="before")
        @classmethod
        def _eps_list(cls, v: Any) -> Any:
            if isinstance(v, (int, float, str)) and not isinstance(v, bool):
                v = [v]
            if not isinstance(v, list):
                raise ValueError(f"give a list of numbers, got {v!r}")
            return check_epsilons(v)

        @field_validator("epsilon", mode="before")
        @classmethod
        def _eps(cls, v: Any) -> Any:
            return check_epsilons([v], "epsilon")[0]

    def attack(self, built: Any, examples: Sequence[Any], context: RunContext | None) -> dict[str, float]:
        o = self.options
        examples = examples_for(built, examples, context, "attack 'fgsm'")
        y = label_ids(built, examples, "attack 'fgsm'")
        epsilons = sorted({0.0, o.epsilon, *o.epsilons})
        if built.inputs == "pixels":
            preds, zero = self._images(built, examples, y, epsilons), None
            scale = 1.0
        else:
            from .gradients import embedding_scale, text_fgsm_predictions

            scale = embedding_scale(built.model) if o.relative else 1.0
            out = text_fgsm_predictions(built.model, built.tokenizer, [ex.text for ex in examples], y, epsilons,
                                        max_length=o.max_length, batch_size=o.batch_size, scale=scale,
                                        who="attack 'fgsm'")
            preds, zero = out["predictions"], out["zero_gradient"]
        n = len(y)
        acc = {eps: sum(int(p == t) for p, t in zip(preds[eps], y, strict=True)) / n for eps in epsilons}
        clean_ok = [p == t for p, t in zip(preds[0.0], y, strict=True)]
        flipped = sum(1 for ok, p, t in zip(clean_ok, preds[o.epsilon], y, strict=True) if ok and p != t)
        result: dict[str, float] = {eps_key(e): acc[e] for e in epsilons}
        result |= {
            "clean_accuracy": acc[0.0],
            "accuracy_under_attack": acc[o.epsilon],
            "attack_success_rate": flipped / max(sum(clean_ok), 1),
            "epsilon": o.epsilon,
            "epsilon_absolute": o.epsilon * scale,
            "examples": float(n),
        }
        if zero is not None:
            # A defense that only hides gradients shows up here: sign(0) = 0 means no step at all.
            result["zero_gradient_fraction"] = zero / n
        return result

    def _images(self, built: Any, examples: Sequence[Any], y: list[int], epsilons: list[float]) -> dict[float, list[int]]:
        import numpy as np

        from .gradients import pixel_fgsm_predictions

        try:
            images = np.stack([np.asarray(ex.meta["pixels"], dtype=np.float32) for ex in examples])
        except KeyError:
            raise AttackError("attack 'fgsm': image examples need their pixels in Example.meta['pixels'] "
                              "(an array scaled like the model's training input).") from None
        return pixel_fgsm_predictions(built.model, images, y, epsilons,
                                      clamp=(self.options.clamp_min, self.options.clamp_max),
                                      batch_size=self.options.batch_size, who="attack 'fgsm'")
