"""Open-AutoGLM plugin ``transfer``: cross-lingual transfer runs. ``autoglm run`` with a config
whose ``transfer:`` section names source and target languages trains on the source language(s)
and evaluates on every target (see docs/applications.md)."""

from __future__ import annotations

from typing import Any

from autoglm_core import hookimpl

from .transfer import discover_languages, markdown, resolve_language, run_transfer, run_transfer_command

__all__ = ["discover_languages", "markdown", "resolve_language", "run_transfer", "run_transfer_command"]


@hookimpl
def autoglm_run_mode(task: Any, args: Any) -> int | None:
    if task.config.transfer is None:
        return None
    return run_transfer_command(task, args)
