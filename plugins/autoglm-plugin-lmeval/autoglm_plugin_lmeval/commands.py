"""CLI: ``autoglm eval MODEL_DIR --benchmark NAME[,NAME]`` and ``autoglm benchmarks``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_commands(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "eval", help="run lm-eval benchmarks on a local language model directory (offline)",
        description="Run lm-evaluation-harness tasks (lm-eval's own, or benchmarks registered by "
                    "plugins) on a local Hugging Face causal LM directory, offline.",
    )
    p.add_argument("model_dir", metavar="MODEL_DIR", help="local Hugging Face model directory")
    p.add_argument("--benchmark", "-b", required=True, metavar="NAME[,NAME]",
                   help="lm-eval task/group/tag or plugin benchmark names, comma-separated")
    p.add_argument("--limit", type=_positive_number, default=None, help="examples per task (fraction if < 1)")
    p.add_argument("--batch-size", default="1", help="batch size, or 'auto'")
    p.add_argument("--num-fewshot", type=int, default=None, help="few-shot examples per prompt")
    p.add_argument("--device", default=None, help="torch device (default: lm-eval's choice)")
    p.add_argument("--use-cache", action="store_true", help="reuse lm-eval's request/response caches")
    p.add_argument("--cache-dir", default=None, help="cache folder (default $AUTOGLM_CACHE_DIR/lm-eval)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(handler=cmd_eval)

    q = subparsers.add_parser("benchmarks", help="list lm-eval tasks and plugin benchmarks",
                              description="List every benchmark `autoglm eval` knows: lm-eval's own "
                                          "tasks/groups/tags and the benchmarks plugins register.")
    q.add_argument("--plugins-only", action="store_true", help="only benchmarks that plugins register")
    q.add_argument("--json", action="store_true", help="print machine-readable JSON")
    q.set_defaults(handler=cmd_benchmarks)


def _positive_number(text: str) -> float | int:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("--limit must be > 0")
    return int(value) if value >= 1 and value.is_integer() else value


def cmd_eval(args: argparse.Namespace) -> int:
    from autoglm_core import ConfigError

    from .run import run_lm_eval

    batch: int | str = args.batch_size
    if batch != "auto":
        try:
            batch = int(batch)
        except ValueError:
            raise ConfigError(f"--batch-size must be a positive integer or 'auto', not {batch!r}.") from None
        if batch < 1:
            raise ConfigError(f"--batch-size must be a positive integer or 'auto', not {batch}.")
    if args.num_fewshot is not None and args.num_fewshot < 0:
        raise ConfigError("--num-fewshot must be >= 0.")
    names = [n.strip() for n in args.benchmark.split(",") if n.strip()]
    result = run_lm_eval(args.model_dir, names, batch_size=batch, limit=args.limit,
                         num_fewshot=args.num_fewshot, use_cache=args.use_cache, cache_dir=args.cache_dir,
                         device=args.device)
    out = sys.stdout
    if args.json:
        json.dump({"model_dir": str(args.model_dir), "tasks": result.tasks, "results": result.table(),
                   "metrics": result.metrics(), "notes": result.notes}, out, indent=2)
        out.write("\n")
        return 0
    for note in result.notes:
        out.write(f"note: {note}\n")
    rows = [(r["task"], r["metric"], _fmt(r["value"]), _fmt(r["stderr"])) for r in result.table()]
    _print_table(("task", "metric", "value", "stderr"), rows, out)
    return 0


def cmd_benchmarks(args: argparse.Namespace) -> int:
    from .benchmarks import task_catalog

    catalog = task_catalog(include_lm_eval=not args.plugins_only)
    rows: list[dict[str, Any]] = []
    for f in catalog.folders:
        rows.append({"name": f.benchmark.name, "kind": "benchmark", "source": f.plugin,
                     "description": f.benchmark.description, "tasks": catalog.tasks_of(f)})
    for name in catalog.manager.all_tasks:
        entry = catalog.manager.task_index[name]
        rows.append({"name": name, "kind": entry.kind.name.lower().replace("py_task", "task"),
                     "source": catalog.source_of(name)})
    rows.sort(key=lambda r: (r["source"] == "lm-eval", r["name"]))
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    _print_table(("name", "kind", "source", "description"),
                 [(r["name"], r["kind"], r["source"], r.get("description") or
                   (", ".join(r["tasks"]) if r.get("tasks") else "")) for r in rows], sys.stdout)
    n_plugin = sum(r["source"] != "lm-eval" for r in rows)
    sys.stdout.write(f"\n{len(rows)} benchmarks ({n_plugin} from plugins). "
                     f"Run one: autoglm eval MODEL_DIR --benchmark NAME\n")
    return 0


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.4f}"


def _print_table(header: tuple[str, ...], rows: list[tuple[Any, ...]], out: Any) -> None:
    widths = [max([len(str(h))] + [len(str(r[i])) for r in rows]) for i, h in enumerate(header)]
    widths[-1] = 0  # the last column is not padded
    out.write("  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)).rstrip() + "\n")
    for r in rows:
        out.write("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")
