"""HumanEval harness: canonical solutions pass 164/164, truncated ones fail, pass@k is unbiased."""

from __future__ import annotations

import math
from itertools import combinations

import pytest

from autoglm_core.tasks.code_generation import humaneval as he


def test_pass_at_k_matches_the_combinatorial_definition():
    for n in range(1, 9):
        for c in range(0, n + 1):
            for k in range(1, n + 1):
                expected = 1 - math.comb(n - c, k) / math.comb(n, k)
                assert he.pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)
    # brute force: probability that a random k-subset of n samples contains a correct one
    n, c, k = 6, 2, 3
    samples = [True] * c + [False] * (n - c)
    subsets = list(combinations(range(n), k))
    brute = sum(any(samples[i] for i in s) for s in subsets) / len(subsets)
    assert he.pass_at_k(n, c, k) == pytest.approx(brute)


def test_pass_at_k_is_stable_for_large_n():
    # math.comb would give huge integers; the product form stays in [0, 1]
    v = he.pass_at_k(2000, 3, 100)
    assert 0 < v < 1 and v == pytest.approx(1 - math.comb(1997, 100) / math.comb(2000, 100))
    with pytest.raises(ValueError):
        he.pass_at_k(5, 1, 6)


def test_program_layout():
    prob = {"prompt": "def f(x):\n", "test": "def check(c):\n    assert c(1) == 2\n", "entry_point": "f"}
    assert he.program(prob, "    return x + 1\n") == (
        "def f(x):\n    return x + 1\n\ndef check(c):\n    assert c(1) == 2\n\ncheck(f)")


def test_bad_file_is_named(tmp_path):
    from autoglm_core.types.errors import DataError

    bad = tmp_path / "he.jsonl"
    bad.write_text('{"task_id": "x"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="line 1: missing field"):
        he.load_problems(bad)


@pytest.fixture(scope="module")
def problems():
    path = he.default_path()
    if path is None:
        pytest.skip("the shared data holds no humaneval/HumanEval.jsonl.gz")
    return he.load_problems(path)


def _subset(problems, step=8):
    """Every ``step``-th problem: a fast, deterministic sample for the default run."""
    return {t: p for i, (t, p) in enumerate(problems.items()) if i % step == 0}


@pytest.mark.slow
def test_canonical_solutions_pass_164_of_164(problems):
    assert len(problems) == 164
    result = he.evaluate(problems, {t: [p["canonical_solution"]] for t, p in problems.items()},
                         ks=(1,), workers=2, timeout_s=20)
    failed = {t: r[0].stderr[-200:] for t, r in result.per_problem.items() if not r[0].passed}
    assert not failed
    assert result.pass_at == {1: 1.0}


def test_canonical_solutions_pass_on_a_sample(problems):
    sample = _subset(problems)
    result = he.evaluate(problems, {t: [p["canonical_solution"]] for t, p in sample.items()},
                         ks=(1,), workers=2, timeout_s=20)
    failed = {t: r[0].stderr[-200:] for t, r in result.per_problem.items() if not r[0].passed}
    assert not failed and len(sample) == 21
    assert all(r[0].reached_end for r in result.per_problem.values())


def _truncate(solution: str) -> str:
    lines = solution.rstrip("\n").split("\n")
    return "\n".join(lines[: len(lines) // 2]) + "\n"


def test_truncated_solutions_fail(problems):
    result = he.evaluate(problems, {t: [_truncate(p["canonical_solution"])] for t, p in _subset(problems).items()},
                         ks=(1,), workers=2, timeout_s=3)
    assert result.pass_at == {1: 0.0}
    assert all(not r[0].passed for r in result.per_problem.values())


def test_pass_at_k_over_mixed_samples(problems):
    ids = list(problems)[:3]
    comp = {t: [problems[t]["canonical_solution"], "    return None\n", "    pass\n"] for t in ids}
    result = he.evaluate(problems, comp, ks=(1, 2, 3), workers=2)
    assert result.passed == {t: 1 for t in ids}
    assert result.pass_at[1] == pytest.approx(1 / 3)
    assert result.pass_at[2] == pytest.approx(1 - math.comb(2, 2) / math.comb(3, 2))
    assert result.pass_at[3] == pytest.approx(1.0)
