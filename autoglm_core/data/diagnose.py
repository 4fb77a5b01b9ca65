"""Explanations for data sets that cannot be split or learned: which rows were skipped and why, and
which labels have too few rows, so that "the test split is empty" comes with its cause."""

from __future__ import annotations

import math
import re
from collections import Counter

from autoglm_core.types.data import Example
from autoglm_core.types.errors import DataError
from autoglm_core.types.schemas import RowIssue

# stratified_split sends every label with fewer rows than this to the training split.
MIN_ROWS_TO_SPLIT = 3
# More distinct labels than this, all numbers, and the label column is read as a number, not classes.
MAX_NUMERIC_CLASSES = 20


def require_two_labels(examples: list[Example], files: list[str]) -> None:
    """A classifier needs at least two labels: with one, every prediction is right and the run
    would 'win' with accuracy 1.0 without learning anything."""
    counts = Counter(ex.label for ex in examples if ex.label is not None)
    if len(counts) >= 2:
        return
    where = ", ".join(files)
    if not counts:
        raise DataError(f"{where}: no row has a label; a classifier needs labelled rows of at least two labels.")
    (label, n), = counts.items()
    raise DataError(
        f"{where}: every usable row ({n}) has the label {label!r}; a classifier needs at least two labels "
        f"(with one, accuracy is 1.0 without learning). Add rows of the other labels, or check --label-column."
    )


def _reason_kind(reason: str) -> str:
    """Group reasons that differ only in numbers ('3 fields where the header has 2')."""
    return re.sub(r"\d+", "N", reason)


def skipped_summary(issues: list[RowIssue], limit: int = 3) -> str:
    if not issues:
        return ""
    kinds: dict[str, list[RowIssue]] = {}
    for issue in issues:
        kinds.setdefault(_reason_kind(issue.reason), []).append(issue)
    top = sorted(kinds.values(), key=len, reverse=True)[:limit]
    parts = [f"{len(group)} x {group[0].reason} (first at {group[0].file}:{group[0].line})" for group in top]
    more = f"; {len(kinds) - limit} other reasons" if len(kinds) > limit else ""
    return "; ".join(parts) + more


def why_split_is_empty(examples: list[Example], issues: list[RowIssue], rows_read: int) -> str:
    counts = Counter(ex.label for ex in examples)
    few = sorted((lab for lab, n in counts.items() if n < MIN_ROWS_TO_SPLIT), key=str)
    parts = [f"{rows_read} rows read, {len(examples)} usable, {len(issues)} skipped"]
    if issues:
        parts.append(f"skipped: {skipped_summary(issues)}")
    if few:
        shown = ", ".join(f"{lab!r} ({counts[lab]})" for lab in few[:5])
        more = f" and {len(few) - 5} more" if len(few) > 5 else ""
        parts.append(
            f"{len(few)} of {len(counts)} labels have fewer than {MIN_ROWS_TO_SPLIT} rows, and such labels go to "
            f"the training split only: {shown}{more}"
        )
    parts.append("give more labelled rows per label, fix the skipped rows, or give a test file (--test)")
    return "; ".join(parts) + "."


def _as_number(label: object) -> float | None:
    try:
        value = float(str(label).strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def check_labels_are_classes(examples: list[Example], files: list[str], label_column: str | None) -> list[str]:
    """A label column of many distinct numbers is a numeric target that classification would turn
    into one class per value. Fractional values cannot be class ids: a DataError pointing at
    ``load_numeric_splits``. Many distinct whole numbers may be class ids: a warning (returned)."""
    counts = Counter(ex.label for ex in examples if ex.label is not None)
    if len(counts) <= MAX_NUMERIC_CLASSES:
        return []
    values = [_as_number(label) for label in counts]
    if any(v is None for v in values):
        return []
    column = f"the label column {label_column!r}" if label_column else "the label column"
    sample = ", ".join(repr(str(label)) for label in sorted(counts, key=str)[:3])
    numeric = ("a task type with a numeric target (regression, scoring) loads its data with "
               "autoglm_core.load_numeric_splits, which reads it as numbers and splits by quantiles "
               "(docs/task-types.md)")
    if any(v is not None and not v.is_integer() for v in values):
        raise DataError(f"{', '.join(files)}: {column} holds {len(counts)} distinct numbers ({sample}, ...): that is a "
                        f"numeric target, not classes; read as classes it would give {len(counts)} labels. "
                        f"{numeric[0].upper()}{numeric[1:]}; for classes, give a column of class names.")
    if len(counts) * MIN_ROWS_TO_SPLIT > len(examples):
        return [f"{column} holds {len(counts)} distinct whole numbers ({sample}, ...), most with fewer than "
                f"{MIN_ROWS_TO_SPLIT} rows: read as {len(counts)} classes. If it is a numeric target, {numeric}."]
    return []
