"""Open-AutoGLM plugin: compressors ``prune-magnitude``, ``prune-structured`` and ``distill``.

All three return fp32 models in the Hugging Face layout (``format == "hf"``), so the variants save
with ``built.save(dir)`` and reload with ``autoglm_core.models.loading.load_model(dir)``.
"""

from __future__ import annotations

from autoglm_core import hookimpl

from .distill import Distillation
from .magnitude import MagnitudePruning
from .structured import StructuredPruning

__all__ = ["Distillation", "MagnitudePruning", "StructuredPruning"]


@hookimpl
def autoglm_register_compressors(register):
    for cls in (MagnitudePruning, StructuredPruning, Distillation):
        register(cls)
