"""Open-AutoGLM core: from a plain-language task description to a trained, evaluated, compressed
and attack-tested model, through a small pluggy core.

    from autoglm_core import AutoTask
    task = AutoTask.create(task_type="text_classification", dataset="news.csv",
                           description="Classify financial news sentiment; keep latency low")
    pipeline = task.auto_build()
    report = pipeline.launch()

Importing this package is cheap: torch, transformers and friends load only when a stage needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .hookspecs import hookimpl, hookspec

__version__ = "0.1.0"

__all__ = [
    "AutoTask", "Pipeline", "hookimpl", "hookspec", "get_manager", "load_model",
    "TaskSpec", "CandidateSpec", "PipelineConfig", "StageResult", "RunReport", "VariantResult",
    "BuiltModel", "Component", "Compressor", "ModelFormat", "Attack", "Defense", "Evaluator", "Decoder",
    "DataLoader", "TaskType", "ZeroShotScorer", "Benchmark", "AutoGLMError", "__version__",
]

_LAZY = {
    "AutoTask": "autoglm_core.task",
    "Pipeline": "autoglm_core.task",
    "get_manager": "autoglm_core.plugins",
    "load_model": "autoglm_core.model_io",
    "TaskSpec": "autoglm_core.schemas",
    "CandidateSpec": "autoglm_core.schemas",
    "PipelineConfig": "autoglm_core.schemas",
    "StageResult": "autoglm_core.schemas",
    "RunReport": "autoglm_core.schemas",
    "VariantResult": "autoglm_core.schemas",
    "BuiltModel": "autoglm_core.components",
    "Component": "autoglm_core.components",
    "Compressor": "autoglm_core.components",
    "ModelFormat": "autoglm_core.components",
    "Attack": "autoglm_core.components",
    "Defense": "autoglm_core.components",
    "Evaluator": "autoglm_core.components",
    "Decoder": "autoglm_core.components",
    "DataLoader": "autoglm_core.components",
    "TaskType": "autoglm_core.components",
    "ZeroShotScorer": "autoglm_core.components",
    "Benchmark": "autoglm_core.components",
    "AutoGLMError": "autoglm_core.errors",
}

if TYPE_CHECKING:  # pragma: no cover
    from .components import (  # noqa: F401
        Attack,
        Benchmark,
        BuiltModel,
        Component,
        Compressor,
        DataLoader,
        Decoder,
        Defense,
        Evaluator,
        ModelFormat,
        TaskType,
        ZeroShotScorer,
    )
    from .errors import AutoGLMError  # noqa: F401
    from .model_io import load_model  # noqa: F401
    from .plugins import get_manager  # noqa: F401
    from .schemas import (  # noqa: F401
        CandidateSpec,
        PipelineConfig,
        RunReport,
        StageResult,
        TaskSpec,
        VariantResult,
    )
    from .task import AutoTask, Pipeline  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'autoglm_core' has no attribute {name!r}")
