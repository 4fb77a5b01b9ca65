"""The robustness plugins inside `autoglm run`: attack and defend stages, robustness columns,
min_robust_accuracy, and robustness re-measured on the INT8 variant."""

from __future__ import annotations

import pytest

from autoglm_core import AutoTask, load_model
from autoglm_core.plugin.manager import get_manager
from autoglm_core.testing import sample_examples, write_csv


def needs(kind, *names):
    registry = get_manager().registry(kind)
    missing = [n for n in names if n not in registry]
    if missing:
        pytest.skip(f"{kind}(s) {missing} not installed (plugins/autoglm-plugin-fgsm, -int8)")


@pytest.mark.slow
def test_fgsm_and_char_noise_on_every_variant(tmp_path):
    needs("attack", "fgsm", "char-noise")
    needs("defense", "input-denoising")
    needs("compressor", "int8")
    data = write_csv(tmp_path / "d.csv", sample_examples(60))
    task = AutoTask.create(dataset=data, description="Classify news as positive, negative or neutral, robust",
                           backbones=["tiny-bert"], out=tmp_path / "run", min_robust_accuracy=0.05,
                           config={"train": {"epochs": 6, "learning_rate": 3e-3, "batch_size": 16},
                                   "compress": ["int8"], "defend": ["input-denoising"],
                                   "attack": [{"name": "fgsm", "options": {"epsilons": [0.5]}}, "char-noise"],
                                   "evaluate": {"latency_repeats": 1, "latency_examples": 4}})
    report = task.auto_build().launch(progress=False)
    by_variant = {v.variant: v for v in report.variants}
    assert {"fine-tuned", "int8", "input-denoising"} <= set(by_variant)
    tuned = by_variant["fine-tuned"]
    assert 0 <= tuned.robustness["fgsm:accuracy_under_attack"] <= 1
    assert 0 <= tuned.robustness["char-noise:accuracy_under_attack"] <= 1
    # INT8 has no embedding gradients: FGSM is skipped with the reason, the black-box attack still measures it
    int8 = by_variant["int8"]
    assert "char-noise:accuracy_under_attack" in int8.robustness
    skipped = [s for s in report.stages if s.key.endswith("attack/fgsm/int8")]
    assert skipped and skipped[0].status in ("skipped", "ok")
    assert "robust_accuracy" in by_variant["input-denoising"].robustness
    md = (tmp_path / "run" / "report.md").read_text()
    assert "char-noise:accuracy_under_attack" in md
    # the defended variant reloads with its denoiser attached
    defended = load_model(tmp_path / "run" / "candidates" / "c0-tiny-bert" / "input-denoising")
    assert "input-denoising" in defended.meta.get("defenses", [])
    assert type(defended.tokenizer).__name__ == "DenoisingTokenizer"
