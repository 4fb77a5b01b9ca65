"""The exported model's card (README.md): shared header, task-specific sections from the task type
(classification: per-label table; NER: entity-level P/R/F1 and the entity types; generation:
perplexity and a sample completion by the saved model)."""

from __future__ import annotations

from autoglm_core.engine.report import model_card
from autoglm_core.plugin.context import RunContext
from autoglm_core.types.data import DataSplits, Example
from autoglm_core.types.schemas import DataSummary, TaskSpec, VariantResult


def scores(p, r, f, n):
    return {"precision": p, "recall": r, "f1": f, "support": n}


def test_classification_card_keeps_the_per_label_table():
    from autoglm_core.tasks.text_classification.plugin import TextClassification

    spec = TaskSpec(task_type="text_classification", description="sentiment", labels=["pos", "neg"])
    best = VariantResult(candidate="c0", variant="fine-tuned", backbone="tiny-bert", metrics={"accuracy": 0.9},
                         per_class={"pos": scores(0.9, 0.8, 0.85, 10), "neg": scores(0.8, 0.9, 0.85, 10)})
    tt = TextClassification()
    ctx = RunContext.standalone(spec=spec)
    card = model_card(spec, best, "best accuracy", tt.model_card_sections(ctx, best, ctx.run_dir), tt.card_pipeline_tag)
    assert "pipeline_tag: text-classification" in card and "Labels: pos, neg" in card
    assert "| label | precision | recall | F1 | support |" in card and "| pos | 0.900 | 0.800 | 0.850 | 10 |" in card
    assert card == model_card(spec, best, "best accuracy")  # the default is the classification card


def test_ner_card_shows_entity_level_scores_and_the_entity_types():
    from autoglm_core.tasks.token_classification.task import TokenClassification

    spec = TaskSpec(task_type="token_classification", description="find person and place names", metric="f1")
    best = VariantResult(candidate="c0", variant="fine-tuned", backbone="tiny-bert",
                         metrics={"f1": 0.75, "precision": 0.8, "recall": 0.7, "token_accuracy": 0.95},
                         per_class={"LOC": scores(1.0, 0.5, 0.667, 4), "PER": scores(0.667, 1.0, 0.8, 2)})
    tt = TokenClassification()
    ctx = RunContext.standalone(spec=spec)
    card = model_card(spec, best, "best f1", tt.model_card_sections(ctx, best, ctx.run_dir), tt.card_pipeline_tag)
    assert "pipeline_tag: token-classification" in card and "Entity types: LOC, PER" in card
    assert "| entity type | precision | recall | F1 | support |" in card
    assert "| LOC | 1.000 | 0.500 | 0.667 | 4 |" in card and "| **all (micro)** | 0.800 | 0.700 | 0.750 | 6 |" in card
    assert "| label |" not in card


def test_generation_card_shows_perplexity_and_a_sample_by_the_saved_model(tmp_path):
    from autoglm_core.models.tiny import tiny_gpt2_lm
    from autoglm_core.plugin.components import BuiltModel
    from autoglm_core.tasks.text_generation.plugin import TextGeneration

    docs = ["the quick brown fox jumps over the lazy dog again and again"] * 3
    model, tok = tiny_gpt2_lm(docs, vocab_size=300, n_positions=128)
    BuiltModel(model=model, tokenizer=tok, labels=[], task_type="text_generation").save(tmp_path / "m")
    test = [Example(text=d, label=None) for d in docs]
    splits = DataSplits(test, test, test, [], DataSummary(files=[], rows_read=3, rows_used=3, rows_skipped=0, label_counts={},
                                                      split_sizes={"test": 3}, language="en"))
    ctx = RunContext.standalone(splits=splits, task_type="text_generation", run_dir=tmp_path)
    best = VariantResult(candidate="c0", variant="fine-tuned", backbone="tiny-gpt2",
                         metrics={"perplexity": 41.5, "test_tokens": 36.0})
    tt = TextGeneration()
    card = model_card(ctx.spec, best, "lowest perplexity", tt.model_card_sections(ctx, best, tmp_path / "m"),
                      tt.card_pipeline_tag)
    assert "pipeline_tag: text-generation" in card
    assert "Perplexity on the test split: 41.50 over 36 tokens" in card
    assert "> **prompt:** the quick brown" in card and "> **completion:**" in card
    assert "| label |" not in card and "Labels:" not in card
