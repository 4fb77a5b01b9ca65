"""TextAttack recipes offline, the recipe listing, and augmentation training."""

import pytest
from autoglm_plugin_textattack.recipes import get_recipe, recipe_table

from autoglm_core.plugin.manager import get_manager
from autoglm_core.types.errors import AutoGLMError


@pytest.mark.slow
def test_recipes_are_registered_and_unavailable_ones_say_why(textattack_trained_tiny):
    reg = get_manager().registry("attack")
    assert {"deepwordbug", "pwws", "pruthi", "textfooler", "textattack"} <= set(reg.names())
    rows = {r["recipe"]: r for r in recipe_table()}
    assert rows["deepwordbug"]["available"] and rows["pruthi"]["available"]
    assert not rows["textfooler"]["available"] and "Universal Sentence Encoder" in rows["textfooler"]["reason"]
    built, ctx = textattack_trained_tiny
    with pytest.raises(AutoGLMError, match="textfooler.*unavailable offline.*Runnable here: deepwordbug"):
        reg.get("textfooler")({}).attack(built, ctx.splits.test[:2], None)


def test_unknown_recipe_suggests_a_name():
    with pytest.raises(AutoGLMError, match="Did you mean 'deepwordbug'"):
        get_recipe("deepwordbugg")


def test_nltk_data_is_built_in_the_cache(tmp_path, monkeypatch):
    import os

    import autoglm_plugin_textattack.offline as off
    import nltk

    monkeypatch.setenv("AUTOGLM_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("NLTK_DATA", os.environ.get("NLTK_DATA", ""))
    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))
    monkeypatch.setattr(off, "_READY", None)
    root = off.prepare_nltk_data()
    words = (root / "corpora" / "stopwords" / "english").read_text().split()
    assert root == tmp_path / "nltk_data" and "the" in words and len(words) > 300
    if off.wordnet_source() is not None:
        lex = (root / "corpora" / "wordnet" / "lexnames").read_text().splitlines()
        assert len(lex) == 45 and lex[3] == "03\tnoun.Tops\t1"
    monkeypatch.setattr(off, "_READY", None)


@pytest.mark.slow
def test_deepwordbug_pwws_and_augmentation_training(textattack_trained_tiny):
    """One test imports textattack (15-20 s the first time) and runs the offline recipes."""
    import torch
    from autoglm_plugin_textattack.augmentation import TextAttackAugmentation

    built, ctx = textattack_trained_tiny
    reg = get_manager().registry("attack")
    test = ctx.splits.test[:12]
    before = [(e.text, e.label) for e in test]
    res = reg.get("deepwordbug")({}).attack(built, test, None)
    assert set(res) >= {"attack_success_rate", "accuracy_under_attack", "words_perturbed_pct", "queries_per_example"}
    assert res["clean_accuracy"] >= 0.9 and res["attack_success_rate"] >= 0.5
    assert res["accuracy_under_attack"] == pytest.approx(res["clean_accuracy"] * (1 - res["attack_success_rate"]))
    assert 0 < res["words_perturbed_pct"] <= 100 and res["queries_per_example"] >= 1
    assert [(e.text, e.label) for e in test] == before
    limited = reg.get("textattack")({"recipe": "deepwordbug", "query_budget": 2}).attack(built, test, None)
    assert limited["queries_per_example"] <= 2 and limited["attack_success_rate"] < res["attack_success_rate"]
    from autoglm_plugin_textattack.offline import has_wordnet

    if has_wordnet():
        pwws = reg.get("pwws")({}).attack(built, test[:4], None)
        assert pwws["attack_success_rate"] > 0

    defense = TextAttackAugmentation({"epochs": 1})
    copies = defense.augment(["Nokia profit rose strongly in the third quarter"], seed=0)
    assert copies[0] and copies[0][0] != "Nokia profit rose strongly in the third quarter"
    state = {k: v.clone() for k, v in built.model.state_dict().items()}
    out = defense.defend(built, ctx)
    assert out.meta["defenses"] == ["textattack-augmentation"] and out.meta["textattack_augmentation"]["augmented_examples"] > 30
    assert out.model is not built.model
    assert all(torch.equal(v, built.model.state_dict()[k]) for k, v in state.items())
    assert reg.get("deepwordbug")({}).attack(out, test, None)["clean_accuracy"] >= 0.8
