"""Loading a saved model directory safely: safetensors only unless the user opts in,
``trust_remote_code`` off unless asked, compressed variants through their compressor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .components import BuiltModel, read_model_meta
from .errors import ModelLoadError

PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "model.ckpt.index")


def check_weights(directory: Path, allow_pickle: bool) -> bool:
    """Return True when the directory has safetensors weights; refuse pickle-only weights."""
    has_safe = any(directory.glob("*.safetensors")) or (directory / "model.safetensors.index.json").exists()
    has_pickle = any((directory / name).exists() for name in PICKLE_WEIGHTS)
    if not has_safe and has_pickle and not allow_pickle:
        raise ModelLoadError(
            f"{directory} holds only pickle weights ({', '.join(n for n in PICKLE_WEIGHTS if (directory / n).exists())}), "
            f"which can run arbitrary code when loaded. Convert them to safetensors, or opt in with "
            f"allow_pickle=True (CLI: --allow-pickle) if you trust where they came from."
        )
    return has_safe


def load_model(directory: str | Path, *, allow_pickle: bool = False, trust_remote_code: bool = False,
               manager: Any = None) -> BuiltModel:
    """Load an exported run model, a compressed or defended variant, or any Hugging Face
    sequence-classification directory. Inference-time defenses recorded in the model's metadata
    (input denoising, ...) are re-attached, so predictions match those measured in the run."""
    built = _load(Path(directory), allow_pickle, trust_remote_code, manager)
    return restore_defenses(built, manager)


def restore_defenses(built: BuiltModel, manager: Any = None) -> BuiltModel:
    """Re-attach the inference-time defenses named in ``meta["defenses"]`` through their ``restore``."""
    names = built.meta.get("defenses", []) if isinstance(built.meta, dict) else []
    if not names:
        return built
    from .plugins import get_manager

    registry = (manager or get_manager()).registry("defense")
    for name in names:
        if name not in registry:
            raise ModelLoadError(
                f"the model was saved with defense {name!r}, which no installed plugin provides; install it "
                f"(e.g. pip install ./plugins/autoglm-plugin-fgsm) so that predictions match the measured ones."
            )
        restore = getattr(registry.get(name), "restore", None)
        if callable(restore):
            built = restore(built)
    return built


def _load(directory: Path, allow_pickle: bool, trust_remote_code: bool, manager: Any) -> BuiltModel:
    if not directory.exists():
        raise ModelLoadError(f"model directory {str(directory)!r} does not exist.")
    if not directory.is_dir():
        raise ModelLoadError(f"{str(directory)!r} is a file; give the model's directory (with config.json).")
    meta = read_model_meta(directory) or {}
    fmt = meta.get("format", "hf")
    if fmt == "onnx":
        raise ModelLoadError(
            f"{directory} is an ONNX export; load it with autoglm_core.predictor.Predictor.load() "
            f"(CLI: autoglm predict / autoglm serve), or load the fp32 directory it was exported from."
        )
    task_loader = _task_type_loader(meta.get("task_type", "text_classification"), manager)
    if task_loader is not None:  # image, multimodal, ...: the task type rebuilds its own models
        return task_loader(directory, meta, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code)
    if fmt != "hf":
        from .components import format_handler

        return format_handler(fmt, manager).load(directory, meta)
    if not (directory / "config.json").exists():
        raise ModelLoadError(f"{directory} has no config.json: it is not a Hugging Face model directory.")
    has_safe = check_weights(directory, allow_pickle)
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from .schemas import CandidateSpec

    task_type = meta.get("task_type", "text_classification")
    if task_type != "text_classification":
        raise ModelLoadError(
            f"{directory} holds a {task_type!r} model; load_model() loads text classifiers. Use the task "
            f"type's own loader (see the plugin that provides {task_type!r})."
        )
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            directory, use_safetensors=has_safe, trust_remote_code=trust_remote_code
        )
        tokenizer = AutoTokenizer.from_pretrained(directory, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"{directory}: cannot load the model: {e}") from None
    labels = meta.get("labels") or [model.config.id2label[i] for i in range(model.config.num_labels)]
    cand = meta.get("candidate")
    return BuiltModel(
        model=model, tokenizer=tokenizer, labels=list(labels), task_type=task_type,
        candidate=CandidateSpec.model_validate(cand) if cand else None,
        variant=meta.get("variant", "fine-tuned"), format="hf", meta=meta.get("meta", {}),
    )


def _task_type_loader(task_type: str, manager: Any) -> Any:
    """A registered TaskType's ``load_model(directory, meta, **kw)`` classmethod, if it has one."""
    if task_type == "text_classification":
        return None
    from .plugins import get_manager

    registry = (manager or get_manager()).registry("task type")
    return getattr(registry.get(task_type), "load_model", None) if task_type in registry else None
