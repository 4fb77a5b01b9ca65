"""Data and config validation: encodings checked line by line, NUL bytes and one-label data sets
refused, empty splits explained, every numeric config field bounded and finite, duplicate YAML keys
named by line."""

from __future__ import annotations

import pytest

from autoglm_core import AutoTask
from autoglm_core.cli.main import main
from autoglm_core.data.load import load_file, load_splits
from autoglm_core.io import read_structured_file
from autoglm_core.io.pipeline_config import read_pipeline_config
from autoglm_core.plugin.manager import get_manager
from autoglm_core.testing import sample_examples, write_csv
from autoglm_core.types.errors import ConfigError, DataError
from autoglm_core.types.schemas import DataRef, PipelineConfig, SplitConfig, TaskSpec, validate

ZH = "利润大幅增长"


def _load(path, **ref):
    return load_file(path, DataRef(path=str(path), **ref), get_manager())


def _splits(path, **ref):
    spec = TaskSpec(task_type="text_classification", data=DataRef(path=str(path), **ref))
    return load_splits(spec, SplitConfig(), 0, get_manager())


# ------------------------------------------------------------------ encodings and NUL bytes


def _mixed(tmp_path):
    p = tmp_path / "mixed.csv"
    p.write_bytes(b"text,label\n" + f"{ZH},positive\n".encode() + "Le caf\xe9 ferme,negative\n".encode("iso-8859-1")
                  + b"Plain ascii,neutral\n" + "Cr\xe8me br\xfbl\xe9e,negative\n".encode("iso-8859-1"))
    return p


def test_mixed_utf8_and_latin1_lines_are_refused_with_their_line_numbers(tmp_path):
    # Before: the whole file was decoded as ISO-8859-1 and the Chinese row became mojibake silently.
    with pytest.raises(DataError) as e:
        _load(_mixed(tmp_path))
    msg = str(e.value)
    assert "mixes encodings" in msg and "line(s) 3, 5 are not valid UTF-8" in msg and "line(s) 2 are UTF-8" in msg
    assert "--encoding" in msg


def test_given_encoding_decodes_the_file_or_names_the_invalid_lines(tmp_path):
    p = _mixed(tmp_path)
    rows = _load(p, encoding="latin-1")  # the user's choice: every byte is valid ISO-8859-1
    assert rows.examples[1].text == "Le caf\xe9 ferme"
    with pytest.raises(DataError, match=r"line\(s\) 3, 5 not valid utf-8"):
        _load(p, encoding="utf-8")
    with pytest.raises(DataError, match="unknown encoding 'klingon'"):
        _load(p, encoding="klingon")
    gb = tmp_path / "gb.csv"
    gb.write_bytes(f"text,label\n{ZH},positive\n亏损扩大,negative\n".encode("gb18030"))
    assert _load(gb, encoding="gb18030").examples[0].text == ZH


def test_pure_latin1_file_still_falls_back(tmp_path):
    p = tmp_path / "l.csv"
    p.write_bytes("text,label\nLe caf\xe9 ferme,negative\nBon,positive\n".encode("iso-8859-1"))
    rows = _load(p)
    assert rows.encoding == "iso-8859-1" and rows.examples[0].text == "Le caf\xe9 ferme"


def test_nul_bytes_after_the_first_64_kib_are_reported_by_line(tmp_path):
    # Before: only the first 64 KiB were checked, so later NUL bytes went into the training texts.
    p = tmp_path / "nul.csv"
    body = "".join(f"row number {i} with some padding text,{'ab'[i % 2]}\n" for i in range(3000))
    assert len(body) > 65536
    p.write_bytes(b"text,label\n" + body.encode() + b"bad \x00 row,a\n")
    with pytest.raises(DataError, match=r"NUL bytes on line\(s\) 3002"):
        _load(p)


