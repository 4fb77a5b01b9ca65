"""``autoglm search-worker RUN_DIR``: join a run's Optuna search and run trials until its budget is used.

    autoglm run "..." --data news.csv --config search.yaml --out runs/news   # the run (any machine)
    autoglm search-worker runs/news                                          # more processes, same study
"""

from __future__ import annotations

import argparse

from autoglm_core import hookimpl


@hookimpl
def autoglm_add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "search-worker", help="join a run's Optuna search (shared study) and run its trials",
        description="Open the study of the run in RUN_DIR through its storage (search.storage, default "
                    "RUN_DIR/search.db) and run trials until the study holds search.trials trials. The run "
                    "itself picks the best trial. See docs/distributed.md.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="the --out folder of a run whose search stage has started")
    p.add_argument("--worker-index", type=int, default=1, dest="worker_index",
                   help="1, 2, ...: offsets the sampler seed, so that workers do not draw the same parameters")
    p.set_defaults(handler=run_search_worker)


def run_search_worker(args: argparse.Namespace) -> int:
    from pathlib import Path

    from autoglm_core.training.search_workers import run_worker
    from autoglm_core.types.errors import ConfigError

    if args.worker_index < 1:
        raise ConfigError(f"--worker-index must be 1 or more (0 is the run itself); got {args.worker_index}.")
    n = run_worker(Path(args.run_dir), args.worker_index)
    print(f"search worker {args.worker_index}: ran {n} trial(s) in {args.run_dir}", flush=True)
    return 0
