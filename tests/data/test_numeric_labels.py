"""A classification load of a label column that is a number: ``load_splits`` would make one class
per distinct value (64 "labels" from 64 scores). Fractional numbers are refused with a pointer at
``load_numeric_splits``; many distinct whole numbers (perhaps class ids) load with a warning; a few
numeric codes are ordinary classes."""

import csv
import random

import pytest

from autoglm_core import DataError, TaskSpec, get_manager, load_numeric_splits, load_splits
from autoglm_core.types.schemas import SplitConfig


def write(path, labels):
    rng = random.Random(0)
    words = ["profit", "sales", "costs", "shares", "board", "quarter", "rose", "fell"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["text", "score"])
        for label in labels:
            out.writerow([" ".join(rng.sample(words, 4)), label])
    return path


def spec(path):
    return TaskSpec(task_type="text_classification", data={"path": str(path), "label_column": "score"})


def test_a_continuous_label_column_is_refused_naming_load_numeric_splits(tmp_path):
    rng = random.Random(1)
    path = write(tmp_path / "scores.csv", [f"{rng.uniform(0, 5):.4f}" for _ in range(64)])
    with pytest.raises(DataError, match=r"label column 'score' holds 64 distinct numbers.*numeric target.*"
                                         r"load_numeric_splits"):
        load_splits(spec(path), SplitConfig(), 0, get_manager())
    numeric = load_numeric_splits(spec(path), SplitConfig(), 0, get_manager())  # what the message points at
    assert numeric.labels == [] and sum(map(len, (numeric.train, numeric.validation, numeric.test))) == 64


def test_many_whole_numbers_load_as_classes_with_a_warning(tmp_path):
    path = write(tmp_path / "ids.csv", [str(i % 30) for i in range(75)])  # 30 class ids, some of 3 rows
    splits = load_splits(spec(path), SplitConfig(), 0, get_manager())
    assert len(splits.labels) == 30
    assert any("30 distinct whole numbers" in n and "load_numeric_splits" in n for n in splits.notes)
    # too few rows a value to split: the split error says what the column probably is
    path = write(tmp_path / "years.csv", [str(1950 + i) for i in range(40)])
    with pytest.raises(DataError, match=r"test split is empty.*The label column 'score' holds 40 distinct whole "
                                         r"numbers.*load_numeric_splits"):
        load_splits(spec(path), SplitConfig(), 0, get_manager())


def test_a_few_numeric_codes_are_ordinary_classes(tmp_path):
    path = write(tmp_path / "codes.csv", [str(i % 3) for i in range(60)])
    splits = load_splits(spec(path), SplitConfig(), 0, get_manager())
    assert sorted(splits.labels) == ["0", "1", "2"]
    assert not any("numeric" in n for n in splits.notes)
