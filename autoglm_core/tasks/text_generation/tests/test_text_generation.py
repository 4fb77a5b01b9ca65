"""Task types text_generation / code_generation, the text corpus loader and the lm-likelihood scorer."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from autoglm_core.plugin.manager import get_manager  # noqa: E402
from autoglm_core.types.schemas import DataRef, PipelineConfig, TaskSpec, TrainConfig  # noqa: E402

CORPUS = [f"the company {c} reported that {w} in quarter {q}" for c in ("nokia", "acme", "kone", "orion")
          for w in ("profit rose", "sales fell", "orders grew") for q in (1, 2, 3)]


def context(tmp_path, task="text_generation", fmt="text", lines=CORPUS, method="full", **train):
    from autoglm_core.plugin.context import RunContext

    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    spec = TaskSpec(task_type=task, metric="perplexity", data=DataRef(path=str(path), format=fmt))
    cfg = PipelineConfig(train=TrainConfig(method=method, epochs=3, max_steps=train.pop("max_steps", 12),
                                           batch_size=8, max_length=32, learning_rate=3e-3, **train), device="cpu")
    ctx = RunContext(run_dir=tmp_path / "run", spec=spec, config=cfg, manager=get_manager(), progress=False)
    ctx.run_dir.mkdir()
    return ctx


def test_registered_components():
    pm = get_manager()
    assert {"text_generation", "code_generation"} <= set(pm.registry("task type").names())
    assert "lm-likelihood" in pm.registry("zero-shot scorer")
    assert {"text", "text-file"} <= set(pm.registry("data loader").names())


def test_text_loader_one_document_per_line(tmp_path):
    ctx = context(tmp_path)
    splits = get_manager().registry("task type").get("text_generation")().load_data(ctx)
    sizes = splits.summary.split_sizes
    assert sum(sizes.values()) == len(CORPUS) and sizes["test"] >= 1 and sizes["validation"] >= 1
    assert {ex.text for ex in splits.train + splits.validation + splits.test} == set(CORPUS)
    assert all(ex.line >= 1 and ex.file.endswith("corpus.txt") for ex in splits.train)


def test_too_small_corpus_is_a_clear_error(tmp_path):
    from autoglm_core.types.errors import DataError

    ctx = context(tmp_path, lines=["only one line"])
    with pytest.raises(DataError, match="at least 3 documents"):
        get_manager().registry("task type").get("text_generation")().load_data(ctx)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["full", "lora"])
def test_train_lowers_perplexity(tmp_path, method):
    from autoglm_core.models.causal_lm import tiny_gpt2_candidate
    from autoglm_core.training.causal_lm import perplexity

    ctx = context(tmp_path, method=method, max_steps=30)
    tt = get_manager().registry("task type").get("text_generation")()
    ctx.splits = tt.load_data(ctx)
    cand = tiny_gpt2_candidate()
    assert tt.zero_shot(ctx, cand) is None  # random tiny model: no baseline
    from autoglm_core.tasks.text_classification.plugin import build

    before = build(ctx, cand)
    test = [ex.text for ex in ctx.splits.test]
    ppl_before = perplexity(before.model, before.tokenizer, test)
    built = tt.train(ctx, cand)
    assert built.meta["steps"] > 0 and built.meta["history"]
    assert not hasattr(built.model, "peft_config"), "LoRA must be merged so the model saves as a plain model"
    out = ctx.run_dir / "model"
    built.save(out)
    from autoglm_core.engine.measure import evaluate_variant

    result = evaluate_variant(ctx, tt, built, "fine-tuned", out)  # the evaluate stage: task metrics + size, params
    # LoRA on a random 2-layer model trains few weights: it must still lower perplexity
    assert result.metrics["perplexity"] < ppl_before * (0.8 if method == "full" else 0.97)
    assert math.isclose(result.metrics["perplexity"], math.exp(result.metrics["loss"]), rel_tol=1e-6)
    assert result.params and result.size_mb and result.metrics["generate_tokens_per_s"] > 0


def test_code_generation_reports_syntax_rate(tmp_path):
    lines = [f"def f{i}(x):\n    return x + {i}".replace("\n", "  ") for i in range(12)]
    ctx = context(tmp_path, task="code_generation", lines=lines, max_steps=2)
    tt = get_manager().registry("task type").get("code_generation")()
    ctx.splits = tt.load_data(ctx)
    from autoglm_core.models.causal_lm import tiny_gpt2_candidate

    built = tt.train(ctx, tiny_gpt2_candidate())
    result = tt.evaluate(ctx, built, "fine-tuned")
    assert 0.0 <= result.metrics["syntax_ok_rate"] <= 1.0 and result.metrics["perplexity"] > 1


def test_unknown_lm_backbone_named():
    from autoglm_core.models.causal_lm import resolve_lm_backbone
    from autoglm_core.types.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="tiny-gpt3.*tiny-gpt2"):
        resolve_lm_backbone("tiny-gpt3", 0)


# ---------------------------------------------------------------------------- prompts and zero-shot


def test_prompt_registry():
    from autoglm_core.models import prompts
    from autoglm_core.types.errors import ConfigError, UnknownNameError

    assert prompts.render("classification", "zh", text="利润增长") == "文本：利润增长\n类别："
    assert prompts.render("classification", "en", text="x") == "Text: x\nCategory:"
    assert prompts.get_template("classification", "fr") == prompts.get_template("classification", "en")
    with pytest.raises(ConfigError, match=r"needs field\(s\) \['text'\]"):
        prompts.render("classification", "en")
    with pytest.raises(UnknownNameError, match="Did you mean 'classification'"):
        prompts.render("clasification", "en", text="x")
    prompts.register_template("test_tpl_h5", "en", "Q: {text}\nA:")
    assert prompts.render("test_tpl_h5", text="hi") == "Q: hi\nA:"
    with pytest.raises(ConfigError, match="already has"):
        prompts.register_template("test_tpl_h5", "en", "other {text}")


@pytest.mark.slow
def test_lm_likelihood_prefers_the_label_the_lm_learned(tmp_path):
    """Train a tiny LM on 'Text: ... Category: <label>' lines; the scorer must then recover the labels."""
    from autoglm_core.models.prompts import render
    from autoglm_core.models.tiny import tiny_gpt2_lm
    from autoglm_core.plugin.components import BuiltModel
    from autoglm_core.training.causal_lm import train_causal_lm

    pos = ["profit rose", "sales increased", "orders surged"]
    neg = ["profit fell", "sales dropped", "heavy losses"]
    lines = [render("classification", "en", text=t) + " " + lab for t, lab in
             [(p, "positive") for p in pos] + [(n, "negative") for n in neg]] * 4
    model, tok = tiny_gpt2_lm(lines, vocab_size=400, n_positions=64)
    cfg = TrainConfig(epochs=40, batch_size=8, max_length=64, learning_rate=5e-3, max_steps=120, patience=40)
    model, _ = train_causal_lm(model, tok, lines, [], cfg, device="cpu")
    built = BuiltModel(model=model, tokenizer=tok, labels=["positive", "negative"], task_type="text_classification")
    scorer = get_manager().registry("zero-shot scorer").get("lm-likelihood")()
    probs = scorer.predict_proba(built, pos + neg, ["positive", "negative"], "en")
    assert probs.shape == (6, 2) and abs(probs.sum(axis=1) - 1).max() < 1e-5
    assert probs.argmax(axis=1).tolist() == [0, 0, 0, 1, 1, 1]


def test_lm_likelihood_rejects_an_encoder():
    from autoglm_core.testing import tiny_text_classifier
    from autoglm_core.types.errors import ConfigError

    scorer = get_manager().registry("zero-shot scorer").get("lm-likelihood")()
    with pytest.raises(ConfigError, match="needs a causal language model"):
        scorer.predict_proba(tiny_text_classifier(), ["x"], ["a", "b"], "en")


def test_held_out_perplexity_is_the_kept_models_and_selection_reads_it(tmp_path):
    from autoglm_core.engine.selection import held_out_problem, select_best
    from autoglm_core.models.causal_lm import tiny_gpt2_candidate
    from autoglm_core.tasks.text_classification.plugin import build
    from autoglm_core.training.causal_lm import perplexity
    from autoglm_core.types.schemas import Objectives

    ctx = context(tmp_path, max_steps=6)
    tt = get_manager().registry("task type").get("text_generation")()
    ctx.splits = tt.load_data(ctx)
    cand = tiny_gpt2_candidate()
    built = tt.train(ctx, cand)
    trained = tt.evaluate(ctx, built, "fine-tuned")  # the loop's score of the kept epoch
    val = [ex.text for ex in ctx.splits.validation]
    fresh = perplexity(built.model, built.tokenizer, val, max_length=32)
    assert math.isclose(trained.metrics["val_perplexity"], fresh, rel_tol=1e-4)
    assert math.isclose(tt.evaluate(ctx, built, "rescored").metrics["val_perplexity"], fresh, rel_tol=1e-6)
    untrained = tt.evaluate(ctx, build(ctx, cand), "initialised")
    for v, d in ((trained, "a"), (untrained, "b")):
        v.model_dir = f"candidates/{d}"
    # make the test split disagree with the validation split: selection must not follow it
    untrained.metrics["perplexity"] = 1.0
    best, reason = select_best([trained, untrained], Objectives(primary_metric="perplexity"), False)
    assert best is trained and "val_perplexity" in reason and "test split" not in reason
    assert held_out_problem(type(tt), 2) is None
    problem = held_out_problem(get_manager().registry("task type").get("code_generation"), 2, "pass@1")
    assert problem and "benchmark" in problem and "'perplexity'" in problem


def test_a_built_in_task_type_without_held_out_metrics_fails_at_plan_time():
    from autoglm_core.engine.task import check_held_out
    from autoglm_core.types.errors import ConfigError

    plain = type("PlainLM", (get_manager().registry("task type").get("text_generation"),),
                 {"reports_held_out": False})
    with pytest.raises(ConfigError, match=r"val_perplexity.*reports_held_out = True"):
        check_held_out(plain, 2, "perplexity")
    check_held_out(plain, 1, "perplexity")  # one model: nothing is chosen
