"""ONNX export of a saved text classifier and ONNX Runtime inference.

``export_onnx(MODEL_DIR, OUT)`` writes ``OUT/model.onnx`` (dynamic batch and sequence axes), the
tokenizer files and ``autoglm_model.json`` with ``format: "onnx"``; ``--int8`` applies ONNX
Runtime dynamic INT8 quantization (``quantize_dynamic``) to the exported graph.
:class:`~autoglm_core.engine.predictor.Predictor` loads such a directory with :class:`OnnxBackend`.

The export checks itself: it runs the torch model and the ONNX graph on sample texts and records
the largest probability difference in the metadata (``onnx.max_abs_diff``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoglm_core import AutoGLMError, ModelLoadError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

ONNX_FILE = "model.onnx"
#: fp32 export vs torch: probabilities agree to this (float rounding of fused kernels)
FP32_TOLERANCE = 1e-4
#: INT8 export vs fp32 torch: quantization changes probabilities more; measured, not asserted to 1e-4
INT8_TOLERANCE = 0.1

_CHECK_TEXTS = [
    "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn.",
    "The company reported heavy losses",
    "Board meeting",
    "Sales dropped sharply in the third quarter while costs rose and the outlook was cut again.",
]


class ExportError(AutoGLMError):
    """A model cannot be exported."""


def _require(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ExportError(
            f"ONNX support needs the {module!r} package: pip install onnx onnxruntime"
        ) from None


class OnnxBackend:
    """Runs ``model.onnx`` with ONNX Runtime; tokenizes with the tokenizer saved next to it."""

    name = "onnxruntime"

    def __init__(self, directory: Path, meta: dict[str, Any], threads: int | None = None):
        ort = _require("onnxruntime")
        from transformers import AutoTokenizer

        onnx_meta = meta.get("onnx") or {}
        path = directory / onnx_meta.get("file", ONNX_FILE)
        if not path.exists():
            raise ModelLoadError(f"{directory}: autoglm_model.json says format 'onnx' but {path.name} is missing.")
        opts = ort.SessionOptions()
        # ONNX Runtime ignores OMP_NUM_THREADS and takes every core by default; honour it like torch does.
        env_threads = os.environ.get("OMP_NUM_THREADS", "")
        threads = threads or (int(env_threads) if env_threads.isdigit() and int(env_threads) > 0 else None)
        if threads:
            opts.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types
            raise ModelLoadError(f"{path}: ONNX Runtime cannot load the graph: {e}") from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.tokenizer = AutoTokenizer.from_pretrained(directory)
        self.info = {"onnx_int8": bool(onnx_meta.get("int8"))}

    def predict_proba(self, texts: list[str], batch_size: int, max_length: int) -> np.ndarray:
        import numpy as np

        out = []
        for i in range(0, len(texts), batch_size):
            enc = self.tokenizer(texts[i : i + batch_size], padding=True, truncation=True,
                                 max_length=max_length, return_tensors="np")
            feed = {name: enc[name].astype(np.int64) for name in self.input_names if name in enc}
            if "token_type_ids" in self.input_names and "token_type_ids" not in feed:
                feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
            logits = self.session.run(["logits"], feed)[0].astype(np.float64)
            logits -= logits.max(axis=1, keepdims=True)
            e = np.exp(logits)
            out.append((e / e.sum(axis=1, keepdims=True)).astype(np.float32))
        return np.concatenate(out)


def export_onnx(model_dir: str | Path, out_dir: str | Path, *, int8: bool = False, opset: int = 17,
                allow_pickle: bool = False, overwrite: bool = False) -> dict[str, Any]:
    """Export a saved fp32 text classifier to ONNX (optionally INT8-quantized). Returns the metadata
    written to ``out_dir/autoglm_model.json``."""
    _require("onnx")
    _require("onnxruntime")
    import torch

    from autoglm_core import MODEL_META_FILE, atomic_write_json, load_model

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise ExportError(f"output folder {out_dir} exists and is not empty; choose another --out or pass --overwrite.")
    built = load_model(model_dir, allow_pickle=allow_pickle)
    if built.format != "hf":
        raise ExportError(
            f"{model_dir} is a {built.format!r} variant; ONNX export needs the fp32 model. Export the "
            f"fine-tuned fp32 directory and add --int8 for an INT8 ONNX graph."
        )
    model = built.model.float().eval()
    tokenizer = built.tokenizer
    sample = tokenizer(_CHECK_TEXTS[:2], padding=True, return_tensors="pt")
    input_names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]

    class _Logits(torch.nn.Module):
        # The HF model returns a ModelOutput; ONNX wants plain tensors in a fixed order.
        def __init__(self, inner: Any):
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> Any:
            return self.inner(**dict(zip(input_names, args, strict=False))).logits

    dynamic = {n: {0: "batch", 1: "sequence"} for n in input_names}
    dynamic["logits"] = {0: "batch"}
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.export-", dir=out_dir.parent))
    try:
        fp32_path = tmp / ("model-fp32.onnx" if int8 else ONNX_FILE)
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # dynamo=False: the TorchScript exporter handles HF BERT-style models with dynamic axes
            # reliably and needs no onnxscript; the dynamo exporter is the default in torch >= 2.9.
            torch.onnx.export(
                _Logits(model), tuple(sample[n] for n in input_names), str(fp32_path),
                input_names=input_names, output_names=["logits"], dynamic_axes=dynamic,
                opset_version=opset, dynamo=False,
            )
        if int8:
            import logging

            from onnxruntime.quantization import QuantType, quantize_dynamic

            # quantize_dynamic logs a "consider pre-processing" hint on the root logger; it is noise here.
            root = logging.getLogger()
            level = root.level
            root.setLevel(logging.ERROR)
            try:
                quantize_dynamic(str(fp32_path), str(tmp / ONNX_FILE), weight_type=QuantType.QInt8)
            finally:
                root.setLevel(level)
            fp32_path.unlink()
        tokenizer.save_pretrained(tmp)
        base = built.metadata()
        meta = {
            **base,
            "format": "onnx",
            "variant": f"{base.get('variant', 'fine-tuned')}+onnx" + ("-int8" if int8 else ""),
            "onnx": {"file": ONNX_FILE, "int8": int8, "opset": opset, "inputs": input_names,
                     "source": str(model_dir.resolve())},
        }
        # Self-check against the torch model on the same texts.
        backend = OnnxBackend(tmp, meta)
        got = backend.predict_proba(_CHECK_TEXTS, batch_size=4, max_length=128)
        want = built.predict_proba(_CHECK_TEXTS, batch_size=4, max_length=128)
        diff = float(abs(got - want).max())
        tol = INT8_TOLERANCE if int8 else FP32_TOLERANCE
        meta["onnx"].update(max_abs_diff=diff, tolerance=tol)
        if diff > tol:
            warnings.warn(f"ONNX export of {model_dir}: probabilities differ from torch by {diff:.2g} (> {tol}).",
                          RuntimeWarning, stacklevel=2)
        atomic_write_json(tmp / MODEL_META_FILE, meta)
        from autoglm_core import write_checksums

        write_checksums(tmp)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta
