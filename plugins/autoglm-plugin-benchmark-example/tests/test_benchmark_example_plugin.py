"""The example benchmark plugin registers its folder, and its data is well-formed."""

import json
from pathlib import Path

import autoglm_plugin_benchmark_example as ex
import pytest
import yaml


def test_benchmark_example_registered():
    from autoglm_core.plugin.components import Benchmark
    from autoglm_core.plugin.manager import get_manager, reset_manager

    reset_manager()
    entry = get_manager().registry("benchmark").entry("autoglm-example")
    assert entry.plugin == "benchmark-example"
    assert isinstance(entry.obj, Benchmark) and Path(entry.obj.path) == ex.TASKS_DIR
    assert entry.obj.tasks == ("autoglm_example_mc", "autoglm_example_gen")
    reset_manager()


@pytest.mark.parametrize("yaml_name", ["autoglm_example_mc.yaml", "autoglm_example_gen.yaml"])
def test_benchmark_example_data_matches_yaml(yaml_name):
    cfg = yaml.safe_load((ex.TASKS_DIR / yaml_name).read_text(encoding="utf-8"))
    assert cfg["task"] == yaml_name[:-5] and cfg["dataset_path"] == "json"
    for _split, rel in cfg["dataset_kwargs"]["data_files"].items():
        rows = [json.loads(line) for line in (ex.TASKS_DIR / rel).read_text(encoding="utf-8").splitlines()]
        assert rows, f"{rel} is empty"
        for i, row in enumerate(rows, 1):
            if cfg["output_type"] == "multiple_choice":
                assert 0 <= row["label"] < len(row["choices"]), f"{rel}:{i}"
            else:
                assert row["answer"] == row["word"], f"{rel}:{i}"
    assert {cfg["training_split"], cfg["test_split"]} == set(cfg["dataset_kwargs"]["data_files"])
