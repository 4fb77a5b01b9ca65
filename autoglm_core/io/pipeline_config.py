"""Reading a pipeline config file (YAML or JSON) into a validated :class:`PipelineConfig`."""

from __future__ import annotations

from pathlib import Path

from autoglm_core.io.files import read_structured_file
from autoglm_core.types.schemas import PipelineConfig, validate


def read_pipeline_config(path: str | Path) -> PipelineConfig:
    """The config in ``path``; a syntax or validation error names the file (and line)."""
    return validate(PipelineConfig, read_structured_file(path) or {}, source=str(path))
