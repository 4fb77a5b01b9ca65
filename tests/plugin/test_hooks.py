"""Every hook: documented (docstring with :param: per argument, an entry in docs/plugins.md) and
exercised by a third-party plugin in a test."""

from __future__ import annotations

import ast
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

ROOT = Path(__file__).resolve().parents[2]
HOOKS = sorted(n for n, f in vars(hookspecs).items() if n.startswith("autoglm_") and callable(f))


def test_hook_list_is_complete():
    expected = {"autoglm_parse_task", "autoglm_generate_candidates", "autoglm_build_model",
                "autoglm_register_decoders", "autoglm_register_evaluators", "autoglm_register_benchmarks",
                "autoglm_register_compressors", "autoglm_register_attacks", "autoglm_register_defenses",
                "autoglm_register_data_loaders", "autoglm_stage_finished"}
    assert expected <= set(HOOKS)


def documented_signature(name: str) -> str:
    """``name(arg: type, ...) -> type`` exactly as the hookspec declares it (annotations as written)."""
    sig = inspect.signature(getattr(hookspecs, name))
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"{name}({params}) -> {sig.return_annotation}"


def guide_sections() -> dict[str, str]:
    guide = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    parts = re.split(r"^### `(autoglm_\w+)`\n", guide, flags=re.M)
    return {parts[i]: parts[i + 1].split("\n## ")[0] for i in range(1, len(parts), 2)}


def _is_hookimpl(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return (isinstance(target, ast.Name) and target.id == "hookimpl") or (
        isinstance(target, ast.Attribute) and target.attr == "hookimpl")


def hook_tests() -> dict[str, list[str]]:
    """hook -> the tests that declare ``@pytest.mark.hook("autoglm_...")`` in a module that also
    implements that hook with ``@hookimpl``. Read from the source (AST), not by searching text, so
    a name that is only mentioned (in this file, say) counts for nothing."""
    files = (sorted((ROOT / "tests").rglob("test_*.py")) + sorted((ROOT / "plugins").glob("*/tests/test_*.py"))
             + sorted((ROOT / "autoglm_core" / "tasks").glob("*/tests/test_*.py")))
    found: dict[str, list[str]] = {}
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        implemented = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                       and any(_is_hookimpl(d) for d in node.decorator_list)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test_")):
                continue
            for dec in node.decorator_list:
                if (isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute) and dec.func.attr == "hook"
                        and isinstance(dec.func.value, ast.Attribute) and dec.func.value.attr == "mark"):
                    for arg in dec.args:
                        if isinstance(arg, ast.Constant) and arg.value in implemented:
                            found.setdefault(arg.value, []).append(f"{path.relative_to(ROOT)}::{node.name}")
    return found


def test_the_guide_documents_only_real_hooks():
    assert sorted(guide_sections()) == HOOKS


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_documented_with_its_signature(name):
    fn = getattr(hookspecs, name)
    doc = inspect.getdoc(fn) or ""
    for arg in inspect.signature(fn).parameters:
        assert f":param {arg}:" in doc, f"{name}: no ':param {arg}:' in its docstring"
    assert inspect.signature(fn).return_annotation is not inspect.Signature.empty
    section = guide_sections().get(name, "")
    assert f"`{documented_signature(name)}`" in section, (
        f"docs/plugins.md: the section of {name} must show its signature `{documented_signature(name)}`")


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_exercised_by_a_plugin_in_a_test(name):
    assert hook_tests().get(name), (
        f"no test implements {name}: mark a test @pytest.mark.hook({name!r}) in a module with an @hookimpl {name}")


def test_the_meta_test_sees_marks_and_implementations_only(tmp_path):
    """The scanner itself: a mark without an implementation, or a name in a string, does not count."""
    found = hook_tests()
    assert "tests/plugin/test_hooks.py::test_parser_plugin_overrides_or_defers" in found["autoglm_parse_task"]
    assert all("test_every_hook" not in t and "test_the_meta_test" not in t for ts in found.values() for t in ts)


# --------------------------------------------------------------------------- third-party plugins


class KeywordParser:
    """A parser plugin that handles one phrase and defers (None) on everything else."""

    @hookimpl
    def autoglm_parse_task(self, description, hints):
        if "ticker mood" not in description:
            return None
        return TaskSpec(task_type="text_classification", description=description, labels=["bull", "bear"])


@pytest.mark.hook("autoglm_parse_task")
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


@pytest.mark.slow
@pytest.mark.hook("autoglm_generate_candidates", "autoglm_build_model")
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
    # besides both candidates: the majority-class baseline and the ensemble of the two
    assert {v.candidate for v in report.variants} - {"baseline", "ensemble"} == {"c0-tiny-bert", "bag"}
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


@pytest.mark.hook("autoglm_register_task_types", "autoglm_register_zero_shot", "autoglm_register_evaluators",
                  "autoglm_register_data_loaders", "autoglm_add_commands")
@pytest.mark.slow
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
