"""The gradient-free char-noise attack (English and Chinese) and the input-denoising defense."""

import random

import pytest
from autoglm_plugin_fgsm.char_noise import CharNoiseAttack
from autoglm_plugin_fgsm.denoise import Denoiser, DenoisingTokenizer, InputDenoising, osa_distance
from autoglm_plugin_fgsm.noise import HOMOPHONES, char_variants, units, word_variants


def test_units_split_chinese_into_characters_and_keep_words():
    assert units("Nokia pro*fit rose, 酒店很好") == ["Nokia", " ", "pro*fit", " ", "rose", ",", " ", "酒", "店", "很", "好"]


def test_variants_are_one_edit_and_chinese_uses_homophones():
    rng = random.Random(0)
    for v in word_variants("growth", rng, 10):
        assert v != "growth" and (osa_distance(v, "growth") <= 1 or any(ord(c) > 127 or c in "*.`~^|" for c in v))
    zh = char_variants("很", "好", rng, 6)
    assert "狠" in zh and "" in zh and "很很" in zh and HOMOPHONES["很"] == "很狠"


def test_char_noise_flips_english_predictions(fgsm_trained_tiny):
    built, ctx = fgsm_trained_tiny
    res = CharNoiseAttack({"seed": 0}).attack(built, ctx.splits.test, None)
    assert res["clean_accuracy"] >= 0.9
    assert res["attack_success_rate"] >= 0.5
    assert res["accuracy_under_attack"] < res["clean_accuracy"]
    assert 0 < res["perturbed_units_pct"] <= 100 * 0.2 + 1e-9  # within the 20 % budget
    assert res["queries_per_example"] > 1


@pytest.mark.slow
def test_char_noise_attacks_chinese_text(fgsm_trained_chinese):
    built, ctx = fgsm_trained_chinese
    attack = CharNoiseAttack({"seed": 0, "max_perturb_ratio": 0.3})
    rng = random.Random(0)
    label_id = {lab: i for i, lab in enumerate(built.labels)}
    outcomes = [attack.attack_one(built, ex.text, label_id[ex.label], rng) for ex in ctx.splits.test]
    won = [o for o in outcomes if o["status"] == "succeeded"]
    assert won, "no Chinese example was flipped"
    for o in won:
        assert o["adversarial"] != o["text"]
        assert built.predict([o["adversarial"]])[0] != built.predict([o["text"]])[0]
    res = attack.attack(built, ctx.splits.test, None)
    assert res["accuracy_under_attack"] < res["clean_accuracy"]


def test_denoiser_fixes_character_noise():
    d = Denoiser(["profit", "rose", "strong", "growth", "quarter", "good", "in"])
    assert d("Nokіa pr*ofit rоse strongg groooowth in quartr 3") == "Nokia profit rose strong growth in quarter 3"
    assert d("Pr0fit ROSE\u200b") == "Profit ROSE"
    assert d("Profti") == "Profit"  # adjacent swap
    assert d("好*评，服务很好") == "好评，服务很好"
    assert d("2024 Q3 U.S. year-on-year") == "2024 Q3 U.S. year-on-year"  # numbers and normal tokens kept


def test_input_denoising_defends_char_noise_and_survives_save_load(fgsm_trained_tiny, tmp_path):
    from autoglm_plugin_fgsm.denoise import restore

    from autoglm_core.models.loading import load_model

    built, ctx = fgsm_trained_tiny
    defended = InputDenoising({}).defend(built, ctx)
    assert isinstance(defended.tokenizer, DenoisingTokenizer) and defended.format == "hf"
    assert defended.model is built.model  # weights are shared, not changed
    attack = CharNoiseAttack({"seed": 0})
    plain = attack.attack(built, ctx.splits.test, None)
    guarded = attack.attack(defended, ctx.splits.test, None)
    assert guarded["accuracy_under_attack"] >= plain["accuracy_under_attack"] + 0.3

    defended.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.meta["defenses"] == ["input-denoising"]
    loaded = restore(loaded)
    noisy = ["Nokіa pr*ofit rоse in quartr 3", "Acme heavvvy lossess in quarter 2"]
    assert loaded.predict(noisy) == defended.predict(noisy)
    assert loaded.predict(noisy) == built.predict(["Nokia profit rose in quarter 3", "Acme heavy losses in quarter 2"])
