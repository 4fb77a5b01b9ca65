"""The code in the plugin guides runs as documented: the blocks are taken from the markdown and
executed, so the docs cannot drift from the code."""

from __future__ import annotations

import re
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def python_block(doc: str, containing: str) -> str:
    """The ```python block of ``docs/<doc>`` that contains ``containing``."""
    text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if containing in b]
    assert len(blocks) == 1, f"docs/{doc}: expected one python block with {containing!r}, found {len(blocks)}"
    return blocks[0]


def load_block_as_module(doc: str, containing: str, name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(python_block(doc, containing), f"docs/{doc}", "exec"), module.__dict__)
    return module


def test_compressor_example_reloads_in_its_own_format(tmp_path):
    import torch

    from autoglm_core import load_model
    from autoglm_core.plugin.manager import get_manager
    from autoglm_core.testing import tiny_text_classifier

    plugin = load_block_as_module("plugins.md", "class HalfPrecision", "autoglm_plugin_myplugin")
    get_manager().register(plugin, name="myplugin")
    fp32 = tiny_text_classifier()
    half = get_manager().registry("compressor").get("fp16")({}).compress(fp32, None)
    assert next(fp32.model.parameters()).dtype == torch.float32  # the input variant is untouched
    half.save(tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert (again.format, again.variant, again.labels) == ("fp16", "fp16", fp32.labels)
    assert {p.dtype for p in again.model.parameters()} == {torch.float16}
    texts = ["Nokia profit rose in quarter 2", "Acme shares plunged in quarter 1", "board appointed"]
    assert abs(again.predict_proba(texts) - fp32.predict_proba(texts)).max() < 1e-2
    again.save(tmp_path / "again")  # a reloaded model saves through the same format
    assert {p.dtype for p in load_model(tmp_path / "again").model.parameters()} == {torch.float16}


def test_worked_task_type_runs_the_pipeline_and_reloads(tmp_path, monkeypatch):
    import sys

    from autoglm_core.plugin.manager import get_manager
    from autoglm_core.testing import sample_examples, write_csv

    plugin = load_block_as_module("task-types.md", "class KeywordClassification", "autoglm_plugin_keywords")
    get_manager().register(plugin, name="keywords")
    monkeypatch.setitem(sys.modules, "autoglm_plugin_keywords", plugin)
    write_csv(tmp_path / "news.csv", sample_examples(150))
    monkeypatch.chdir(tmp_path)  # the usage block names relative paths
    usage = python_block("task-types.md", "AutoTask.create(task_type=\"keyword_classification\"")
    namespace: dict = {}
    exec(compile(usage, "docs/task-types.md", "exec"), namespace)
    report = namespace["report"]
    assert {v.candidate for v in report.variants} == {"keywords-4", "keywords-16"}
    assert report.best.metrics["accuracy"] >= 0.9  # the sample sentences carry one keyword pair per label
    assert report.spec.task_type == "keyword_classification"
    assert not any(s.stage == "compress" for s in report.stages)  # default_compress = ()
    reloaded = namespace["load_model"]("runs/kw/model")
    assert reloaded.task_type == "keyword_classification"
    assert reloaded.model.predict(["Nokia profit rose in quarter 2", "Acme heavy losses in quarter 1"]) == [
        "positive", "negative"]
