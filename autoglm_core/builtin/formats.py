"""The built-in model format ``hf``: fp32 weights in ``model.safetensors`` (what
``save_pretrained(safe_serialization=True)`` writes for a single-file model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoglm_core.plugin.components import ModelFormat
from autoglm_core.plugin.hookspecs import hookimpl

WEIGHTS_FILE = "model.safetensors"


class SafetensorsFormat(ModelFormat):
    name = "hf"
    description = "fp32 weights as safetensors (the Hugging Face layout)"

    @classmethod
    def load_weights(cls, model: Any, directory: Path, meta: dict[str, Any]) -> Any:
        from safetensors.torch import load_model

        from autoglm_core.types.errors import ModelLoadError

        path = Path(directory) / WEIGHTS_FILE
        if not path.exists():
            raise ModelLoadError(f"{directory}: no {WEIGHTS_FILE} (fp32 weights) to load.")
        load_model(model, str(path))
        return model.eval()


@hookimpl
def autoglm_register_model_formats(register: Any) -> None:
    register(SafetensorsFormat)
