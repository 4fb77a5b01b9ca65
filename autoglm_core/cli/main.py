"""The ``autoglm`` command line. Sub-commands come from plugins through ``autoglm_add_commands``
(the built-in ones too: ``autoglm_core.cli.commands.core``). User errors print one paragraph and exit 2."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import TextIO


def build_parser(manager: object) -> argparse.ArgumentParser:
    from autoglm_core import __version__

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
                        help="show tracebacks of every error (also AUTOGLM_DEBUG=1)")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    manager.hook.autoglm_add_commands(subparsers=sub)  # type: ignore[attr-defined]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from autoglm_core.plugin.manager import get_manager
    from autoglm_core.types.errors import AutoGLMError, PluginWarning

    argv = list(sys.argv[1:] if argv is None else argv)
    # Read before parsing, so that a traceback is kept even when the failure happens while parsing.
    debug = "--debug" in argv or os.environ.get("AUTOGLM_DEBUG", "").strip() not in ("", "0")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            # None lets AUTOGLM_STRICT_PLUGINS decide; the flag can only make loading stricter
            manager = get_manager(strict=True if "--strict-plugins" in argv else None)
        for w in caught:
            if issubclass(w.category, PluginWarning) or "failed to load" in str(w.message):
                print(f"warning: {w.message}", file=sys.stderr)
        with warnings.catch_warnings():
            # our own warnings (a plugin that fails while its registry is built, a model loaded
            # unverified) are one line for the user, not Python's file:line format with a source line
            warnings.showwarning = _show_warning(warnings.showwarning)
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
        return _fail(debug, f"error: {exc}", exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted: finished stages are saved; run again with --resume to continue.", file=sys.stderr)
        return 130
    except OSError as exc:  # a path or permission the user gave: their fix, so exit 2 without a traceback
        from autoglm_core.io.oserrors import describe_os_error

        return _fail(debug, f"error: {describe_os_error(exc)}", 2)
    except UnicodeDecodeError as exc:
        return _fail(debug, f"error: a file is not valid {exc.encoding} (byte {exc.start}: {exc.reason}); "
                            f"save it as UTF-8.", 2)
    except Exception as exc:  # noqa: BLE001 - a bug, not the user's fault: one line, the traceback on request
        return _fail(debug, f"internal error: {type(exc).__name__}: {exc}. This is a bug in autoglm or a plugin; "
                            f"rerun with --debug (or AUTOGLM_DEBUG=1) for the traceback and report it.", 1)


def _show_warning(default: Callable[..., None]) -> Callable[..., None]:
    from autoglm_core.io.checksums import UnverifiedModelWarning
    from autoglm_core.types.errors import PluginWarning

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: TextIO | None = None, line: str | None = None) -> None:
        if issubclass(category, PluginWarning | UnverifiedModelWarning):
            print(f"warning: {message}", file=file or sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    return show


def _fail(debug: bool, message: str, code: int) -> int:
    if debug:
        import traceback

        traceback.print_exc()
    print(message, file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
