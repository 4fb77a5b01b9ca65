"""`autoglm generate` on the folder of a text_generation run: a LoRA fine-tune (merged on save)
generates through the run folder itself and through its exported model/ alike."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from autoglm_core import AutoTask, load_model  # noqa: E402
from autoglm_core.cli.main import main  # noqa: E402
from autoglm_core.testing import sample_examples  # noqa: E402

CHEAP = {"compress": [], "evaluate": {"latency_repeats": 1, "latency_examples": 4}}


@pytest.mark.slow
def test_generate_on_a_lora_run_folder(tmp_path, capsys):
    from autoglm_core.models.decoding.text import generate_text

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(e.text for e in sample_examples(40)) + "\n", encoding="utf-8")
    run = tmp_path / "run"
    task = AutoTask.create(task_type="text_generation", dataset={"path": str(corpus), "format": "text"},
                           description="Generate short financial news lines", out=run, backbones=["tiny-gpt2"],
                           config={**CHEAP, "train": {"epochs": 1, "method": "lora", "max_steps": 4}})
    report = task.auto_build().launch(progress=False)
    assert report.best.variant == "fine-tuned"
    assert (run / "config.json").is_file()  # the run's config, which is not a model config

    assert main(["generate", str(run), "The company", "--max-new-tokens", "6"]) == 0
    from_run = capsys.readouterr().out
    assert main(["generate", str(run / "model"), "The company", "--max-new-tokens", "6"]) == 0
    assert capsys.readouterr().out == from_run

    saved = load_model(run / "model")
    assert not hasattr(saved.model, "peft_config")
    expected = generate_text(saved.model.eval(), saved.tokenizer, ["The company"], "greedy", max_new_tokens=6)[0]
    assert from_run == "The company" + expected + "\n"
