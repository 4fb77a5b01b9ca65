"""Numeric labels (0/1) and a description that names them: the zero-shot scorer's agreement with
each assignment on the training rows names them when the evidence is clear (reported with its
confidence); otherwise a warning gives the exact --label-map to use."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from autoglm_core import AutoTask
from autoglm_core.plugin.context import RunContext
from autoglm_core.tasks.text_classification.label_mapping import score_assignments

GOOD = ["good news profit rose", "growth and gains", "strong improvement and growth", "profit rose again"]
BAD = ["bad news loss", "decline and layoffs", "sales fell and drop", "heavy loss and decline"]
PLAIN = ["the meeting is on monday", "a report was published", "the board met today", "new office opened"]


def write_rows(path: Path, rows: list[tuple[str, str]]) -> Path:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerows(rows)
    return path


def load(tmp_path: Path, rows: list[tuple[str, str]]):
    data = write_rows(tmp_path / "d.csv", rows)
    task = AutoTask.create(task_type=None, dataset=data, out=tmp_path / "run", backbones=["tiny-bert"],
                           description="Classify the news as positive or negative")
    pipeline = task.auto_build()
    ctx = RunContext(run_dir=tmp_path / "run", spec=task.spec, config=task.config, manager=task.manager,
                     candidates=list(pipeline.candidates), progress=False)
    return ctx.task_type.load_data(ctx)


def test_an_obvious_mapping_is_applied_and_reported(tmp_path):
    rng = random.Random(0)
    # code 1 = the positive words, code 0 = the negative ones: the opposite of the description's order
    rows = [(f"{rng.choice(GOOD)} in q{i % 4}", "1") if i % 2 else (f"{rng.choice(BAD)} in q{i % 4}", "0")
            for i in range(60)]
    splits = load(tmp_path, rows)
    rec = splits.summary.label_mapping
    assert rec is not None and rec["applied"] is True
    assert rec["assignment"] == {"0": "negative", "1": "positive"}
    assert rec["margin"] >= rec["threshold"] and rec["agreement"] > rec["runner_up"]
    assert splits.labels == ["positive", "negative"]
    assert {ex.label for ex in splits.train} == {"positive", "negative"}
    good = next(ex for ex in splits.train + splits.test if ex.text.split(" in ")[0] in GOOD)
    assert good.label == "positive"
    assert set(splits.summary.label_counts) == {"positive", "negative"}
    note = next(n for n in splits.notes if "numeric labels named" in n)
    assert "0=negative,1=positive" in note and "agrees with it on" in note
    assert not any("rerun with --label-map 0=" in n for n in splits.notes)


def test_an_unclear_mapping_keeps_the_codes_and_prints_the_label_map(tmp_path):
    rng = random.Random(1)
    rows = [(f"{rng.choice(PLAIN)} number {i}", str(i % 2)) for i in range(60)]  # nothing says which is which
    splits = load(tmp_path, rows)
    rec = splits.summary.label_mapping
    assert rec is not None and rec["applied"] is False and rec["margin"] < rec["threshold"]
    assert splits.labels == ["0", "1"] and {ex.label for ex in splits.train} == {"0", "1"}
    note = next(n for n in splits.notes if "not named automatically" in n)
    assert "--label-map 0=" in note


def test_assignments_are_scored_by_agreement_on_the_rows():
    # the scorer's top name is "positive" on rows coded 1 and "negative" on rows coded 0, 3 of 4 times
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8], [0.1, 0.9], [0.7, 0.3]])
    codes = ["1", "1", "1", "0", "0", "0"]
    scored = score_assignments(probs, codes, ["0", "1"], ["positive", "negative"])
    assert scored[0] == ({"0": "negative", "1": "positive"}, 4 / 6)
    assert scored[1] == ({"0": "positive", "1": "negative"}, 2 / 6)


def test_labels_already_named_are_left_alone(tmp_path):
    rows = [(f"{GOOD[i % 4]} {i}", "positive") if i % 2 else (f"{BAD[i % 4]} {i}", "negative") for i in range(30)]
    splits = load(tmp_path, rows)
    assert splits.summary.label_mapping is None and splits.labels == ["positive", "negative"]


