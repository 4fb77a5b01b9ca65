"""``autoglm monitor``: classify a growing stream of documents and raise alerts from rules.

    autoglm monitor runs/news/model --input feed/ --rules rules.yaml --out monitor-out --follow
    cat news.jsonl | autoglm monitor runs/news/model-int8 --input - --rules rules.yaml
"""

from __future__ import annotations

import argparse
import sys

from autoglm_core import hookimpl


@hookimpl
def autoglm_add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "monitor", help="classify a stream/folder of documents with a saved model and raise alerts from rules",
        description="Read JSONL/CSV/TSV/TXT records from a file, a folder that grows or standard input; clean "
                    "them (HTML, whitespace, duplicates, empty lines); classify them in batches with a saved "
                    "model (fp32, int8, ONNX); apply sliding-window alert rules; write predictions.jsonl, "
                    "alerts.jsonl, rejected.jsonl, summary.json/.md to --out. Running the same command again "
                    "continues where the last one stopped (state.json).",
    )
    p.add_argument("model_dir", metavar="MODEL_DIR", help="a saved model directory (e.g. runs/x/model)")
    p.add_argument("--input", required=True, metavar="PATH|-", help="a file, a folder of files, or '-' for stdin")
    p.add_argument("--rules", metavar="FILE", help="rules file (.yaml/.json): entities and alert rules")
    p.add_argument("--out", metavar="DIR", default="monitor-out", help="output folder (default: monitor-out)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="one pass over what is there, then exit (default)")
    mode.add_argument("--follow", action="store_true", help="keep polling for new lines and new files")
    p.add_argument("--poll-interval", type=float, default=2.0, metavar="S", help="seconds between polls (--follow)")
    p.add_argument("--max-polls", type=int, metavar="N", help="stop after N polls (--follow)")
    p.add_argument("--idle-timeout", type=float, metavar="S", help="stop after S seconds without new records (--follow)")
    p.add_argument("--format", choices=["jsonl", "csv", "tsv", "txt"], help="input format when the suffix does not tell (stdin: jsonl)")
    p.add_argument("--text-field", help="field/column with the text (default: rules text_field, else text/sentence/...)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, help="tokens per text (default: the model's training max_length, else 128)")
    p.add_argument("--restart", action="store_true", help="discard the saved state and outputs in --out and start over")
    p.add_argument("--quiet", action="store_true", help="print only the final summary line")
    p.set_defaults(handler=run_monitor)


def run_monitor(args: argparse.Namespace) -> int:
    from autoglm_core import ConfigError

    from . import Monitor

    if args.poll_interval <= 0:
        raise ConfigError(f"--poll-interval must be > 0, got {args.poll_interval}.")
    if args.max_polls is not None and args.max_polls < 1:
        raise ConfigError(f"--max-polls must be >= 1, got {args.max_polls}.")
    monitor = Monitor(args.model_dir, args.input, args.out, rules=args.rules, fmt=args.format,
                      text_field=args.text_field, batch_size=args.batch_size, max_length=args.max_length,
                      restart=args.restart)
    if monitor.resumed and not args.quiet:
        print(f"continuing from {monitor.state_path}", file=sys.stderr)

    def on_poll(n: int, got: int) -> None:
        if not args.quiet and args.follow and got:
            c = monitor.summary.counts
            print(f"poll {n}: {got} new record(s); total predicted {c['predicted']}, alerts "
                  f"{sum(monitor.summary.alerts.values())}", file=sys.stderr)

    summary = monitor.run(follow=args.follow, poll_interval=args.poll_interval, max_polls=args.max_polls,
                          idle_timeout=args.idle_timeout, on_poll=on_poll)
    c = summary.as_dict()["counts"]
    print(f"read {c['read']}: predicted {c['predicted']}, duplicates {c['duplicates']}, empty {c['empty']}, "
          f"rejected {c['rejected']}; alerts {sum(summary.alerts.values())}; "
          f"{summary.documents_per_s:.1f} documents/s. Outputs in {args.out}/ (summary.md)")
    if c["rejected"] and not args.quiet:
        for r in summary.rejected_examples[:5]:
            print(f"  skipped {r['source']}:{r['line']}: {r['reason']}", file=sys.stderr)
        print(f"  all skipped records: {args.out}/rejected.jsonl", file=sys.stderr)
    return 0
