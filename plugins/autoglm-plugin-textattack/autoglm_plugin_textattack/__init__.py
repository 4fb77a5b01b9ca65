"""Open-AutoGLM plugin: TextAttack recipes as attacks (those that run offline: deepwordbug, pruthi,
pwws with Debian's WordNet files; the others are registered too and explain which download they
need) and augmentation-based adversarial training. ``textattack`` is imported only when an attack
or defense runs (it takes ~15 s)."""

from __future__ import annotations

from autoglm_core import hookimpl

__version__ = "0.1.0"


@hookimpl
def autoglm_register_attacks(register):
    from .recipes import TextAttackAny, attack_classes

    for cls in attack_classes():
        register(cls)
    register(TextAttackAny)


@hookimpl
def autoglm_register_defenses(register):
    from .augmentation import TextAttackAugmentation

    register(TextAttackAugmentation)
