"""Data whose target is a number (regression, scoring): read, checked and split by quantiles.

:func:`~autoglm_core.data.load.load_splits` treats the label column as classes, so a numeric
target would become one "label" per distinct value. A task type with a numeric target loads its
data with :func:`load_numeric_splits` instead: every target must parse as a number (a row that
does not is named), and the rows are split so that train, validation and test each span the range
of the target (stratified on its quantile bins)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from autoglm_core.data.language import detect_language
from autoglm_core.data.load import read_given_files, stratified_split
from autoglm_core.types.data import DataSplits, Example
from autoglm_core.types.errors import DataError
from autoglm_core.types.schemas import DataSummary, SplitConfig, TaskSpec

#: quantile bins the split stratifies on (fewer when the data is small: at least 3 rows a bin)
DEFAULT_BINS = 5


def numeric_target(example: Example) -> float:
    """The example's target (its label column) as a number; a DataError naming the row otherwise."""
    try:
        value = float(str(example.label).strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise DataError(f"{example.file}:{example.line}: the target {example.label!r} is not a finite number "
                        f"(a numeric task reads its label column as numbers).")
    return value


def quantile_split(examples: list[Example], split: SplitConfig, seed: int,
                   bins: int = DEFAULT_BINS) -> tuple[list[Example], list[Example], list[Example], list[str]]:
    """Train, validation and test rows (and notes), stratified on the target's quantile bins, so
    that each split spans the range of the target; deterministic for a seed."""
    values = [numeric_target(ex) for ex in examples]
    n = len(examples)
    bins = max(1, min(bins, n // 3))
    order = sorted(range(n), key=lambda i: (values[i], examples[i].file, examples[i].line))
    tagged: list[Example] = [examples[0]] * n
    for rank, i in enumerate(order):
        tagged[i] = dataclasses.replace(examples[i], label=f"q{rank * bins // n}")
    original = {id(t): ex for t, ex in zip(tagged, examples, strict=True)}
    parts = stratified_split(tagged, split, seed)
    train, val, test = ([original[id(t)] for t in part] for part in parts[:3])
    return train, val, test, [note.replace("label 'q", "quantile bin 'q") for note in parts[3]]


def load_numeric_splits(spec: TaskSpec, split: SplitConfig, seed: int, manager: Any,
                        bins: int = DEFAULT_BINS) -> DataSplits:
    """Like ``load_splits`` for a numeric target: one file split by quantiles, or given
    train/validation/test files (a missing validation or test split is carved out of train).
    ``DataSplits.labels`` is empty: there are no classes."""
    ref = spec.data
    if ref is None:
        raise DataError("no data given: pass a data file (CLI: --data FILE; Python: dataset='file.csv').")
    given = read_given_files(ref, manager)
    parts, files, issues, rows_read = given.parts, given.files, given.issues, given.rows_read
    text_col, label_col = given.text_column, given.label_column
    if "path" in parts:
        train, val, test, notes = quantile_split(parts["path"], split, seed, bins)
    else:
        if "train" not in parts:
            raise DataError("no training data: give a data file, or a train file (and optionally validation/test).")
        frac_val = split.validation / split.train if "validation" not in parts else 0.0
        frac_test = split.test / split.train if "test" not in parts else 0.0
        sub = SplitConfig.model_construct(train=1 - frac_val - frac_test, validation=frac_val, test=frac_test)
        train, val, test, notes = quantile_split(parts["train"], sub, seed, bins)
        val, test = parts.get("validation", val), parts.get("test", test)
    every = train + val + test
    for ex in every:
        numeric_target(ex)  # given split files are checked too
    for name, part in (("training", train), ("test", test)):
        if not part:
            raise DataError(f"{', '.join(files)}: the {name} split is empty ({len(every)} usable rows).")
    summary = DataSummary(
        files=[str(Path(f)) for f in files], rows_read=rows_read, rows_used=len(every), rows_skipped=len(issues),
        skipped=issues[:100], label_counts={}, split_sizes={"train": len(train), "validation": len(val),
                                                            "test": len(test)},
        language=detect_language(ex.text for ex in every[:2000]), text_column=text_col, label_column=label_col,
    )
    return DataSplits(train, val, test, [], summary, notes=notes)
