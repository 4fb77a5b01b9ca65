"""The ``autoglm serve`` sub-command."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from typing import Any

LOOPBACK = "127.0.0.1"
API_KEY_ENV = "AUTOGLM_API_KEY"


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
    p.add_argument("--max-wait-ms", type=float, default=0.0,
                   help="how long a batch may wait for more requests while they keep arriving (default 0: never)")
    p.add_argument("--no-adaptive", action="store_false", dest="adaptive",
                   help="one model call per batch instead of the measured best call size")
    p.add_argument("--max-queue", type=int, default=256, help="requests waiting for the model; more -> HTTP 503")
    p.add_argument("--request-timeout", type=float, default=30.0, dest="request_timeout_s",
                   help="seconds to answer a request (body, queue, model); later -> HTTP 503 and the work is dropped")
    p.add_argument("--header-timeout", type=float, default=10.0,
                   help="seconds for a request's headers to arrive; later -> 408 and the connection is closed")
    p.add_argument("--keep-alive-timeout", type=float, default=5.0, help="idle keep-alive connections are closed after this")
    p.add_argument("--max-connections", type=int, default=1024, help="open connections; more -> HTTP 503")
    p.add_argument("--api-key", default=None,
                   help=f"require this key on every path (Authorization: Bearer KEY or X-API-Key: KEY); "
                        f"prefer the {API_KEY_ENV} environment variable, which other users cannot read from ps")
    p.add_argument("--max-text-chars", type=int, default=10_000, help="longer texts are cut, with a warning")
    p.add_argument("--max-texts", type=int, default=256, help="texts per request; more -> HTTP 413")
    p.add_argument("--max-body-bytes", type=int, default=2 * 1024 * 1024, help="request body limit; more -> HTTP 413")
    p.add_argument("--max-length", type=int, default=128, help="tokens per text")
    p.add_argument("--allow-pickle", action="store_true", help="load pickle weights (only from a source you trust)")
    p.add_argument("--verify", action="store_true",
                   help="refuse a model folder without recorded checksums (autoglm_files.json) instead of warning")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(handler=run_serve)
    return p


def build_app(args: argparse.Namespace) -> Any:
    """Check the options, load the model and build the app (everything but listening)."""
    import math

    from autoglm_core import ConfigError, Predictor

    from .app import ServeConfig, create_app

    for name in ("max_batch_size", "max_text_chars", "max_texts", "max_body_bytes", "max_length", "max_queue",
                 "max_connections"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}.")
    if not (math.isfinite(args.max_wait_ms) and args.max_wait_ms >= 0):
        raise ConfigError(f"--max-wait-ms must be >= 0, got {args.max_wait_ms}.")
    for name, flag in (("request_timeout_s", "--request-timeout"), ("header_timeout", "--header-timeout"),
                       ("keep_alive_timeout", "--keep-alive-timeout")):
        value = getattr(args, name)
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{flag} must be a number of seconds > 0, got {value}.")
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be 0..65535, got {args.port}.")
    predictor = Predictor.load(args.model_dir, allow_pickle=args.allow_pickle, max_length=args.max_length,
                               verify=getattr(args, "verify", False))
    cfg = ServeConfig(max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms,
                      max_text_chars=args.max_text_chars, max_texts=args.max_texts,
                      max_body_bytes=args.max_body_bytes, max_queue=args.max_queue,
                      request_timeout_s=args.request_timeout_s, adaptive=args.adaptive)
    return create_app(predictor, cfg, api_key=api_key(args))


def api_key(args: argparse.Namespace) -> str | None:
    """--api-key, else $AUTOGLM_API_KEY, else None (no key)."""
    key = args.api_key if args.api_key is not None else os.environ.get(API_KEY_ENV)
    if key is not None and not key.strip():
        from autoglm_core import ConfigError

        raise ConfigError(f"the API key (--api-key / {API_KEY_ENV}) is empty; give a key or leave both unset.")
    return key.strip() if key else None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .protocol import uvicorn_config

    app = build_app(args)
    if not _is_loopback(args.host) and api_key(args) is None:
        print(f"warning: binding to {args.host} without an API key: anyone who can reach this address can use "
              f"the model. Set {API_KEY_ENV} (or --api-key).", file=sys.stderr)
    config = uvicorn_config(app, host=args.host, port=args.port, log_level=args.log_level,
                            header_timeout=args.header_timeout, keep_alive_timeout=args.keep_alive_timeout,
                            max_connections=args.max_connections)
    uvicorn.Server(config).run()
    return 0
