"""Whether output goes to a terminal: progress bars there, plain lines in a log file or CI.

A bar in a log file would add one line per refresh, so the training loop shows tqdm bars only on
a terminal, and the engine's stage progress writes one plain line per update elsewhere.
"""

from __future__ import annotations

import os
import sys
from typing import IO


def line_mode(stream: IO[str] | None = None) -> bool:
    """True when progress must be plain lines: the stream is not a terminal, or CI is set."""
    stream = sys.stderr if stream is None else stream
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        return True
    isatty = getattr(stream, "isatty", None)
    try:
        return not (isatty is not None and isatty())
    except ValueError:  # a closed stream
        return True


def bars_enabled(progress: bool = True) -> bool:
    """Whether tqdm bars may be shown (the training loop asks): only on a terminal."""
    return progress and not line_mode()
