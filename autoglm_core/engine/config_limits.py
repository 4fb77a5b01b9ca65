"""Plan-time limits of a pipeline config that a field's own bounds cannot express: a
``max_length`` each candidate's position embeddings can hold (finite numbers and 64-bit integers are
checked when the config is validated: :mod:`autoglm_core.types.number_limits`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autoglm_core.types.errors import ConfigError


def backbone_max_positions(candidate: Any) -> int | None:
    """The longest input a candidate's position embeddings hold, when it can be read cheaply (its
    config.json, the tiny models' default); None when unknown."""
    if candidate.builder == "tiny-bert":
        return int(candidate.options.get("max_position", 512))
    if candidate.builder == "hf-embedded":
        from autoglm_core.models.candidates import minilm_available, minilm_path

        folder = Path(minilm_path()) if minilm_available() else None
    else:
        folder = Path(candidate.backbone)
    if folder is None or not (folder / "config.json").is_file():
        return None
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for key in ("max_position_embeddings", "n_positions", "n_ctx"):
        value = cfg.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return None


def check_max_length(config: Any, candidates: list[Any]) -> None:
    """``train.max_length`` (the user's, or the backbone's recommended one) must fit each candidate."""
    explicit = "max_length" in config.train.model_fields_set
    for cand in candidates:
        length = config.train.max_length if explicit else cand.train_overrides.get("max_length", config.train.max_length)
        limit = backbone_max_positions(cand)
        if limit is not None and length > limit:
            raise ConfigError(
                f"config field 'train.max_length': {length} tokens is more than candidate {cand.name!r} "
                f"({cand.backbone}) can hold ({limit} positions). Use train.max_length <= {limit}."
            )
