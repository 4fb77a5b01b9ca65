"""Loading a saved model directory safely: safetensors only unless the user opts in,
``trust_remote_code`` off unless asked, compressed variants through their compressor."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from autoglm_core.plugin.components import BuiltModel, read_model_meta
from autoglm_core.plugin.task_type import PLAIN_HF_TASK_TYPE
from autoglm_core.types.errors import ModelLoadError


def check_weights(directory: Path, allow_pickle: bool) -> bool:
    """Return True when the directory's weights are safetensors (headers checked); refuse weights
    that would be unpickled (pickle files, or a safetensors index pointing at pickled shards)
    unless ``allow_pickle``, and weight-index entries outside the folder always."""
    from autoglm_core.models.weight_files import check_safetensors_header, inspect_weights

    directory = Path(directory)
    found = inspect_weights(directory)
    if found.pickle and not allow_pickle:
        names = ", ".join(sorted({p.name for p in found.pickle}))
        raise ModelLoadError(
            f"{directory} would load pickle weights ({names}), which can run arbitrary code when loaded. Convert "
            f"them to safetensors, or opt in with allow_pickle=True (CLI: --allow-pickle) if you trust where "
            f"they came from."
        )
    for path in found.safetensors:
        check_safetensors_header(path)
    return found.has_safe


def load_model(directory: str | Path, *, allow_pickle: bool = False, trust_remote_code: bool = False,
               manager: Any = None, verify: bool = False) -> BuiltModel:
    """Load an exported run model, a compressed or defended variant, or any Hugging Face
    sequence-classification directory. Inference-time defenses recorded in the model's metadata
    (input denoising, ...) are re-attached, so predictions match those measured in the run.
    A folder without recorded checksums loads with a warning; ``verify=True`` refuses it."""
    built = _load(Path(directory), allow_pickle, trust_remote_code, manager, verify)
    return restore_defenses(built, manager)


def restore_defenses(built: BuiltModel, manager: Any = None) -> BuiltModel:
    """Re-attach the inference-time defenses named in ``meta["defenses"]`` through their ``restore``."""
    names = built.meta.get("defenses", []) if isinstance(built.meta, dict) else []
    if not names:
        return built
    from autoglm_core.plugin.manager import get_manager

    registry = (manager or get_manager()).registry("defense")
    for name in names:
        if name not in registry:
            raise ModelLoadError(
                f"the model was saved with defense {name!r}, which no installed plugin provides; install it "
                f"(e.g. pip install ./plugins/autoglm-plugin-fgsm) so that predictions match the measured ones."
            )
        built = registry.get(name).restore(built)
    return built


def _load(directory: Path, allow_pickle: bool, trust_remote_code: bool, manager: Any, verify: bool) -> BuiltModel:
    if not directory.exists():
        raise ModelLoadError(f"model directory {str(directory)!r} does not exist.")
    if not directory.is_dir():
        raise ModelLoadError(f"{str(directory)!r} is a file; give the model's directory (with config.json).")
    from autoglm_core.io.checksums import check_integrity

    check_integrity(directory, verify=verify)  # models saved by autoglm record the SHA-256 of every file
    meta = read_model_meta(directory) or {}
    fmt = meta.get("format", "hf")
    from autoglm_core.plugin.manager import get_manager

    manager = manager or get_manager()
    formats = manager.registry("model format")
    if fmt in formats and not formats.get(fmt).torch_loadable:
        raise ModelLoadError(
            f"{directory} is an {fmt.upper()} export; load it with autoglm_core.engine.predictor.Predictor.load() "
            f"(CLI: autoglm predict / autoglm serve), or load the fp32 directory it was exported from."
        )
    if fmt in formats and formats.get(fmt).whole_model:  # not torch weights: the format rebuilds the model
        return formats.get(fmt).load(directory, meta)
    name = meta.get("task_type", PLAIN_HF_TASK_TYPE)
    registry = manager.registry("task type")
    if name not in registry:
        raise ModelLoadError(f"{directory} holds a {name!r} model, and no installed plugin provides that task type.")
    task_type = registry.get(name)
    if task_type.can_load_models():  # the task type rebuilds its own models (any format it knows)
        return task_type.load_model(directory, meta, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code)
    if fmt != "hf":
        return load_format(directory, meta, manager)
    raise ModelLoadError(f"{directory} holds a {name!r} model; that task type cannot reload saved models.")


def load_format(directory: Path, meta: dict[str, Any], manager: Any = None) -> BuiltModel:
    """A model saved in a custom format (``meta["format"]``) by the component that wrote it: a
    whole-model format (linear n-grams, ensembles), else the compressor of that name."""
    from autoglm_core.plugin.components import format_handler

    return format_handler(meta.get("format", "hf"), manager).load(directory, meta)


def load_hf_sequence_classifier(directory: Path, meta: dict[str, Any], *, allow_pickle: bool = False,
                                trust_remote_code: bool = False, manager: Any = None) -> BuiltModel:
    """A Hugging Face sequence classifier (custom formats go to the component that saved them)."""
    if meta.get("format", "hf") != "hf":
        return load_format(directory, meta, manager)
    if not (directory / "config.json").exists():
        raise ModelLoadError(f"{directory} has no config.json: it is not a Hugging Face model directory.")
    has_safe = check_weights(directory, allow_pickle)
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from autoglm_core.types.schemas import CandidateSpec

    try:
        # transformers' own advice on mismatched weights ("You should probably TRAIN ...") is
        # replaced by check_loading_info's error, so it is not printed before it
        with _quiet_logger("transformers.modeling_utils"):
            model, info = AutoModelForSequenceClassification.from_pretrained(
                directory, use_safetensors=has_safe, trust_remote_code=trust_remote_code, output_loading_info=True
            )
        tokenizer = AutoTokenizer.from_pretrained(directory, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        raise ModelLoadError(f"{directory}: cannot load the model: {_load_error(e)}") from None
    check_loading_info(directory, info)
    labels = meta.get("labels") or [model.config.id2label[i] for i in range(model.config.num_labels)]
    cand = meta.get("candidate")
    return BuiltModel(
        model=model, tokenizer=tokenizer, labels=list(labels), task_type=meta.get("task_type", PLAIN_HF_TASK_TYPE),
        candidate=CandidateSpec.model_validate(cand) if cand else None,
        variant=meta.get("variant", "fine-tuned"), format="hf", meta=meta.get("meta", {}),
    )


@contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    # a filter, not setLevel: transformers runs extra checks (and prints their warnings) when
    # that logger's level is WARNING or above
    logger = logging.getLogger(name)

    def errors_only(record: logging.LogRecord) -> bool:
        return record.levelno > logging.WARNING

    logger.addFilter(errors_only)
    try:
        yield
    finally:
        logger.removeFilter(errors_only)


def _load_error(exc: BaseException) -> str:
    """transformers' message, without its advice on TensorFlow checkpoints: the pickle weights that
    --allow-pickle let through are simply not a readable PyTorch checkpoint."""
    text = str(exc)
    if "Unable to load weights from pytorch checkpoint file" in text:
        match = re.search(r"file for '([^']*)'", text)
        name = Path(match.group(1)).name if match else "the pickle weights"
        return (f"{name} is not a readable PyTorch pickle checkpoint (corrupt, truncated or another format); "
                f"re-export the model, preferably as safetensors")
    return text


def check_loading_info(directory: Path, info: dict[str, Any]) -> None:
    """Weights whose tensor names do not match the architecture are an error: transformers would
    otherwise initialise the missing ones at random and load a model that only looks trained."""
    problems = []
    for key, what in (("missing_keys", "missing"), ("unexpected_keys", "unexpected"),
                      ("mismatched_keys", "with the wrong shape")):
        names = [k[0] if isinstance(k, tuple) else k for k in info.get(key) or []]
        if names:
            problems.append(f"{len(names)} tensor(s) {what} ({', '.join(map(str, names[:5]))}"
                            f"{', ...' if len(names) > 5 else ''})")
    if problems:
        raise ModelLoadError(f"{directory}: the weights do not match the model's architecture: " + "; ".join(problems)
                             + ". Loading would leave those weights randomly initialised; re-export the model.")
