"""HumanEval (Chen et al. 2021) with the semantics of OpenAI's ``human-eval`` harness.

A completion passes when ``prompt + completion + "\\n" + test + "\\ncheck(entry_point)"`` runs to
the end in the sandbox within the time limit. ``pass@k`` uses the unbiased estimator
``1 - C(n - c, k) / C(n, k)`` per problem (n samples, c correct), averaged over problems, computed
as a product so that it stays exact for large n.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoglm_core.tasks.code_generation.sandbox import ExecResult, run_python
from autoglm_core.types.errors import DataError

REQUIRED = ("task_id", "prompt", "entry_point", "canonical_solution", "test")


def default_path() -> Path | None:
    from autoglm_core.testing import shared_data_dir

    root = shared_data_dir()
    path = root / "humaneval" / "HumanEval.jsonl.gz" if root else None
    return path if path is not None and path.exists() else None


def load_problems(path: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """task_id -> problem, from ``HumanEval.jsonl(.gz)``."""
    if path is None:
        path = default_path()
        if path is None:
            raise DataError("HumanEval.jsonl.gz not found: pass its path (../shared/data/humaneval/ in the project).")
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file.")
    opener = gzip.open if path.suffix == ".gz" else open
    problems: dict[str, dict[str, Any]] = {}
    with opener(path, "rt", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}, line {lineno}: not JSON ({exc.msg}).") from None
            missing = [k for k in REQUIRED if k not in row]
            if missing:
                raise DataError(f"{path}, line {lineno}: missing field(s) {missing}; HumanEval rows need {list(REQUIRED)}.")
            problems[row["task_id"]] = row
    return problems


def program(problem: Mapping[str, Any], completion: str) -> str:
    """The program the harness runs for one completion."""
    return (problem["prompt"] + completion + "\n" + problem["test"] + "\n" + f"check({problem['entry_point']})")


def check(problem: Mapping[str, Any], completion: str, timeout_s: float = 10.0, memory_mb: int = 1024) -> ExecResult:
    return run_python(program(problem, completion), timeout_s=timeout_s, memory_mb=memory_mb)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem: 1 - C(n-c, k) / C(n, k), as a stable product."""
    if not 0 <= c <= n or k < 1:
        raise ValueError(f"need 0 <= c <= n and k >= 1 (n={n}, c={c}, k={k})")
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples per problem, got {n}")
    if n - c < k:
        return 1.0
    prob_all_fail = 1.0
    for i in range(n - c + 1, n + 1):
        prob_all_fail *= 1.0 - k / i
    return 1.0 - prob_all_fail


@dataclass
class HumanEvalResult:
    pass_at: dict[int, float]
    per_problem: dict[str, list[ExecResult]] = field(repr=False)

    @property
    def passed(self) -> dict[str, int]:
        return {tid: sum(r.passed for r in rs) for tid, rs in self.per_problem.items()}

    def metrics(self) -> dict[str, float]:
        return {f"pass@{k}": v for k, v in self.pass_at.items()}


def evaluate(problems: Mapping[str, Mapping[str, Any]], completions: Mapping[str, Sequence[str]],
             ks: Iterable[int] = (1,), workers: int = 2, timeout_s: float = 10.0,
             memory_mb: int = 1024) -> HumanEvalResult:
    """Run every completion of every problem in the sandbox (``workers`` at a time) and score pass@k.

    ``completions``: task_id -> list of completions (n samples). pass@k is reported for every k not
    above the smallest n.
    """
    unknown = sorted(set(completions) - set(problems))
    if unknown:
        raise DataError(f"completions for unknown HumanEval task(s): {unknown[:5]}.")
    jobs = [(tid, i, c) for tid, cs in completions.items() for i, c in enumerate(cs)]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(lambda j: check(problems[j[0]], j[2], timeout_s, memory_mb), jobs))
    per: dict[str, list[ExecResult]] = {tid: [] for tid in completions}
    for (tid, _, _), res in zip(jobs, results, strict=True):
        per[tid].append(res)
    min_n = min((len(v) for v in per.values()), default=0)
    scores: dict[int, float] = {}
    for k in ks:
        if k <= min_n:
            vals = [pass_at_k(len(rs), sum(r.passed for r in rs), k) for rs in per.values()]
            scores[k] = sum(vals) / len(vals)
    return HumanEvalResult(scores, per)
