"""Open-AutoGLM plugin: compressor ``int8``.

Dynamic INT8 for every ``nn.Linear`` (weights int8, activations quantized per batch at run time)
plus weight-only INT8 for embeddings (per-row scales), through ``torch.ao.quantization``. The
variant is saved as safetensors (int8 values + scales + zero points) beside the fp32 config and
the tokenizer, and :meth:`Int8Compressor.load` rebuilds it in a fresh process without pickle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from autoglm_core import (
    PLAIN_HF_TASK_TYPE,
    BuiltModel,
    Compressor,
    ConfigError,
    ModelFormat,
    ModelLoadError,
    RunContext,
    hookimpl,
)

__all__ = ["Int8Compressor"]

TORCH_AO = "torch-ao"
TORCHAO = "torchao"
BACKEND_REASON = {
    TORCH_AO: "torch.ao dynamic INT8 (fbgemm/x86 kernels) is the fastest INT8 path on CPU here: MiniLM batch 32 "
              "1.6-2.3x faster than fp32 (docs/benchmarks.md), while torchao's int8 CPU kernels measured slower than fp32",
    TORCHAO: "requested with backend='torchao'",
}


class Int8Compressor(Compressor):
    name = "int8"
    description = "dynamic INT8 Linear layers + weight-only INT8 embeddings (torch.ao; torchao on request)"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")
        backend: Literal["torch-ao", "torchao"] = Field(
            TORCH_AO, description="torch-ao (default, fast on CPU) or torchao (needs the torchao package)")
        linear: bool = Field(True, description="quantize nn.Linear layers (dynamic INT8)")
        embeddings: bool = Field(True, description="quantize nn.Embedding weights (weight-only INT8, per row)")

    # ------------------------------------------------------------------ compress
    def compress(self, built: BuiltModel, context: RunContext | None = None) -> BuiltModel:
        _check_input(built)
        if not (self.options.linear or self.options.embeddings):
            raise ConfigError("options of compressor 'int8': linear and embeddings are both false: nothing to quantize.")
        if self.options.backend == TORCHAO:
            return _torchao_compress(built, self.options)
        import torch

        from .quantize import count_quantized, quantize_model

        qmodel = quantize_model(built.model, linear=self.options.linear, embeddings=self.options.embeddings)
        meta = {
            **built.meta,
            "compressor": self.name,
            "backend": TORCH_AO,
            "backend_reason": BACKEND_REASON[TORCH_AO],
            "quantized_engine": torch.backends.quantized.engine,
            "linear": self.options.linear,
            "embeddings": self.options.embeddings,
            "quantized_modules": count_quantized(qmodel),
            "source_variant": built.variant,
        }
        return BuiltModel(model=qmodel, tokenizer=built.tokenizer, labels=list(built.labels), task_type=built.task_type,
                          candidate=built.candidate, variant="int8", format=self.name, meta=meta)

    # ------------------------------------------------------------------ persistence
    @classmethod
    def save(cls, built: BuiltModel, directory: Path) -> None:  # type: ignore[override]
        # a classmethod: BuiltModel.save calls it on the registered class
        from .quantize import WEIGHTS_FILE, save_quantized

        if built.meta.get("backend") == TORCHAO:
            raise ConfigError(
                "compressor 'int8': variants made with backend='torchao' cannot be saved in the safe int8 format "
                "yet; use backend='torch-ao' (the default) to save the model."
            )
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        built.model.config.save_pretrained(directory)
        if built.tokenizer is not None:
            built.tokenizer.save_pretrained(directory)
        save_quantized(built.model, directory / WEIGHTS_FILE, {"format": "int8"})

    @classmethod
    def load(cls, directory: Path, meta: dict[str, Any]) -> BuiltModel:
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        from autoglm_core import CandidateSpec

        from .quantize import WEIGHTS_FILE, load_quantized_state, quantize_model

        directory = Path(directory)
        weights = directory / WEIGHTS_FILE
        if not weights.exists() or not (directory / "config.json").exists():
            raise ModelLoadError(f"{directory}: an int8 model needs config.json and {WEIGHTS_FILE}; one is missing.")
        qmeta = meta.get("meta", {})
        try:
            config = AutoConfig.from_pretrained(directory)
            fp32 = AutoModelForSequenceClassification.from_config(config)
            tokenizer = AutoTokenizer.from_pretrained(directory)
        except (OSError, ValueError) as e:
            raise ModelLoadError(f"{directory}: cannot rebuild the int8 model's architecture: {e}") from None
        model = quantize_model(fp32, linear=qmeta.get("linear", True), embeddings=qmeta.get("embeddings", True))
        try:
            load_quantized_state(model, weights)
        except (ValueError, KeyError, RuntimeError) as e:
            raise ModelLoadError(f"{weights}: does not match the model in config.json: {e}") from None
        model.eval()
        labels = meta.get("labels") or [config.id2label[i] for i in range(config.num_labels)]
        cand = meta.get("candidate")
        return BuiltModel(model=model, tokenizer=tokenizer, labels=list(labels),
                          task_type=meta.get("task_type", PLAIN_HF_TASK_TYPE),
                          candidate=CandidateSpec.model_validate(cand) if cand else None,
                          variant=meta.get("variant", "int8"), format=cls.name, meta=qmeta)


def _check_input(built: BuiltModel) -> None:
    if built.format != "hf":
        raise ConfigError(
            f"compressor 'int8' quantizes fp32 models, but this one is already a {built.format!r} variant "
            f"({built.variant}); give it the fp32 model."
        )
    if not hasattr(built.model, "named_modules"):
        raise ConfigError(f"compressor 'int8' needs a torch model; got {type(built.model).__name__}.")


def _torchao_compress(built: BuiltModel, options: Any) -> BuiltModel:
    import copy

    try:
        import torchao  # noqa: F401
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_
    except ImportError:
        raise ConfigError(
            "option backend='torchao' of compressor 'int8' needs the torchao package, which is not installed "
            "(or too old). Install it with `pip install torchao`, or use backend='torch-ao' (the default, and the "
            "faster one on CPU)."
        ) from None
    model = copy.deepcopy(built.model).cpu().float().eval()
    quantize_(model, Int8DynamicActivationInt8WeightConfig())
    meta = {**built.meta, "compressor": "int8", "backend": TORCHAO, "backend_reason": BACKEND_REASON[TORCHAO],
            "linear": True, "embeddings": False, "source_variant": built.variant}
    return BuiltModel(model=model, tokenizer=built.tokenizer, labels=list(built.labels), task_type=built.task_type,
                      candidate=built.candidate, variant="int8", format="int8", meta=meta)


class Int8Format(ModelFormat):
    """Loads int8 weights into any fp32 architecture a task type rebuilds (image and fusion models
    as well as Hugging Face classifiers), so no task type needs to know this plugin."""

    name = "int8"
    description = "dynamic INT8 Linear layers and INT8 embeddings, weights as safetensors"

    @classmethod
    def load_weights(cls, model: Any, directory: Path, meta: dict[str, Any]) -> Any:
        from .quantize import WEIGHTS_FILE, load_quantized_state, quantize_model

        qmeta = meta.get("meta", {})
        q = quantize_model(model, linear=qmeta.get("linear", True), embeddings=qmeta.get("embeddings", True))
        try:
            load_quantized_state(q, Path(directory) / WEIGHTS_FILE)
        except (ValueError, KeyError, RuntimeError, FileNotFoundError) as e:
            raise ModelLoadError(f"{directory}: the int8 weights do not match the model in config.json: {e}") from None
        return q.eval()


@hookimpl
def autoglm_register_compressors(register):
    register(Int8Compressor)


@hookimpl
def autoglm_register_model_formats(register):
    register(Int8Format)
