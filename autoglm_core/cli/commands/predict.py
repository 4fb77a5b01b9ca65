"""``autoglm predict``: use a saved model (``autoglm export`` comes with the ONNX plugin).

    autoglm predict runs/x/model "Profit rose" "Sales fell"        # JSON lines on stdout
    autoglm predict runs/x/model --input news.csv --output preds.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys

from autoglm_core import hookimpl


@hookimpl
def autoglm_add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict", help="predict labels for texts or a .jsonl/.csv file with a saved model",
        description="Predict label names and probabilities with a saved model directory (fp32, a "
                    "compressed variant such as int8, or an ONNX export).",
    )
    p.add_argument("model_dir", metavar="MODEL_DIR", help="a saved model directory")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify (JSON lines on stdout)")
    p.add_argument("--input", metavar="FILE", help=".jsonl (objects with a 'text' field) or .csv/.tsv with a text column")
    p.add_argument("--output", metavar="FILE", default="preds.jsonl",
                   help="where --input predictions go, written atomically (default: preds.jsonl)")
    p.add_argument("--text-column", help="name of the text field/column in --input")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=128, help="tokens per text (longer texts are truncated)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--allow-pickle", action="store_true", help="load pickle weights (only from a source you trust)")
    p.add_argument("--trust-remote-code", action="store_true", help="run model code from the model directory")
    p.add_argument("--verify", action="store_true",
                   help="refuse a model folder without recorded checksums (autoglm_files.json) instead of warning")
    p.set_defaults(handler=run_predict)


def run_predict(args: argparse.Namespace) -> int:
    from autoglm_core.engine.predictor import Predictor
    from autoglm_core.types.errors import ConfigError

    if args.input and args.texts:
        raise ConfigError("give texts or --input FILE, not both.")
    if not args.input and not args.texts:
        raise ConfigError('nothing to predict: give texts (autoglm predict MODEL_DIR "some text") or --input FILE.')
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}.")
    predictor = Predictor.load(args.model_dir, allow_pickle=args.allow_pickle,
                               trust_remote_code=args.trust_remote_code, max_length=args.max_length,
                               verify=args.verify)
    if args.input:
        n = predictor.predict_file(args.input, args.output, batch_size=args.batch_size,
                                   text_column=args.text_column, progress=not args.no_progress)
        print(f"wrote {n} predictions to {args.output}", file=sys.stderr)
        return 0
    for text, pred in zip(args.texts, predictor.predict(args.texts, batch_size=args.batch_size), strict=False):
        print(json.dumps({"text": text, **pred}, ensure_ascii=False))
    return 0
