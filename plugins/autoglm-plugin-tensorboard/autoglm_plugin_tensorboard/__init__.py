"""Open-AutoGLM plugin: tracker ``tensorboard`` (enable with ``--track tensorboard``).

Importing this module does not import tensorboard or torch: the tracker imports them when a run
that enabled it starts.
"""

from __future__ import annotations

from autoglm_core import hookimpl

from .tracker import TensorBoardTracker

__all__ = ["TensorBoardTracker"]


@hookimpl
def autoglm_register_trackers(register):
    register(TensorBoardTracker)
