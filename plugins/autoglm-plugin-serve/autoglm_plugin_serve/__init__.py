"""Open-AutoGLM plugin: ``autoglm serve MODEL_DIR``, an HTTP inference server with dynamic batching.

Importing this module is cheap; FastAPI, uvicorn and the model load only when the command runs.
"""

from __future__ import annotations

import argparse

from autoglm_core import hookimpl

__version__ = "0.1.0"


@hookimpl
def autoglm_add_commands(subparsers: argparse._SubParsersAction) -> None:
    from .command import add_serve_parser

    add_serve_parser(subparsers)
