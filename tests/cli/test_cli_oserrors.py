"""Operating-system errors on paths the user gave are one paragraph with exit 2, never a traceback;
an unexpected error is one line with exit 1; ``--debug`` / ``AUTOGLM_DEBUG=1`` keep the traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autoglm_core import get_manager, hookimpl
from autoglm_core.cli.main import main
from autoglm_core.testing import sample_examples, write_csv


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUTOGLM_DEBUG", raising=False)


@pytest.fixture()
def news_csv(tmp_path):
    return str(write_csv(tmp_path / "news.csv", sample_examples(30)))


def _one_paragraph(capsys, needle: str) -> str:
    # Plugin-load warnings of whatever else is installed in the environment are not this error.
    err = "".join(line for line in capsys.readouterr().err.splitlines(keepends=True)
                  if not line.startswith("warning: plugin "))
    assert needle in err, err
    assert "Traceback" not in err and err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_non_utf8_config_names_file_and_line(news_csv, tmp_path, capsys):
    cfg = tmp_path / "latin.yaml"
    cfg.write_bytes("seed: 1\n# caf\u00e9\n".encode("iso-8859-1"))
    assert main(["run", "Classify news", "--data", news_csv, "--config", str(cfg), "--dry-run"]) == 2
    _one_paragraph(capsys, "latin.yaml: line 2, byte 13: not valid utf-8")


def test_config_that_is_a_folder_or_missing(news_csv, tmp_path, capsys):
    assert main(["run", "Classify news", "--data", news_csv, "--config", str(tmp_path), "--dry-run"]) == 2
    _one_paragraph(capsys, "is a folder")
    assert main(["run", "Classify news", "--data", news_csv, "--config", "nope.yaml", "--dry-run"]) == 2
    _one_paragraph(capsys, "does not exist")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without read permission")
def test_unreadable_config_and_data(news_csv, tmp_path, capsys):
    cfg = tmp_path / "secret.yaml"
    cfg.write_text("seed: 1\n")
    cfg.chmod(0)
    assert main(["run", "Classify news", "--data", news_csv, "--config", str(cfg), "--dry-run"]) == 2
    _one_paragraph(capsys, "Permission denied")
    Path(news_csv).chmod(0)
    assert main(["run", "Classify news", "--data", news_csv, "--backbone", "tiny-bert", "--no-progress"]) == 2
    _one_paragraph(capsys, "Permission denied")


def test_read_errors_become_clear_messages(news_csv, tmp_path, capsys, monkeypatch):
    # The same path as above for root, who is never refused: the read itself fails.
    cfg = tmp_path / "c.yaml"
    cfg.write_text("seed: 1\n")
    real = Path.read_bytes

    def deny(self):
        if self.name in ("c.yaml", "news.csv"):
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", deny)
    assert main(["run", "Classify news", "--data", news_csv, "--config", str(cfg), "--dry-run"]) == 2
    _one_paragraph(capsys, "cannot read '" + str(cfg) + "': Permission denied; check the file's permissions")
    assert main(["run", "Classify news", "--data", news_csv, "--backbone", "tiny-bert", "--no-progress"]) == 2
    _one_paragraph(capsys, "news.csv': Permission denied")


def test_unwritable_out_folder(news_csv, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    args = ["run", "Classify news", "--data", news_csv, "--backbone", "tiny-bert", "--compress", "",
            "--epochs", "1", "--no-progress", "--no-zero-shot"]
    assert main([*args, "--out", str(blocker / "run")]) == 2
    _one_paragraph(capsys, "a part of the path is a file")


class _Boom:
    @hookimpl
    def autoglm_add_commands(self, subparsers):
        p = subparsers.add_parser("boom")
        p.set_defaults(handler=self.run)

    def run(self, args):
        raise RuntimeError("a bug")

    @staticmethod
    def register():
        get_manager().register(_Boom(), name="boom-test")


def test_unexpected_error_is_one_line_and_debug_keeps_the_traceback(capsys, monkeypatch):
    _Boom.register()
    assert main(["boom"]) == 1
    err = "".join(line for line in capsys.readouterr().err.splitlines(keepends=True)
                  if not line.startswith("warning: plugin "))
    assert err.startswith("internal error: RuntimeError: a bug") and "Traceback" not in err and "--debug" in err
    assert main(["--debug", "boom"]) == 1
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.setenv("AUTOGLM_DEBUG", "1")
    assert main(["boom"]) == 1
    assert "Traceback" in capsys.readouterr().err


@pytest.fixture()
def tiny_disk(tmp_path):
    """A 300 KiB tmpfs: too small for the tiny model's weights, big enough for the run's JSON files."""
    import subprocess

    where = tmp_path / "tiny-disk"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root and mount permission): {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_full_disk_names_the_folder_and_the_space_needed(news_csv, tiny_disk, capsys):
    out = tiny_disk / "run"
    args = ["run", "Classify news", "--data", news_csv, "--backbone", "tiny-bert", "--compress", "",
            "--epochs", "1", "--no-progress", "--no-zero-shot", "--out", str(out)]
    assert main(args) == 2
    err = _one_paragraph(capsys, "the disk is full")
    assert str(out / "candidates" / "c0-tiny-bert" / "model") in err and "KiB free" in err, err
    assert "needed" in err and "--out" in err, err
    # what finished is kept, and the half-written copy does not hold the space
    assert (out / "stages" / "data.json").is_file() and (out / "split.json").is_file()
    assert not list(out.rglob("*.partial")), list(out.rglob("*"))
