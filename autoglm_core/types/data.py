"""Plain data containers shared by loaders, task types and plugins."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autoglm_core.types.schemas import DataSummary, RowIssue


@dataclass
class Example:
    """One usable row. ``file``/``line`` point back to where it came from (1-based line)."""

    text: str
    label: str | None
    file: str = ""
    line: int = 0
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoadedRows:
    """What a data loader read from one file: usable rows plus the rows it had to skip."""

    examples: list[Example]
    issues: list[RowIssue]
    rows_read: int
    text_column: str | None = None
    label_column: str | None = None
    encoding: str = "utf-8"


@dataclass
class DataSplits:
    train: list[Example]
    validation: list[Example]
    test: list[Example]
    labels: list[str]
    summary: DataSummary
    notes: list[str] = field(default_factory=list)

    def split(self, name: str) -> list[Example]:
        if name not in ("train", "validation", "test"):
            raise KeyError(f"unknown split {name!r}: train, validation or test")
        return getattr(self, name)
