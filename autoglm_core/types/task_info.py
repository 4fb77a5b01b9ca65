"""What a task type declares about itself, for the core to read: its metrics and the description
rules that recognise it (plain data, no ML imports)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """A metric a task type reports. ``keywords`` (a regex) lets the parser pick it from a
    description ("optimise macro-F1")."""

    name: str
    higher_is_better: bool = True
    description: str = ""
    keywords: str = ""


@dataclass(frozen=True)
class ParseRule:
    """A regex (case-insensitive) that recognises the task type in a description. Rules of every
    registered task type are tried by ``priority`` (lower first), so a specific task ("images with
    captions") is tested before a general one ("images")."""

    pattern: str
    confidence: float = 0.85
    priority: int = 50
