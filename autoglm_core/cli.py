"""The ``autoglm`` command line. Sub-commands come from plugins through ``autoglm_add_commands``
(the built-in ones too: ``autoglm_core.builtin.commands``). User errors print one paragraph and exit 2."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
import warnings
from collections.abc import Sequence


def build_parser(manager: object) -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="autoglm",
        description="Open-AutoGLM: from a plain-language task description to a trained, evaluated, compressed "
                    "and attack-tested model, offline.",
        epilog="Example: autoglm run \"Classify financial news as positive, negative or neutral\" --data news.csv",
    )
    parser.add_argument("--version", action="version", version=f"autoglm {__version__}")
    parser.add_argument("--strict-plugins", action="store_true", help="fail when a plugin cannot be loaded")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks of errors (also AUTOGLM_DEBUG=1)")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    manager.hook.autoglm_add_commands(subparsers=sub)  # type: ignore[attr-defined]
    return parser


def _debug(argv: Sequence[str]) -> bool:
    return "--debug" in argv or os.environ.get("AUTOGLM_DEBUG", "") not in ("", "0")


def main(argv: Sequence[str] | None = None) -> int:
    from .errors import AutoGLMError, PluginWarning
    from .plugins import get_manager

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            # None lets AUTOGLM_STRICT_PLUGINS decide; the flag can only make loading stricter
            manager = get_manager(strict=True if "--strict-plugins" in argv else None)
        for w in caught:
            if issubclass(w.category, PluginWarning) or "failed to load" in str(w.message):
                print(f"warning: {w.message}", file=sys.stderr)
        parser = build_parser(manager)
        args = parser.parse_args(argv)
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")
        handler = getattr(args, "handler", None)
        if handler is None:
            parser.print_help()
            return 2
        return int(handler(args) or 0)
    except AutoGLMError as exc:
        if _debug(argv):
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: finished stages are saved; run again with --resume to continue.", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
