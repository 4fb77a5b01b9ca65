"""``autoglm export``: a saved text classifier to ONNX (optionally INT8).

    autoglm export runs/x/model --format onnx [--int8] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from autoglm_core import hookimpl


@hookimpl
def autoglm_add_commands(subparsers: argparse._SubParsersAction) -> None:
    e = subparsers.add_parser(
        "export", help="export a saved model to ONNX (optionally INT8-quantized)",
        description="Export a saved fp32 text classifier to ONNX with dynamic batch/sequence axes; "
                    "`autoglm predict` and `autoglm serve` load the result with ONNX Runtime.",
    )
    e.add_argument("model_dir", metavar="MODEL_DIR")
    e.add_argument("--format", choices=["onnx"], default="onnx")
    e.add_argument("--int8", action="store_true", help="ONNX Runtime dynamic INT8 quantization of the graph")
    e.add_argument("--out", metavar="DIR", help="output folder (default: MODEL_DIR-onnx or MODEL_DIR-onnx-int8)")
    e.add_argument("--opset", type=int, default=17)
    e.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder")
    e.add_argument("--allow-pickle", action="store_true")
    e.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    from .export import export_onnx

    src = Path(args.model_dir)
    out = Path(args.out) if args.out else src.with_name(src.name + ("-onnx-int8" if args.int8 else "-onnx"))
    meta = export_onnx(src, out, int8=args.int8, opset=args.opset, allow_pickle=args.allow_pickle,
                       overwrite=args.overwrite)
    onnx = meta["onnx"]
    print(f"wrote {out / onnx['file']} ({'INT8' if args.int8 else 'fp32'}); largest probability difference "
          f"vs torch on check texts: {onnx['max_abs_diff']:.2g} (tolerance {onnx['tolerance']})")
    return 0
