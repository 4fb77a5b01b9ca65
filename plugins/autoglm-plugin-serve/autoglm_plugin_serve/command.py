"""The ``autoglm serve`` sub-command."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from typing import Any

LOOPBACK = "127.0.0.1"


def add_serve_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "serve", help="serve a saved model over HTTP (POST /predict, dynamic batching)",
        description="Serve a saved model directory (fp32, a compressed variant such as int8, or an ONNX "
                    "export) with FastAPI on uvicorn. Concurrent requests are batched dynamically. "
                    "Binds to 127.0.0.1 unless --host says otherwise.",
    )
    p.add_argument("model_dir", metavar="MODEL_DIR")
    p.add_argument("--host", default=LOOPBACK, help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--max-batch-size", type=int, default=32, help="texts per model call (1 = no batching)")
    p.add_argument("--max-wait-ms", type=float, default=5.0, help="how long a batch waits to fill up")
    p.add_argument("--max-text-chars", type=int, default=10_000, help="longer texts are cut, with a warning")
    p.add_argument("--max-texts", type=int, default=256, help="texts per request; more -> HTTP 413")
    p.add_argument("--max-body-bytes", type=int, default=2 * 1024 * 1024, help="request body limit; more -> HTTP 413")
    p.add_argument("--max-length", type=int, default=128, help="tokens per text")
    p.add_argument("--allow-pickle", action="store_true", help="load pickle weights (only from a source you trust)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(handler=run_serve)
    return p


def build_app(args: argparse.Namespace) -> Any:
    """Check the options, load the model and build the app (everything but listening)."""
    from autoglm_core import ConfigError, Predictor

    from .app import ServeConfig, create_app

    for name in ("max_batch_size", "max_text_chars", "max_texts", "max_body_bytes", "max_length"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}.")
    if args.max_wait_ms < 0:
        raise ConfigError(f"--max-wait-ms must be >= 0, got {args.max_wait_ms}.")
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be 0..65535, got {args.port}.")
    predictor = Predictor.load(args.model_dir, allow_pickle=args.allow_pickle, max_length=args.max_length)
    cfg = ServeConfig(max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms,
                      max_text_chars=args.max_text_chars, max_texts=args.max_texts,
                      max_body_bytes=args.max_body_bytes)
    return create_app(predictor, cfg)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    app = build_app(args)
    if not _is_loopback(args.host):
        print(f"warning: binding to {args.host}: the server has no authentication; anyone who can reach "
              f"this address can use the model.", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
