"""FGSM attack, FGSM adversarial training and gradient masking on a trained tiny BERT."""

import copy

import pytest
import torch
from autoglm_plugin_fgsm.char_noise import CharNoiseAttack
from autoglm_plugin_fgsm.fgsm_attack import FGSMAttack

from autoglm_core.plugin.manager import get_manager
from autoglm_core.types.errors import AutoGLMError


def test_registered_through_entry_point():
    m = get_manager()
    assert {"fgsm", "char-noise"} <= set(m.registry("attack").names())
    assert {"fgsm-adversarial-training", "gradient-masking", "input-denoising"} <= set(m.registry("defense").names())


def test_fgsm_lowers_accuracy_and_reports_each_epsilon(fgsm_trained_tiny):
    built, ctx = fgsm_trained_tiny
    test = ctx.splits.test
    before = copy.deepcopy([(e.text, e.label) for e in test])
    res = FGSMAttack({"epsilons": [0.02, 0.1], "epsilon": 0.1}).attack(built, test, None)
    assert set(res) >= {"accuracy_eps_0", "accuracy_eps_0.02", "accuracy_eps_0.1", "accuracy_under_attack",
                        "attack_success_rate", "clean_accuracy", "zero_gradient_fraction"}
    assert res["clean_accuracy"] == res["accuracy_eps_0"] >= 0.9
    assert res["accuracy_under_attack"] == res["accuracy_eps_0.1"] < res["clean_accuracy"] - 0.4
    assert res["zero_gradient_fraction"] == 0.0
    assert [(e.text, e.label) for e in test] == before  # the user's examples are untouched


def test_fgsm_uses_run_test_split_when_no_examples(fgsm_trained_tiny):
    built, ctx = fgsm_trained_tiny
    res = FGSMAttack({"epsilons": [0.05]}).attack(built, [], ctx)
    assert res["examples"] == len(ctx.splits.test)


@pytest.mark.parametrize("bad", [-0.1, "abc", float("nan"), True])
def test_bad_epsilon_is_a_clear_error(bad):
    with pytest.raises(AutoGLMError, match="epsilon"):
        FGSMAttack({"epsilons": [0.01, bad]})
    with pytest.raises(AutoGLMError, match="epsilon"):
        FGSMAttack({"epsilon": bad})


def test_unknown_label_names_file_and_line(fgsm_trained_tiny):
    from autoglm_core.types.data import Example

    built, _ = fgsm_trained_tiny
    with pytest.raises(AutoGLMError, match=r"data.csv:7.*'bullish'"):
        FGSMAttack({}).attack(built, [Example("profit rose", "bullish", "data.csv", 7)], None)


def test_quantized_model_has_no_embedding_gradient(fgsm_trained_tiny):
    import dataclasses

    built, ctx = fgsm_trained_tiny
    q = torch.ao.quantization.quantize_dynamic(copy.deepcopy(built.model), {torch.nn.Linear}, dtype=torch.qint8)
    with pytest.raises(AutoGLMError, match="gradient-free"):
        FGSMAttack({}).attack(dataclasses.replace(built, model=q), ctx.splits.test[:4], None)


@pytest.mark.slow
def test_adversarial_training_raises_accuracy_under_fgsm(fgsm_trained_tiny):
    from autoglm_plugin_fgsm.adversarial_training import FGSMAdversarialTraining

    built, ctx = fgsm_trained_tiny
    state = {k: v.clone() for k, v in built.model.state_dict().items()}
    attack = FGSMAttack({"epsilons": [0.05], "epsilon": 0.1})
    before = attack.attack(built, ctx.splits.test, None)
    adv = FGSMAdversarialTraining({"epsilon": 0.1, "epochs": 6}).defend(built, ctx)
    after = attack.attack(adv, ctx.splits.test, None)
    assert after["accuracy_under_attack"] >= before["accuracy_under_attack"] + 0.25, (before, after)
    assert after["clean_accuracy"] >= before["clean_accuracy"] - 0.1
    assert adv.meta["defenses"] == ["fgsm-adversarial-training"] and adv.variant.endswith("+adv")
    # the input model is not modified
    assert all(torch.equal(v, built.model.state_dict()[k]) for k, v in state.items())


def test_adversarial_training_needs_training_data(fgsm_trained_tiny):
    from autoglm_plugin_fgsm.adversarial_training import FGSMAdversarialTraining

    built, _ = fgsm_trained_tiny
    with pytest.raises(AutoGLMError, match="training data"):
        FGSMAdversarialTraining({}).defend(built, None)


def test_gradient_masking_only_hides_gradients(fgsm_trained_tiny):
    from autoglm_plugin_fgsm.masking import GradientMasking

    built, ctx = fgsm_trained_tiny
    test = ctx.splits.test
    masked = GradientMasking({}).defend(built, ctx)
    assert masked.predict(test_texts := [e.text for e in test]) == built.predict(test_texts)
    fgsm = FGSMAttack({"epsilons": [0.1], "epsilon": 0.1})
    plain, hidden = fgsm.attack(built, test, None), fgsm.attack(masked, test, None)
    # FGSM looks defeated ...
    assert hidden["accuracy_under_attack"] > plain["accuracy_under_attack"] + 0.4
    assert hidden["zero_gradient_fraction"] > 0.5
    # ... but a gradient-free attack still succeeds as often as on the plain model
    noise = CharNoiseAttack({"seed": 0})
    assert noise.attack(masked, test, None)["attack_success_rate"] >= 0.5
