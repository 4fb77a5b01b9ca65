"""Every hook: documented (docstring with :param: per argument, an entry in docs/plugins.md) and
exercised by a third-party plugin in a test."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from autoglm_core import BuiltModel, DataLoader, Evaluator, TaskType, ZeroShotScorer, hookimpl
from autoglm_core.cli.main import main
from autoglm_core.plugin import hookspecs
from autoglm_core.plugin.manager import get_manager
from autoglm_core.testing import sample_examples, write_csv
from autoglm_core.types.data import Example, LoadedRows
from autoglm_core.types.schemas import CandidateSpec, TaskSpec

ROOT = Path(__file__).resolve().parent.parent
HOOKS = sorted(n for n, f in vars(hookspecs).items() if n.startswith("autoglm_") and callable(f))


def test_hook_list_is_complete():
    expected = {"autoglm_parse_task", "autoglm_generate_candidates", "autoglm_build_model",
                "autoglm_register_decoders", "autoglm_register_evaluators", "autoglm_register_benchmarks",
                "autoglm_register_compressors", "autoglm_register_attacks", "autoglm_register_defenses",
                "autoglm_register_data_loaders", "autoglm_stage_finished"}
    assert expected <= set(HOOKS)


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_documented_and_tested(name):
    fn = getattr(hookspecs, name)
    doc = inspect.getdoc(fn) or ""
    for arg in inspect.signature(fn).parameters:
        assert f":param {arg}:" in doc, f"{name}: no ':param {arg}:' in its docstring"
    assert inspect.signature(fn).return_annotation is not inspect.Signature.empty
    guide = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    assert f"### `{name}`" in guide, f"docs/plugins.md has no section for {name}"
    sources = [p for p in list((ROOT / "tests").glob("test_*.py")) + list((ROOT / "plugins").glob("*/tests/test_*.py"))
               if p.name != "test_hooks.py"] + [Path(__file__)]
    uses = [p for p in sources if re.search(rf"\b{name}\b", p.read_text(encoding="utf-8"))]
    assert uses, f"no test implements {name} in a plugin"


# --------------------------------------------------------------------------- third-party plugins


class KeywordParser:
    """A parser plugin that handles one phrase and defers (None) on everything else."""

    @hookimpl
    def autoglm_parse_task(self, description, hints):
        if "ticker mood" not in description:
            return None
        return TaskSpec(task_type="text_classification", description=description, labels=["bull", "bear"])


def test_parser_plugin_overrides_or_defers():
    pm = get_manager()
    pm.register(KeywordParser(), name="keyword-parser")
    assert pm.hook.autoglm_parse_task(description="ticker mood please", hints={}).labels == ["bull", "bear"]
    spec = pm.hook.autoglm_parse_task(description="Classify news as good or bad", hints={})
    assert spec.labels == ["good", "bad"]  # the built-in parser answered


class ExtraCandidates:
    @hookimpl
    def autoglm_generate_candidates(self, spec):
        return [CandidateSpec(name="bag", backbone="bag-of-words", builder="bag", source="extra")]

    @hookimpl
    def autoglm_build_model(self, candidate, spec, context):
        if candidate.builder != "bag":
            return None
        from autoglm_core.testing import tiny_text_classifier

        built = tiny_text_classifier(labels=context.splits.labels, texts=[e.text for e in context.splits.train],
                                     hidden_size=32, num_layers=1, intermediate_size=32)
        built.candidate = candidate
        return built


def test_candidate_generator_and_model_builder_plugins(tmp_path):
    from autoglm_core import AutoTask

    get_manager().register(ExtraCandidates(), name="extra")
    data = write_csv(tmp_path / "d.csv", sample_examples(45))
    task = AutoTask.create(dataset=data, description="Classify news as positive, negative or neutral",
                           backbones=["tiny-bert"], out=tmp_path / "run",
                           config={"train": {"epochs": 1}, "compress": [], "zero_shot": {"enabled": False},
                                   "evaluate": {"latency_repeats": 1, "latency_examples": 4}})
    pipeline = task.auto_build()
    assert {c.name for c in pipeline.candidates} == {"c0-tiny-bert", "bag"}
    report = pipeline.launch(progress=False)
    assert {v.candidate for v in report.variants} == {"c0-tiny-bert", "bag"}
    assert (tmp_path / "run" / "candidates" / "bag" / "model" / "model.safetensors").exists()


class MajorityTask(TaskType):
    name = "majority_vote"

    def load_data(self, context):
        raise NotImplementedError


class FirstLabelScorer(ZeroShotScorer):
    name = "first-label"

    def predict_proba(self, built, texts, labels, language):
        import numpy as np

        probs = np.zeros((len(texts), len(labels)))
        probs[:, 0] = 1
        return probs


class TextLength(Evaluator):
    name = "text-length"

    def evaluate(self, built, context):
        return {"mean_test_chars": sum(len(e.text) for e in context.splits.test) / len(context.splits.test)}


class PipeLoader(DataLoader):
    name = "pipe"
    suffixes = (".pipe",)

    def load(self, path, *, text_column=None, label_column=None):
        rows = [line.split("|") for line in Path(path).read_text().splitlines() if line]
        return LoadedRows([Example(t, lab, str(path), i + 1) for i, (t, lab) in enumerate(rows)], [], len(rows))


class Registrations:
    @hookimpl
    def autoglm_register_task_types(self, register):
        register(MajorityTask)

    @hookimpl
    def autoglm_register_zero_shot(self, register):
        register(FirstLabelScorer)

    @hookimpl
    def autoglm_register_evaluators(self, register):
        register(TextLength)

    @hookimpl
    def autoglm_register_data_loaders(self, register):
        register(PipeLoader)

    @hookimpl
    def autoglm_add_commands(self, subparsers):
        p = subparsers.add_parser("hello", help="say hello (test plugin)")
        p.add_argument("name")
        p.set_defaults(handler=lambda args: print(f"hello {args.name}") or 0)


def test_registration_hooks_feed_the_pipeline(tmp_path, capsys):
    from autoglm_core import AutoTask

    get_manager().register(Registrations(), name="registrations")
    assert "majority_vote" in get_manager().registry("task type")
    data = tmp_path / "d.pipe"
    data.write_text("\n".join(f"{e.text}|{e.label}" for e in sample_examples(45)))
    task = AutoTask.create(dataset=data, description="Classify news", backbones=["tiny-bert"], out=tmp_path / "run",
                           config={"train": {"epochs": 1}, "compress": [], "zero_shot": {"method": "first-label"},
                                   "evaluate": {"evaluators": ["text-length"], "latency_repeats": 1, "latency_examples": 4}})
    report = task.auto_build().launch(progress=False)
    zero = next(v for v in report.variants if v.variant == "zero-shot")
    first = zero.per_class[report.data.label_counts and list(zero.per_class)[0]]
    assert first["recall"] == 1.0  # the plugin scorer predicted the first label everywhere
    assert report.best.metrics["mean_test_chars"] > 10
    assert report.data.files == [str(data)]
    assert main(["hello", "world"]) == 0 and capsys.readouterr().out == "hello world\n"


def test_built_model_round_trip(tmp_path):
    from autoglm_core import load_model
    from autoglm_core.testing import tiny_text_classifier

    built = tiny_text_classifier()
    built.save(tmp_path / "m")
    again = load_model(tmp_path / "m")
    texts = ["Nokia profit rose", "board met"]
    assert isinstance(again, BuiltModel)
    assert (again.predict_proba(texts) - built.predict_proba(texts)).max() < 1e-5
