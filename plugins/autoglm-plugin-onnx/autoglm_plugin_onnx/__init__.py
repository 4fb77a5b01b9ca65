"""Open-AutoGLM plugin ``onnx``: ``autoglm export --format onnx`` (the graph is checked against
torch; ``--int8`` quantizes it with ONNX Runtime) and the ``onnx`` model format, whose predictor
backend runs the export with ONNX Runtime (``autoglm predict`` / ``autoglm serve`` / Predictor)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from autoglm_core import ModelFormat, hookimpl

from .command import autoglm_add_commands

__all__ = ["OnnxFormat", "autoglm_add_commands"]


class OnnxFormat(ModelFormat):
    name = "onnx"
    description = "an ONNX graph run with ONNX Runtime (fp32 or dynamic INT8)"
    torch_loadable: ClassVar[bool] = False

    @classmethod
    def predictor_backend(cls, directory: Path, meta: dict[str, Any]) -> Any:
        from .export import OnnxBackend

        return OnnxBackend(directory, meta)


@hookimpl
def autoglm_register_model_formats(register: Any) -> None:
    register(OnnxFormat)
