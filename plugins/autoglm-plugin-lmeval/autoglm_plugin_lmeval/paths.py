"""Where the plugin keeps its caches (benchmark mirrors, lm-eval's request/response caches,
tokenizer fix-ups): ``$AUTOGLM_CACHE_DIR/lm-eval``, else ``~/.cache/autoglm/lm-eval``."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "AUTOGLM_CACHE_DIR"


def cache_root(override: str | os.PathLike[str] | None = None) -> Path:
    if override:
        root = Path(override).expanduser()
    elif os.environ.get(CACHE_ENV):
        root = Path(os.environ[CACHE_ENV]).expanduser() / "lm-eval"
    else:
        root = Path.home() / ".cache" / "autoglm" / "lm-eval"
    root.mkdir(parents=True, exist_ok=True)
    return root
