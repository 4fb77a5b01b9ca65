"""Where the shared data sets (HumanEval, Financial PhraseBank, ...) are found: tests, benchmarks and the
HumanEval harness read them from there."""

from __future__ import annotations

import os
from pathlib import Path


def shared_data_dir() -> Path | None:
    """The ``shared/data`` folder beside the project checkout (or $AUTOGLM_SHARED_DATA), or None when absent."""
    env = os.environ.get("AUTOGLM_SHARED_DATA")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve().parent.parent
    candidates += [here.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for c in candidates:
        if c.is_dir():
            return c
    return None
