"""Causal LMs in the pipeline: a GPT-2 backbone for classification gets the label-likelihood
zero-shot baseline; a text_generation run trains, reloads on resume and selects by perplexity."""

from __future__ import annotations

import pytest

from autoglm_core import AutoTask, load_model
from autoglm_core.models.tiny import tiny_gpt2_lm
from autoglm_core.testing import sample_examples, write_csv

CHEAP = {"compress": [], "evaluate": {"latency_repeats": 1, "latency_examples": 4}}


@pytest.mark.slow
def test_causal_lm_backbone_for_classification_uses_lm_likelihood_zero_shot(tmp_path):
    texts = [e.text for e in sample_examples(60)] + ["positive negative neutral"]
    model, tok = tiny_gpt2_lm(texts, vocab_size=300)
    model.save_pretrained(tmp_path / "gpt2")
    tok.save_pretrained(tmp_path / "gpt2")
    data = write_csv(tmp_path / "d.csv", sample_examples(45))
    task = AutoTask.create(dataset=data, description="Classify news as positive, negative or neutral",
                           backbones=[str(tmp_path / "gpt2")], out=tmp_path / "run",
                           config={**CHEAP, "train": {"epochs": 2, "learning_rate": 1e-3}})
    assert task.auto_build().candidates[0].family == "causal-lm"
    report = task.auto_build().launch(progress=False)
    zero = next(v for v in report.variants if v.variant == "zero-shot")
    assert "lm-likelihood" in zero.notes[0]
    assert report.best.variant == "fine-tuned"  # GPT2ForSequenceClassification, padded with EOS
    assert load_model(tmp_path / "run" / "model").model.config.pad_token_id is not None


@pytest.mark.slow
def test_text_generation_run_selects_by_perplexity_and_resumes(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(e.text for e in sample_examples(40)) + "\n", encoding="utf-8")
    kw = dict(task_type="text_generation", dataset={"path": str(corpus), "format": "text"},
              description="Generate short financial news lines", out=tmp_path / "run", backbones=["tiny-gpt2"],
              config={**CHEAP, "train": {"epochs": 2}})
    task = AutoTask.create(**kw)
    assert task.spec.metric == "perplexity" and task.spec.labels == []
    report = task.auto_build().launch(progress=False)
    assert report.best.metrics["perplexity"] > 1 and "perplexity" in report.selection_reason
    # resume reloads the saved causal LM through the task type's loader
    again = AutoTask.create(**kw).auto_build().launch(resume=True, progress=False)
    assert again.best.metrics["perplexity"] == report.best.metrics["perplexity"]
    assert load_model(tmp_path / "run" / "model").task_type == "text_generation"
