"""What the bubblewrap sandbox costs: per-run latency against a plain subprocess, side by side in
one run, and the full HumanEval canonical run (164 problems) under the sandbox.

For each mode (``bwrap``; ``plain``: ``unsafe_no_sandbox=True`` with bwrap hidden) the same small
program runs ``--repeats`` times, interleaved, and the median wall time per run is reported. The
HumanEval part checks that every canonical solution still passes and times the whole set.

    python benchmarks/sandbox.py [--repeats 20] [--workers 2] [--no-humaneval]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

PROGRAM = "import math\nassert sum(math.factorial(i) % 7 for i in range(200)) >= 0\n"


def _plain(fn):
    """Run ``fn`` with bwrap hidden, i.e. the explicit unsandboxed mode."""
    from autoglm_core.tasks.code_generation import sandbox

    saved = sandbox.bwrap_path
    sandbox.bwrap_path = lambda: None
    sandbox.sandbox_problem.cache_clear()
    try:
        return fn()
    finally:
        sandbox.bwrap_path = saved
        sandbox.sandbox_problem.cache_clear()


def latency(repeats: int) -> dict[str, float]:
    from autoglm_core.tasks.code_generation.sandbox import run_python

    times: dict[str, list[float]] = {"bwrap": [], "plain": []}
    for _ in range(repeats):
        for mode in times:
            start = time.perf_counter()
            r = (run_python(PROGRAM) if mode == "bwrap"
                 else _plain(lambda: run_python(PROGRAM, unsafe_no_sandbox=True)))
            times[mode].append(time.perf_counter() - start)
            assert r.passed and r.sandboxed == (mode == "bwrap"), r
    return {mode: statistics.median(ts) for mode, ts in times.items()}


def humaneval_full(workers: int) -> dict[str, float]:
    from autoglm_core.tasks.code_generation import humaneval as he

    problems = he.load_problems()
    start = time.perf_counter()
    result = he.evaluate(problems, {t: [p["canonical_solution"]] for t, p in problems.items()},
                         ks=(1,), workers=workers, timeout_s=20)
    wall = time.perf_counter() - start
    passed = sum(result.passed.values())
    return {"problems": len(problems), "passed": passed, "wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-humaneval", action="store_true")
    args = ap.parse_args()
    lat = latency(args.repeats)
    out = {"median_s_per_run": lat, "overhead_ratio": lat["bwrap"] / lat["plain"]}
    print(f"| mode | median s per run | ratio |\n|---|---|---|\n"
          f"| plain subprocess (--unsafe-no-sandbox) | {lat['plain']:.3f} | 1.00x |\n"
          f"| bubblewrap sandbox | {lat['bwrap']:.3f} | {lat['bwrap'] / lat['plain']:.2f}x |")
    if not args.no_humaneval:
        he_res = humaneval_full(args.workers)
        out["humaneval"] = he_res
        print(f"HumanEval canonical: {he_res['passed']}/{he_res['problems']} passed in {he_res['wall_s']:.1f} s "
              f"({args.workers} workers, bwrap)")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
