"""The typed plugin contract: plugins import only the public facade of autoglm_core and depend on
a bounded core version; every optional member the core calls is declared on its base class."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_SOURCES = sorted(p for pkg in (ROOT / "plugins").glob("*/autoglm_plugin_*") for p in pkg.rglob("*.py"))


def internal_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import of an autoglm_core sub-module (``autoglm_core`` itself is the facade)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("autoglm_core."):
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("autoglm_core.")]
    return out


def test_plugins_import_only_the_public_facade():
    assert PLUGIN_SOURCES
    offenders = [f"{p.relative_to(ROOT)}:{line}: {mod}" for p in PLUGIN_SOURCES
                 for line, mod in internal_imports(p.read_text(encoding="utf-8"))]
    assert not offenders, "import these names from autoglm_core (add them to its facade):\n" + "\n".join(offenders)


def test_the_scan_sees_internal_imports():
    src = "from autoglm_core import hookimpl\nimport autoglm_core.io\ndef f():\n    from autoglm_core.types.errors import X\n"
    assert internal_imports(src) == [(2, "autoglm_core.io"), (4, "autoglm_core.types.errors")]


def test_every_facade_name_resolves_without_ml_imports():
    import subprocess
    import sys

    code = ("import sys, autoglm_core\n"
            "[getattr(autoglm_core, n) for n in autoglm_core.__all__]\n"
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("pyproject", sorted((ROOT / "plugins").glob("*/pyproject.toml")), ids=lambda p: p.parent.name)
def test_plugins_depend_on_a_bounded_core(pyproject):
    text = pyproject.read_text(encoding="utf-8")
    assert re.search(r'"autoglm-core>=0\.1,<0\.2"', text), f"{pyproject}: depend on autoglm-core>=0.1,<0.2"


def test_optional_members_have_not_supported_defaults(tmp_path):
    from autoglm_core import Compressor, Defense, TaskType
    from autoglm_core.types.errors import NotApplicableError

    class Bare(TaskType):
        name = "bare"

    assert Bare.default_compress is None and Bare.needs_training_data and not Bare.text_predictor
    assert Bare().candidates(None) == [] and Bare().extra_metrics(None, [], []) == {}
    assert Bare().latency_inputs(None, None) is None and not Bare.can_load_models()
    with pytest.raises(NotApplicableError, match="'bare' cannot reload"):
        Bare.load_model(tmp_path, {})
    assert Compressor().needs_training_data() is False
    sentinel = object()
    assert Defense.restore(sentinel) is sentinel


def test_standalone_context_for_commands_and_tests(tmp_path):
    from autoglm_core import RunContext
    from autoglm_core.testing import sample_examples
    from autoglm_core.types.data import DataSplits

    ex = sample_examples(12)
    ctx = RunContext.standalone(splits=DataSplits(ex[:8], ex[8:10], ex[10:], ["negative", "neutral", "positive"], None),
                                train={"epochs": 3, "learning_rate": 1e-3}, run_dir=tmp_path)
    assert ctx.spec.labels == ["negative", "neutral", "positive"] and ctx.run_dir == tmp_path
    assert ctx.train_config().epochs == 3 and ctx.seed == 0 and ctx.task_type.name == "text_classification"
    assert RunContext.standalone().run_dir.is_dir()  # a fresh temporary folder


@pytest.mark.hook("autoglm_register_model_formats")
def test_a_model_format_plugin_loads_weights_for_any_task_type(tmp_path):
    import torch

    from autoglm_core import ModelFormat, hookimpl
    from autoglm_core.plugin.components import load_weights
    from autoglm_core.plugin.manager import get_manager
    from autoglm_core.types.errors import ModelLoadError

    class Halves(ModelFormat):
        """Weights stored at half their value (a toy format)."""

        name = "halves"

        @classmethod
        def load_weights(cls, model, directory, meta):
            state = torch.load(directory / "halves.pt", weights_only=True)
            model.load_state_dict({k: v * 2 for k, v in state.items()})
            return model

    class Plugin:
        @hookimpl
        def autoglm_register_model_formats(self, register):
            register(Halves)

    saved = torch.nn.Linear(2, 2)
    torch.save({k: v / 2 for k, v in saved.state_dict().items()}, tmp_path / "halves.pt")
    with pytest.raises(ModelLoadError, match="format 'halves', which no installed plugin provides"):
        load_weights(torch.nn.Linear(2, 2), tmp_path, {"format": "halves"})
    get_manager().register(Plugin(), name="halves-format")
    loaded = load_weights(torch.nn.Linear(2, 2), tmp_path, {"format": "halves"})
    assert torch.allclose(loaded.weight, saved.weight)


@pytest.mark.slow
@pytest.mark.hook("autoglm_run_mode")
def test_a_run_mode_plugin_replaces_the_pipeline(tmp_path, capsys):
    from autoglm_core import hookimpl
    from autoglm_core.cli.main import main
    from autoglm_core.plugin.manager import get_manager
    from autoglm_core.testing import sample_examples, write_csv

    seen = []

    class DryMode:
        @hookimpl
        def autoglm_run_mode(self, task, args):
            if not args.description.startswith("count"):
                return None
            seen.append((task.spec.task_type, args.dry_run))
            return 7

    get_manager().register(DryMode(), name="dry-mode")
    data = write_csv(tmp_path / "d.csv", sample_examples(12))
    assert main(["run", "count the news sentiment classes", "--data", str(data), "--out", str(tmp_path / "r")]) == 7
    assert seen == [("text_classification", False)] and not (tmp_path / "r").exists()
    # None lets the normal pipeline run (here: its plan only)
    assert main(["run", "Classify news", "--data", str(data), "--out", str(tmp_path / "r"), "--dry-run",
                 "--backbone", "tiny-bert"]) == 0
    assert "Stages: data" in capsys.readouterr().out
