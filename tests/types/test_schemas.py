"""pydantic schemas: unknown fields are named, errors name the file and field, JSON Schemas export."""

from __future__ import annotations

import pytest

from autoglm_core.io.pipeline_config import read_pipeline_config
from autoglm_core.types.errors import ConfigError
from autoglm_core.types.schemas import SCHEMAS, ComponentRef, PipelineConfig, SplitConfig, TaskSpec, validate


def test_unknown_fields_are_rejected_and_named():
    with pytest.raises(ConfigError, match=r"field 'train.learning_rat': Extra inputs are not permitted"):
        validate(PipelineConfig, {"train": {"learning_rat": 1e-4}}, source="cfg")


def test_yaml_and_json_config_files(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("seed: 3\ntrain:\n  method: lora\n  lora: {r: 4}\ncompress: [int8, {name: prune-magnitude, options: {sparsity: 0.5}}]\n")
    cfg = read_pipeline_config(y)
    assert cfg.seed == 3 and cfg.train.method == "lora" and cfg.train.lora.r == 4
    assert cfg.compress == [ComponentRef(name="int8"), ComponentRef(name="prune-magnitude", options={"sparsity": 0.5})]
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epochs: [1\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: line \d+, column \d+: invalid YAML"):
        read_pipeline_config(bad)
    j = tmp_path / "c.json"
    j.write_text('{"split": {"train": 0.5, "validation": 0.1, "test": 0.1}}')
    with pytest.raises(ConfigError, match=r"c.json: .*must be 1.0"):
        read_pipeline_config(j)
    with pytest.raises(ConfigError, match="does not exist"):
        read_pipeline_config(tmp_path / "missing.yaml")


def test_split_and_taskspec_validation():
    assert SplitConfig(train=0.7, validation=0.15, test=0.15)
    with pytest.raises(ConfigError, match="field 'objectives.min_robust_accuracy'"):
        validate(TaskSpec, {"task_type": "text_classification", "objectives": {"min_robust_accuracy": 2}}, "spec")
    spec = TaskSpec(task_type="text_classification", labels=["a", "b"])
    assert spec.spec_hash() == TaskSpec(task_type="text_classification", labels=["a", "b"]).spec_hash()
    assert spec.spec_hash() != TaskSpec(task_type="text_classification", labels=["b", "a"]).spec_hash()


def test_every_schema_exports_a_strict_json_schema():
    for name, model in SCHEMAS.items():
        schema = model.model_json_schema()
        assert schema["title"] == name and schema.get("additionalProperties") is False
