"""The ``gradient-masking`` defense, kept as a cautionary baseline.

It multiplies the classifier head's weights and bias by a large factor. Predictions (the argmax)
do not change, but the softmax saturates: for every example classified with some margin the
probabilities are exactly 0 and 1 in float32, so the loss gradient is exactly zero and FGSM's
sign(gradient) is zero too -- the attack takes no step. This is what defensive distillation
with a high temperature does in effect (Carlini & Wagner 2016 showed it breaks).

The model is not more robust: gradient-free attacks (``char-noise``, DeepWordBug) only look at
the predicted label and succeed as before, and ``fgsm`` reports ``zero_gradient_fraction`` so
that a report can tell masked gradients from real robustness. The change lives in the weights,
so the model saves and loads as an ordinary Hugging Face model.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from autoglm_core import Defense, RunContext

from .common import AttackError, copy_built

HEAD_NAMES = ("classifier", "score", "classification_head", "head", "lm_head")


def output_layer(model: Any) -> Any:
    """The last Linear layer of the classification head."""
    import torch

    for name in HEAD_NAMES:
        mod = getattr(model, name, None)
        if mod is None:
            continue
        linears = [m for m in mod.modules() if isinstance(m, torch.nn.Linear)] if isinstance(mod, torch.nn.Module) else []
        if linears:
            return linears[-1]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise AttackError("defense 'gradient-masking': the model has no Linear output layer to scale.")
    return linears[-1]


class GradientMasking(Defense):
    name = "gradient-masking"
    description = ("scale the output logits so the softmax saturates and loss gradients vanish: hides gradients "
                   "from FGSM, does NOT stop gradient-free attacks (a baseline that shows why)")

    class Options(Defense.Options):
        logit_scale: float = Field(1000.0, gt=1, description="factor applied to the output layer")

    def defend(self, built: Any, context: RunContext | None) -> Any:
        import torch

        out = copy_built(built, variant=f"{built.variant}+masked")
        layer = output_layer(out.model)
        with torch.no_grad():
            layer.weight.mul_(self.options.logit_scale)
            if layer.bias is not None:
                layer.bias.mul_(self.options.logit_scale)
        out.meta["defenses"] = [*built.meta.get("defenses", []), self.name]
        out.meta["gradient_masking"] = {"logit_scale": self.options.logit_scale,
                                        "note": "hides gradients only; check a gradient-free attack"}
        return out
