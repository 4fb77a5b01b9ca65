"""``autoglm report RUN_DIR [--open]``: rebuild report.html (and report.md) from report.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from autoglm_core.plugin.hookspecs import hookimpl


def load_report(run_dir: Path):
    from autoglm_core.types.errors import ConfigError
    from autoglm_core.types.schemas import RunReport, validate

    path = run_dir / "report.json"
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: no such run folder (give the --out folder of `autoglm run`).")
    if not path.is_file():
        raise ConfigError(f"{path}: not found; the run did not finish (resume it with `autoglm run ... --resume`).")
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc}).") from None
    return validate(RunReport, data, source=str(path))


def run_report(args: argparse.Namespace) -> int:
    from autoglm_core.engine.report import write_report
    from autoglm_core.engine.report_html import write_html_report

    run_dir = Path(args.run_dir)
    report = load_report(run_dir)
    write_report(report, run_dir)
    path = write_html_report(report, run_dir)
    print(path)
    if args.open:
        import webbrowser

        if not webbrowser.open(path.resolve().as_uri()):
            print(f"note: no browser found; open {path} yourself.")
    return 0


@hookimpl
def autoglm_add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="rebuild a run's report.html (and report.md) from its report.json",
                              description="Rebuild report.html, one self-contained page (plots embedded, no "
                                          "network), and report.md from RUN_DIR/report.json.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run folder (--out of `autoglm run`)")
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    p.set_defaults(handler=run_report)
