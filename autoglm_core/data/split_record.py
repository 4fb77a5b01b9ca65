"""``split.json`` in the run directory: which rows (file and line) went to train, validation and
test, so anyone can score their own baseline on exactly the same rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoglm_core.io import atomic_write_json
from autoglm_core.types.data import DataSplits

SPLIT_FILE = "split.json"


def split_rows(splits: DataSplits) -> dict[str, dict[str, list[int]]]:
    """split name -> data file -> sorted 1-based line numbers (the line a row starts on)."""
    out: dict[str, dict[str, list[int]]] = {}
    for name in ("train", "validation", "test"):
        files: dict[str, list[int]] = {}
        for ex in splits.split(name):
            files.setdefault(ex.file, []).append(ex.line)
        out[name] = {f: sorted(lines) for f, lines in sorted(files.items())}
    return out


def write_split(run_dir: Path, splits: DataSplits, seed: int, extra: dict[str, Any] | None = None) -> Path:
    path = Path(run_dir) / SPLIT_FILE
    atomic_write_json(path, {
        "seed": seed,
        "note": "row ids are data file + 1-based line; the split depends on the rows, not on label names",
        "sizes": {k: len(splits.split(k)) for k in ("train", "validation", "test")},
        **(extra or {}),
        "rows": split_rows(splits),
    })
    return path
