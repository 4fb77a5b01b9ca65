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

from autoglm_core.io import log_filters as _log_filters
from autoglm_core.plugin.hookspecs import hookimpl, hookspec
from autoglm_core.types.version import __version__

_log_filters.install()


__all__ = [
    "AutoTask", "Pipeline", "hookimpl", "hookspec", "get_manager", "load_model",
    "TaskSpec", "CandidateSpec", "PipelineConfig", "StageResult", "RunReport", "VariantResult",
    "BuiltModel", "Component", "Compressor", "Attack", "Defense", "Evaluator", "Decoder",
    "DataLoader", "TaskType", "ModelFormat", "ZeroShotScorer", "Benchmark", "AutoGLMError", "__version__",
    "Metric", "ParseRule", "RunContext", "NotApplicableError", "PLAIN_HF_TASK_TYPE", "Tracker", "iter_scopes",
    # for plugins: the only autoglm_core names they import (tests scan plugins/ for this)
    "ConfigError", "DataError", "ModelLoadError", "UnknownNameError", "did_you_mean", "TrainConfig", "DataRef", "SplitConfig", "Example", "DataSplits", "read_model_meta", "check_weights", "Predictor", "fine_tune", "LoopSpec", "run_loop", "load_file", "stratified_split",
    "atomic_write_json", "atomic_write_text", "read_structured_file", "StrictModel", "validate", "DataSummary", "TransferConfig", "MODEL_META_FILE", "save_atomically", "prepare_run_dir", "hold_run_dir", "write_checksums", "check_json_limits", "JSONLimitError", "build_model", "classification_score",
    "load_numeric_splits", "quantile_split", "numeric_target", "load_splits", "classification_metrics",
    "minilm_available", "minilm_path", "me5_available", "load_me5_encoder", "SearchBackend", "fit_search_trial",
    "read_pipeline_config",
]

_LAZY = {
    "AutoTask": "autoglm_core.engine.task",
    "Pipeline": "autoglm_core.engine.task",
    "get_manager": "autoglm_core.plugin.manager",
    "load_model": "autoglm_core.models.loading",
    "TaskSpec": "autoglm_core.types.schemas",
    "CandidateSpec": "autoglm_core.types.schemas",
    "PipelineConfig": "autoglm_core.types.schemas",
    "StageResult": "autoglm_core.types.schemas",
    "RunReport": "autoglm_core.types.schemas",
    "VariantResult": "autoglm_core.types.schemas",
    "BuiltModel": "autoglm_core.plugin.components",
    "Component": "autoglm_core.plugin.components",
    "Compressor": "autoglm_core.plugin.components",
    "Attack": "autoglm_core.plugin.components",
    "Defense": "autoglm_core.plugin.components",
    "Evaluator": "autoglm_core.plugin.components",
    "Decoder": "autoglm_core.plugin.components",
    "DataLoader": "autoglm_core.plugin.components",
    "TaskType": "autoglm_core.plugin.task_type",
    "ModelFormat": "autoglm_core.plugin.components",
    "ZeroShotScorer": "autoglm_core.plugin.components",
    "Benchmark": "autoglm_core.plugin.components",
    "AutoGLMError": "autoglm_core.types.errors",
    "NotApplicableError": "autoglm_core.types.errors",
    "Metric": "autoglm_core.types.task_info",
    "ParseRule": "autoglm_core.types.task_info",
    "RunContext": "autoglm_core.plugin.context",
    "PLAIN_HF_TASK_TYPE": "autoglm_core.plugin.task_type",
    "ConfigError": "autoglm_core.types.errors",
    "DataError": "autoglm_core.types.errors",
    "ModelLoadError": "autoglm_core.types.errors",
    "UnknownNameError": "autoglm_core.types.errors",
    "did_you_mean": "autoglm_core.types.errors",
    "TrainConfig": "autoglm_core.types.schemas",
    "DataRef": "autoglm_core.types.schemas",
    "SplitConfig": "autoglm_core.types.schemas",
    "Example": "autoglm_core.types.data",
    "DataSplits": "autoglm_core.types.data",
    "read_model_meta": "autoglm_core.plugin.components",
    "check_weights": "autoglm_core.models.loading",
    "Predictor": "autoglm_core.engine.predictor",
    "fine_tune": "autoglm_core.training.finetune",
    "LoopSpec": "autoglm_core.training.loop",
    "run_loop": "autoglm_core.training.loop",
    "load_file": "autoglm_core.data.load",
    "atomic_write_json": "autoglm_core.io",
    "atomic_write_text": "autoglm_core.io",
    "read_structured_file": "autoglm_core.io",
    "StrictModel": "autoglm_core.types.schemas",
    "validate": "autoglm_core.types.schemas",
    "DataSummary": "autoglm_core.types.schemas",
    "TransferConfig": "autoglm_core.types.schemas",
    "MODEL_META_FILE": "autoglm_core.plugin.components",
    "save_atomically": "autoglm_core.engine.stage",
    "prepare_run_dir": "autoglm_core.engine.runner",
    "hold_run_dir": "autoglm_core.engine.run_lock",
    "write_checksums": "autoglm_core.io.checksums",
    "check_json_limits": "autoglm_core.io.json_limits",
    "JSONLimitError": "autoglm_core.io.json_limits",
    "build_model": "autoglm_core.engine.build",
    "classification_score": "autoglm_core.training.classification",
    "stratified_split": "autoglm_core.data.load",
    "load_numeric_splits": "autoglm_core.data.numeric_targets",
    "load_splits": "autoglm_core.data.load",
    "classification_metrics": "autoglm_core.training.metrics",
    "quantile_split": "autoglm_core.data.numeric_targets",
    "numeric_target": "autoglm_core.data.numeric_targets",
    "Tracker": "autoglm_core.plugin.tracker",
    "iter_scopes": "autoglm_core.plugin.tracker",
    "minilm_available": "autoglm_core.models.candidates",
    "me5_available": "autoglm_core.models.candidates",
    "load_me5_encoder": "autoglm_core.models.encoders",
    "minilm_path": "autoglm_core.models.candidates",
    "SearchBackend": "autoglm_core.training.search_backends",
    "fit_search_trial": "autoglm_core.training.search_backends",
    "read_pipeline_config": "autoglm_core.io.pipeline_config",
}

if TYPE_CHECKING:  # pragma: no cover
    from autoglm_core.engine.task import AutoTask, Pipeline  # noqa: F401
    from autoglm_core.models.loading import load_model  # noqa: F401
    from autoglm_core.plugin.components import (  # noqa: F401
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
        ZeroShotScorer,
    )
    from autoglm_core.plugin.context import RunContext  # noqa: F401
    from autoglm_core.plugin.manager import get_manager  # noqa: F401
    from autoglm_core.plugin.task_type import PLAIN_HF_TASK_TYPE, TaskType  # noqa: F401
    from autoglm_core.plugin.tracker import Tracker, iter_scopes  # noqa: F401
    from autoglm_core.training.loop import LoopSpec, run_loop  # noqa: F401
    from autoglm_core.training.search_backends import SearchBackend, fit_search_trial  # noqa: F401
    from autoglm_core.types.errors import AutoGLMError, NotApplicableError  # noqa: F401
    from autoglm_core.types.schemas import (  # noqa: F401
        CandidateSpec,
        PipelineConfig,
        RunReport,
        StageResult,
        TaskSpec,
        VariantResult,
    )
    from autoglm_core.types.task_info import Metric, ParseRule  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'autoglm_core' has no attribute {name!r}")
