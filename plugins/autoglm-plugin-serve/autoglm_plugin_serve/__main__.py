"""``python -m autoglm_plugin_serve serve MODEL_DIR ...``: the serve command without the full CLI."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from autoglm_core import AutoGLMError

    from .command import add_serve_parser

    parser = argparse.ArgumentParser(prog="python -m autoglm_plugin_serve")
    add_serve_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except AutoGLMError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
