"""Benchmark folders from plugins: data_files resolution, the task catalog, listing, did-you-mean."""

import json
from pathlib import Path

import pytest

from autoglm_core.plugin.components import Benchmark
from autoglm_core.types.errors import ConfigError, UnknownNameError


def test_lmeval_relative_data_files_resolved_against_the_yaml(tmp_path):
    from autoglm_plugin_lmeval.benchmarks import _yaml_load, resolve_folder

    src = tmp_path / "bench"
    (src / "sub" / "data").mkdir(parents=True)
    (src / "sub" / "data" / "t.jsonl").write_text('{"a": 1}\n')
    (src / "sub" / "utils.py").write_text("def f(x):\n    return x\n")
    (src / "sub" / "t.yaml").write_text(
        "task: t1\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: data/t.jsonl\n"
        "process_docs: !function utils.f\n")
    folder = resolve_folder(Benchmark(name="b", path=str(src)), "p", root=tmp_path / "cache")
    assert folder.folder != folder.source and folder.folder.is_relative_to(tmp_path / "cache")
    cfg = _yaml_load(folder.folder / "sub" / "t.yaml")
    assert cfg["dataset_kwargs"]["data_files"]["test"] == str(src / "sub" / "data" / "t.jsonl")
    assert cfg["process_docs"] == "utils.f"  # !function kept
    from lm_eval.tasks._yaml_loader import load_yaml  # lm-eval itself still finds the helper

    assert load_yaml(folder.folder / "sub" / "t.yaml", resolve_func=True)["process_docs"](7) == 7
    assert (folder.folder / "sub" / "utils.py").resolve() == (src / "sub" / "utils.py")
    # same content: same mirror; absolute paths only: the folder itself is used
    assert resolve_folder(Benchmark(name="b", path=str(src)), "p", root=tmp_path / "cache").folder == folder.folder
    (src / "sub" / "t.yaml").write_text(
        f"task: t1\ndataset_path: json\ndataset_kwargs:\n  data_files: {src / 'sub' / 'data' / 't.jsonl'}\n")
    assert resolve_folder(Benchmark(name="b", path=str(src)), "p", root=tmp_path / "cache").folder == src


def test_lmeval_benchmark_path_must_be_a_folder(tmp_path):
    from autoglm_plugin_lmeval.benchmarks import resolve_folder

    with pytest.raises(ConfigError, match=r"registered by plugin 'someplugin'.*not a folder"):
        resolve_folder(Benchmark(name="b", path=str(tmp_path / "nope")), "someplugin")


def test_lmeval_example_plugin_in_catalog():
    from autoglm_plugin_lmeval.benchmarks import select_tasks, task_catalog

    cat = task_catalog(include_lm_eval=False)
    assert {"autoglm_example_mc", "autoglm_example_gen", "autoglm_example"} <= set(cat.manager.all_tasks)
    assert cat.source_of("autoglm_example_mc") == "benchmark-example"
    assert cat.expand(["autoglm-example"]) == ["autoglm_example_mc", "autoglm_example_gen"]
    # plugin names resolve without indexing lm-eval's own ~15k tasks
    catalog, specs = select_tasks(["autoglm_example_gen", "autoglm-example"])
    assert not catalog.includes_lm_eval
    assert specs == ["autoglm_example_gen", "autoglm_example_mc"]


@pytest.mark.slow
def test_lmeval_unknown_task_did_you_mean():
    from autoglm_plugin_lmeval.benchmarks import select_tasks

    with pytest.raises(UnknownNameError) as e:
        select_tasks(["autoglm_exampel_mc"])
    msg = str(e.value)
    assert "unknown benchmark 'autoglm_exampel_mc'" in msg and "Did you mean 'autoglm_example_mc'" in msg
    with pytest.raises(UnknownNameError, match=r"unknown benchmark 'hellaswg'\. Did you mean 'hellaswag'"):
        select_tasks(["arc_easy", "hellaswg"])  # lm-eval's own names count too


@pytest.mark.slow
def test_lmeval_benchmarks_command_lists_lm_eval_and_plugins(capsys):
    from autoglm_core.cli.main import main

    assert main(["benchmarks", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_name = {r["name"]: r for r in rows}
    assert by_name["autoglm-example"]["kind"] == "benchmark"
    assert by_name["autoglm-example"]["tasks"] == ["autoglm_example_mc", "autoglm_example_gen"]
    assert by_name["autoglm_example_mc"]["source"] == "benchmark-example"
    assert by_name["hellaswag"]["source"] == "lm-eval" and by_name["hellaswag"]["kind"] == "task"
    assert len(rows) > 1000
    assert main(["benchmarks", "--plugins-only"]) == 0
    text = capsys.readouterr().out
    assert "autoglm_example_gen" in text and "hellaswag" not in text


def test_lmeval_example_yaml_data_exists():
    """The template plugin ships its data next to the YAML, referenced relatively."""
    import autoglm_plugin_benchmark_example as ex
    from autoglm_plugin_lmeval.benchmarks import _flatten, _yaml_load, data_files_of

    for y in Path(ex.TASKS_DIR).glob("*.yaml"):
        for f in _flatten(data_files_of(_yaml_load(y))):
            assert not Path(f).is_absolute() and (y.parent / f).is_file()
