"""``autoglm verify MODEL_DIR``: check a saved model's files against the SHA-256 recorded at save
time, and its weights against the pickle gate and safetensors header checks.

    autoglm verify runs/x/model
"""

from __future__ import annotations

import argparse

from autoglm_core import hookimpl


@hookimpl
def autoglm_add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "verify", help="check a saved model's files against the SHA-256 checksums recorded when it was saved",
        description="Recompute the SHA-256 of every file of MODEL_DIR and compare them with autoglm_files.json "
                    "(written when the model was saved or exported); check that its weights are safetensors "
                    "with sound headers. Exit 0 when everything matches, 2 (naming the files) otherwise.",
    )
    p.add_argument("model_dir", metavar="MODEL_DIR", help="a saved model directory (e.g. runs/x/model)")
    p.add_argument("--allow-pickle", action="store_true", help="accept pickle weights (only from a source you trust)")
    p.set_defaults(handler=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    from pathlib import Path

    from autoglm_core.io.checksums import verify_checksums
    from autoglm_core.models.loading import check_weights
    from autoglm_core.plugin.components import read_model_meta
    from autoglm_core.types.errors import ModelLoadError

    directory = Path(args.model_dir)
    if not directory.is_dir():
        raise ModelLoadError(f"model directory {str(directory)!r} does not exist or is not a folder.")
    n = verify_checksums(directory, required=True)
    fmt = (read_model_meta(directory) or {}).get("format", "hf")
    if fmt == "hf":  # compressed and ONNX variants keep their own formats
        check_weights(directory, allow_pickle=args.allow_pickle)
    print(f"ok: {n} file(s) of {directory} match their recorded SHA-256")
    return 0
