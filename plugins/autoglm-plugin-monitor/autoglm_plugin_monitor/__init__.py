"""Sentiment monitoring of a stream of documents with a saved classifier.

    autoglm monitor runs/news/model --input feed/ --rules rules.yaml --out monitor-out --follow

Pieces, one job each: :mod:`.rules` (the validated rules file), :mod:`.clean` (text cleaning and
duplicate detection), :mod:`.sources` (JSONL/CSV/TXT files, a growing folder or stdin, read from
saved byte offsets), :mod:`.alerts` (sliding-window rules), :mod:`.engine` (batches, inference,
outputs and the resumable state).
"""

from __future__ import annotations

from .command import autoglm_add_commands
from .engine import Monitor, MonitorSummary
from .rules import AlertRule, RulesFile, load_rules

__all__ = ["AlertRule", "Monitor", "MonitorSummary", "RulesFile", "autoglm_add_commands", "load_rules"]
