"""The plan printed before work (``autoglm run ... --dry-run`` and the run's own print) gives each
candidate an estimated time in seconds: a probe of real optimizer steps for fine-tuned candidates,
capped by the candidate's share under --time-limit."""

from __future__ import annotations

import re

import pytest

from autoglm_core.cli.main import main
from autoglm_core.testing import sample_examples, write_csv

EST = re.compile(r"est\. ~?(\d+) s")


def candidate_lines(out: str) -> list[str]:
    block = out.split("Candidates:\n", 1)[1]
    return [line for line in block.splitlines() if line.startswith("  - ")]


def test_dry_run_plan_shows_seconds_per_candidate(tmp_path, capsys):
    data = write_csv(tmp_path / "d.csv", sample_examples(60))
    code = main(["run", "Classify news sentiment as positive, negative or neutral", "--data", str(data), "--out",
                 str(tmp_path / "run"), "--backbone", "tiny-bert", "--epochs", "2", "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    lines = candidate_lines(out)
    assert lines and all(EST.search(line) for line in lines), lines
    tiny = next(line for line in lines if "tiny-bert" in line)
    m = re.search(r"up to (\d+) steps.*est\. (\d+) s of training \(probe: ([\d.]+) steps/s on (cpu|cuda)\)", tiny)
    assert m, tiny
    steps, seconds, rate = int(m[1]), int(m[2]), float(m[3])
    assert rate > 0 and abs(seconds - steps / rate) <= 1  # the estimate is the step plan at the measured rate
    assert not (tmp_path / "run").exists()  # a dry run trains nothing


def test_a_time_limit_caps_the_estimate_at_the_candidates_share(tmp_path, capsys):
    data = write_csv(tmp_path / "d.csv", sample_examples(60))
    code = main(["run", "Classify news sentiment as positive, negative or neutral", "--data", str(data), "--out",
                 str(tmp_path / "run"), "--backbone", "tiny-bert", "--epochs", "100", "--time-limit", "4",
                 "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    tiny = next(line for line in candidate_lines(out) if "tiny-bert" in line)
    assert "its share of the 4 s limit" in tiny and int(EST.search(tiny)[1]) <= 4, tiny


@pytest.mark.slow
def test_small_data_plan_names_the_fold_fine_tunings_and_the_frozen_heads_embedding(tmp_path, capsys, monkeypatch):
    from autoglm_core.models.candidates import minilm_available
    from autoglm_core.tasks.text_classification.kfold import FOLDS_ENV

    monkeypatch.delenv(FOLDS_ENV, raising=False)  # the runs' default: 3 folds on small data
    data = write_csv(tmp_path / "d.csv", sample_examples(60))
    args = ["run", "Classify news sentiment as positive, negative or neutral", "--data", str(data), "--out",
            str(tmp_path / "run"), "--epochs", "2", "--dry-run"]
    assert main(args) == 0
    lines = candidate_lines(capsys.readouterr().out)
    tuned = [line for line in lines if "steps/s on" in line]
    assert tuned and all("then 3 fold fine-tunings of the same recipe" in line for line in tuned), lines
    if minilm_available():
        frozen = next(line for line in lines if "minilm-frozen-lr" in line)
        assert "embeds each of the ~48 training rows" in frozen and "not probed" in frozen, frozen
    assert main([*args, "--time-limit", "30"]) == 0  # under a limit: holdout only, and the head may be skipped
    lines = candidate_lines(capsys.readouterr().out)
    assert not any("fold fine-tunings" in line for line in lines), lines
    if minilm_available():
        assert "skipped if the rest would not fit" in next(line for line in lines if "minilm-frozen-lr" in line)
