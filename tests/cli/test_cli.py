"""The CLI: a tiny run, and bad input answered with one paragraph and exit code 2 (no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from autoglm_core.cli.main import main
from autoglm_core.testing import sample_examples, write_csv

TINY = ["--backbone", "tiny-bert", "--compress", "", "--epochs", "3", "--no-progress"]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default run folders (runs/...) land in the test's folder


@pytest.fixture()
def news_csv(tmp_path):
    return str(write_csv(tmp_path / "news.csv", sample_examples(60)))


def test_run_command_trains_and_says_where_the_report_is(news_csv, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "Classify news as positive, negative or neutral", "--data", news_csv, "--out", str(out), *TINY]) == 0
    text = capsys.readouterr().out
    assert "Best: c0-tiny-bert/fine-tuned" in text and f"Report: {out}/report.md" in text
    assert (out / "report.md").exists()


def test_dry_run_prints_the_plan(news_csv, capsys):
    assert main(["run", "识别金融新闻情感：正面、负面、中性", "--data", news_csv, "--dry-run", "--backbone", "tiny-bert"]) == 0
    out = capsys.readouterr().out
    assert "Stages: data -> baselines -> c0-tiny-bert/zero_shot -> c0-tiny-bert/train" in out


@pytest.mark.parametrize("args,needle", [
    (["run", "", "--data", "{csv}"], "the task description is empty"),
    (["run", "Classify news", "--data", "{tmp}/nope.csv"], "does not exist"),
    (["run", "Classify news", "--data", "{tmp}"], "is a folder"),
    (["run", "Classify news", "--data", "{tmp}/empty.csv", "--backbone", "tiny-bert"], "is empty"),
    (["run", "Classify news", "--data", "{csv}", "--backbone", "bert-bsae-uncased"], "unknown backbone 'bert-bsae-uncased'"),
    (["run", "Classify news", "--data", "{csv}", "--label-column", "stars", "--backbone", "tiny-bert"], "label column 'stars' is not in the header"),
    (["run", "Classify news", "--data", "{csv}", "--labels", "up,down", "--backbone", "tiny-bert", "--no-zero-shot"], "labels the task spec does not know"),
    (["run", "Classify news", "--data", "{csv}", "--config", "{tmp}/bad.yaml", "--backbone", "tiny-bert"], "bad.yaml: invalid PipelineConfig: field 'train.epoch'"),
    (["run", "Classify news", "--data", "{csv}", "--compress", "int9", "--backbone", "tiny-bert"], "unknown compressor 'int9'"),
    (["schema", "TaskSepc"], "Did you mean 'TaskSpec'"),
])
def test_bad_input_exits_2_with_one_paragraph(news_csv, tmp_path, capsys, args, needle):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "bad.yaml").write_text("train:\n  epoch: 3\n")
    argv = [a.format(csv=news_csv, tmp=tmp_path) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_binary_and_huge_descriptions_from_stdin(news_csv):
    for payload, needle in ((b"\x00\x01\x02\x03\x04\x05 binary", b"control characters"),
                            (b"classify " * 1_200_000, b"characters long")):
        proc = subprocess.run([sys.executable, "-m", "autoglm_core.cli.main", "run", "-", "--data", news_csv],
                              input=payload, capture_output=True, timeout=120)
        assert proc.returncode == 2 and needle in proc.stderr and b"Traceback" not in proc.stderr


def test_existing_run_is_never_clobbered(news_csv, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "manifest.json").write_text("{}")
    (out / "precious.txt").write_text("keep me")
    assert main(["run", "Classify news", "--data", news_csv, "--out", str(out), *TINY]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (out / "precious.txt").read_text() == "keep me"


def test_schema_command_prints_json_schemas(capsys):
    assert main(["schema", "PipelineConfig"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["additionalProperties"] is False and "train" in schema["properties"]
    assert main(["schema"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"TaskSpec", "CandidateSpec", "PipelineConfig", "StageResult", "RunReport"}


def test_help_is_fast_and_does_not_import_torch():
    code = "import sys; from autoglm_core.cli.main import main\ntry:\n main(['--help'])\nexcept SystemExit: pass\nprint('torch' in sys.modules, 'transformers' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip().endswith("False False"), proc.stdout + proc.stderr


@pytest.mark.slow
def test_run_resume_reuses_every_stage(news_csv, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["run", "Classify news as positive, negative or neutral", "--data", news_csv, "--out", str(out), *TINY]
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--resume", "--json"]) == 0
    text = capsys.readouterr().out
    report = json.loads(text[text.index("\n{") + 1:])
    assert report["best"]["candidate"] == "c0-tiny-bert"
    assert all(s["finished_at"] <= report["started_at"] for s in report["stages"] if s["key"].endswith("/train"))
