"""Open-AutoGLM plugin: tracker ``mlflow`` (enable with ``--track mlflow``).

Importing this module does not import mlflow: the tracker imports it when a run that enabled it
starts, so ``autoglm --help`` and runs without tracking stay fast.
"""

from __future__ import annotations

from autoglm_core import hookimpl

from .tracker import MlflowTracker

__all__ = ["MlflowTracker"]


@hookimpl
def autoglm_register_trackers(register):
    register(MlflowTracker)
