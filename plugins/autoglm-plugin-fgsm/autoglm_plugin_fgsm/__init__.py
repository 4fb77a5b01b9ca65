"""Open-AutoGLM robustness plugin: FGSM attack (embedding space for text, pixel space for images),
a gradient-free character-noise attack that also works on Chinese, and three defenses: FGSM
adversarial training, input denoising, and gradient masking (a baseline that only hides gradients).

Modules import torch lazily, so registering the components is cheap."""

from __future__ import annotations

from autoglm_core import hookimpl

__version__ = "0.1.0"


@hookimpl
def autoglm_register_attacks(register):
    from .char_noise import CharNoiseAttack
    from .fgsm_attack import FGSMAttack

    register(FGSMAttack)
    register(CharNoiseAttack)


@hookimpl
def autoglm_register_defenses(register):
    from .adversarial_training import FGSMAdversarialTraining
    from .denoise import InputDenoising
    from .masking import GradientMasking

    register(FGSMAdversarialTraining)
    register(GradientMasking)
    register(InputDenoising)
