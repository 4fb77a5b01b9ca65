"""``autoglm attack``: measure how a saved classifier holds up under an adversarial attack.

    autoglm attack runs/x/model --method fgsm --option epsilons=[0.005,0.01] --data test.csv
    autoglm attack runs/x/model --method deepwordbug --data test.csv --limit 100 --json
    autoglm attack --list                     # attacks, and TextAttack recipes that need downloads

MODEL_DIR is a run's exported model, a compressed or defended variant, or any Hugging Face
sequence-classification directory. The data file is only read: the attack works on copies of the
rows. Defenses recorded in the model's metadata that act at inference (input denoising) are
re-attached before the attack, so a defended model is attacked as it will be served.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from autoglm_core import hookimpl


@hookimpl
def autoglm_add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "attack", help="attack a saved classifier (fgsm, deepwordbug, char-noise, ...) and report accuracy under attack",
        description="Run a registered adversarial attack on a saved text classifier and print clean accuracy, "
                    "accuracy under attack, attack success rate and the attack's other metrics.",
    )
    p.add_argument("model_dir", metavar="MODEL_DIR", nargs="?", help="a saved model directory")
    p.add_argument("--method", help="attack name: fgsm, char-noise, deepwordbug, pwws, pruthi, ... (see --list)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="attack option (repeatable); VALUE is read as JSON when it parses (0.01, true, [0.01,0.05])")
    p.add_argument("--data", metavar="FILE", help="labelled .csv/.tsv/.jsonl/.txt to attack")
    p.add_argument("--text-column")
    p.add_argument("--label-column")
    p.add_argument("--limit", type=int, metavar="N", help="attack the first N usable rows only")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.add_argument("--list", action="store_true", help="list the registered attacks (and unavailable TextAttack recipes)")
    p.add_argument("--allow-pickle", action="store_true", help="load pickle weights (only from a source you trust)")
    p.add_argument("--trust-remote-code", action="store_true")
    p.set_defaults(handler=run_attack)


def list_attacks(manager: Any, as_json: bool) -> int:
    rows = [{"attack": e.name, "plugin": e.plugin, "description": getattr(e.obj, "description", "")}
            for e in manager.registry("attack").entries()]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max((len(r["attack"]) for r in rows), default=6)
    for r in rows:
        print(f"{r['attack']:<{width}}  {r['description']}")
    if not rows:
        print("no attacks installed: pip install ./plugins/autoglm-plugin-fgsm ./plugins/autoglm-plugin-textattack")
    return 0


def format_table(metrics: dict[str, float]) -> str:
    main = ["clean_accuracy", "accuracy_under_attack", "attack_success_rate"]
    keys = [k for k in main if k in metrics] + sorted(k for k in metrics if k not in main)
    width = max(len(k) for k in keys)
    lines = [f"| {'metric':<{width}} | value |", f"|{'-' * (width + 2)}|-------|"]
    for k in keys:
        v = metrics[k]
        shown = f"{v:.4f}" if isinstance(v, float) and not float(v).is_integer() else f"{v:g}" if isinstance(v, float) else str(v)
        lines.append(f"| {k:<{width}} | {shown} |")
    return "\n".join(lines)


def run_attack(args: argparse.Namespace) -> int:
    from pathlib import Path

    from autoglm_core.cli.commands.compress import parse_options
    from autoglm_core.data.load import load_file
    from autoglm_core.models.loading import load_model
    from autoglm_core.plugin.manager import get_manager
    from autoglm_core.types.errors import ConfigError
    from autoglm_core.types.schemas import DataRef

    manager = get_manager()
    if args.list:
        return list_attacks(manager, args.json)
    if not args.model_dir:
        raise ConfigError("give MODEL_DIR (a saved model directory), or --list to see the attacks.")
    if not args.method:
        raise ConfigError(f"give --method: one of {', '.join(manager.registry('attack').names()) or 'none installed'}.")
    if not args.data:
        raise ConfigError("give --data FILE: a labelled .csv/.tsv/.jsonl/.txt file to attack.")
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be >= 1, got {args.limit}.")
    attack_cls = manager.registry("attack").get(args.method)  # unknown name: did-you-mean error
    attack = attack_cls(parse_options(args.option), where=f"--option of attack {args.method!r}")
    loaded = load_file(args.data, DataRef(path=args.data, text_column=args.text_column,
                                          label_column=args.label_column), manager)
    examples = loaded.examples[: args.limit] if args.limit else loaded.examples
    built = load_model(Path(args.model_dir), allow_pickle=args.allow_pickle,
                       trust_remote_code=args.trust_remote_code, manager=manager)
    start = time.perf_counter()
    from autoglm_core.plugin.context import RunContext

    context = RunContext.standalone(task_type=built.task_type)
    metrics = dict(attack.attack(built, examples, context))
    metrics["seconds"] = round(time.perf_counter() - start, 2)
    if args.json:
        print(json.dumps({"model": str(args.model_dir), "method": args.method, "data": str(args.data),
                          "examples": len(examples), "metrics": metrics}, indent=2))
    else:
        print(f"attack {args.method} on {args.model_dir} ({len(examples)} rows of {args.data})", file=sys.stderr)
        print(format_table(metrics))
    return 0