def test_cli_encoding_option(tmp_path, capsys):
    p = _mixed(tmp_path)
    assert main(["run", "Classify news", "--data", str(p), "--backbone", "tiny-bert", "--no-progress",
                 "--out", str(tmp_path / "r")]) == 2
    assert "mixes encodings" in capsys.readouterr().err
    # With the encoding given the file decodes, and the run gets as far as splitting its four rows.
    assert main(["run", "Classify news", "--data", str(p), "--encoding", "iso-8859-1", "--backbone", "tiny-bert",
                 "--no-progress", "--out", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err
    assert "mixes encodings" not in err and "the test split is empty" in err
    task = AutoTask.create(task_type="text_classification", dataset={"path": str(p), "encoding": "iso-8859-1"},
                           description="Classify news")
    assert task.spec.data.encoding == "iso-8859-1"


# ------------------------------------------------------------------ labels and empty splits


def test_a_single_label_is_an_error(tmp_path):
    # Before: the run "won" with accuracy 1.0.
    p = tmp_path / "one.csv"
    p.write_text("text,label\n" + "".join(f"text number {i},up\n" for i in range(30)))
    with pytest.raises(DataError, match="every usable row \\(30\\) has the label 'up'.*at least two labels"):
        _splits(p)


def test_empty_test_split_names_the_labels_with_too_few_rows(tmp_path):
    # Before: "the test split is empty" without the cause (10,000 one-row labels).
    p = tmp_path / "many.csv"
    p.write_text("text,label\n" + "".join(f"text number {i},lab{i}\n" for i in range(10_000)))
    with pytest.raises(DataError) as e:
        _splits(p)
    msg = str(e.value)
    assert "the test split is empty" in msg and "10000 of 10000 labels have fewer than 3 rows" in msg
    assert "'lab0' (1)" in msg and "and 9995 more" in msg


def test_empty_test_split_names_the_skipped_rows_and_why(tmp_path):
    # A field over the CSV field limit (a 50 MB field behaves the same, only slower to write).
    huge = "x" * 200_000
    p = tmp_path / "huge.csv"
    p.write_text("text,label\n" + "".join(f'"{huge}",a\n' for _ in range(3)) + "ok one,a\nok two,b\nok three,b\n")
    with pytest.raises(DataError) as e:
        _splits(p)
    msg = str(e.value)
    assert "6 rows read, 3 usable, 3 skipped" in msg
    assert "3 x unreadable row: field larger than field limit" in msg and f"(first at {p}:2)" in msg


# ------------------------------------------------------------------ config fields


@pytest.mark.parametrize("data,field", [
    ({"evaluate": {"latency_batch_sizes": [0, -5]}}, "evaluate.latency_batch_sizes.0"),
    ({"seed": 10**29}, "seed"),
    ({"seed": 2**32}, "seed"),
    ({"seed": -1}, "seed"),
    ({"train": {"learning_rate": float("inf")}}, "train.learning_rate"),
    ({"train": {"learning_rate": float("nan")}}, "train.learning_rate"),
    ({"train": {"learning_rate": 0}}, "train.learning_rate"),
    ({"train": {"batch_size": 10**9}}, "train.batch_size"),
    ({"train": {"max_length": 10**7}}, "train.max_length"),
    ({"train": {"epochs": 10**12}}, "train.epochs"),
    ({"compress": [{"name": "prune-magnitude", "options": {"sparsity": float("inf")}}]}, "compress.0.options.sparsity"),
    ({"attack": [{"name": "fgsm", "options": {"steps": 10**40}}]}, "attack.0.options.steps"),
])
def test_numeric_config_fields_are_bounded_and_finite(data, field):
    with pytest.raises(ConfigError) as e:
        validate(PipelineConfig, data, source="cfg.yaml")
    assert field in str(e.value) and str(e.value).startswith("cfg.yaml: ")


def test_edges_of_the_bounds_are_accepted():
    cfg = validate(PipelineConfig, {"seed": 2**32 - 1, "evaluate": {"latency_batch_sizes": [1]},
                                    "train": {"learning_rate": 5e-5, "batch_size": 4096}})
    assert cfg.seed == 2**32 - 1


def test_yaml_infinity_from_a_file(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("train:\n  learning_rate: .inf\n")
    with pytest.raises(ConfigError, match="train.learning_rate"):
        read_pipeline_config(p)


def test_max_length_beyond_the_backbones_positions_fails_at_plan_time(tmp_path):
    data = write_csv(tmp_path / "d.csv", sample_examples(12))
    cfg = validate(PipelineConfig, {"train": {"max_length": 1024}})
    task = AutoTask.create(task_type="text_classification", dataset=str(data), description="Classify news",
                           config=cfg, backbones=["tiny-bert"])
    with pytest.raises(ConfigError, match="train.max_length.*1024 tokens.*512 positions"):
        task.auto_build()
    ok = AutoTask.create(task_type="text_classification", dataset=str(data), description="Classify news",
                         config=validate(PipelineConfig, {"train": {"max_length": 512}}), backbones=["tiny-bert"])
    assert ok.auto_build().candidates


def test_duplicate_yaml_keys_name_the_line(tmp_path):
    p = tmp_path / "dup.yaml"
    p.write_text("seed: 1\ntrain:\n  epochs: 2\n  batch_size: 8\n  epochs: 3\n")
    with pytest.raises(ConfigError, match=r"dup.yaml: line 5, column 3: .*duplicate key 'epochs' \(first on line 3\)"):
        read_structured_file(p)
    merged = tmp_path / "merge.yaml"  # YAML merge keys may still be overridden
    merged.write_text("base: &b {epochs: 2}\ntrain:\n  <<: *b\n  epochs: 3\n")
    assert read_structured_file(merged)["train"] == {"epochs": 3}


def _alias_levels(levels: int, width: int = 9) -> str:
    lines = ["a: &a [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*{'a' if i == 1 else f'l{i - 1}'}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_yaml_aliases_that_expand_past_the_limit_are_refused_at_once(tmp_path, capsys):
    """Nine levels of nine aliases: 20 lines that hold 9**9 values once expanded ("billion laughs")."""
    import time

    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(_alias_levels(9) + "train:\n  epochs: *l8\n")
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"bomb.yaml: line \d+: invalid YAML: its aliases expand to more than"):
        read_structured_file(bomb)
    data = tmp_path / "d.csv"
    write_csv(data, sample_examples(12))
    assert main(["run", "Classify news", "--data", str(data), "--config", str(bomb), "--dry-run"]) == 2
    assert "aliases expand" in capsys.readouterr().err
    assert time.monotonic() - started < 30


def test_a_yaml_config_with_an_unprintable_character_is_a_config_error(tmp_path):
    """Found by the config fuzzer (tests/data/test_fuzz.py), kept as its shrunk example."""
    nul = tmp_path / "nul.yaml"
    nul.write_bytes(b"\x00")
    with pytest.raises(ConfigError, match=r"nul.yaml: invalid YAML: unacceptable character #x0000"):
        read_structured_file(nul)


def test_yaml_aliases_within_the_limit_and_self_references(tmp_path):
    small = tmp_path / "small.yaml"  # 9**4 = 6,561 values: a lot of anchors, still a config
    small.write_text(_alias_levels(4))
    assert len(read_structured_file(small)["l3"]) == 9
    loop = tmp_path / "loop.yaml"
    loop.write_text("a: &x\n  - 1\n  - *x\n")
    with pytest.raises(ConfigError, match=r"line 1: invalid YAML: an alias refers to a value that contains it"):
        read_structured_file(loop)
    assert read_structured_file(_empty(tmp_path)) is None


def _empty(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n")
    return path
