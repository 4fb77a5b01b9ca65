"""Run a saved model on new texts: ``Predictor.load(MODEL_DIR).predict(["text", ...])``.

One entry point for every saved model kind:

* a Hugging Face / run-exported fp32 directory and compressed variants (``int8`` and any other
  compressor with a custom format) through :func:`autoglm_core.models.loading.load_model`;
* an ONNX export (``autoglm export MODEL_DIR --format onnx``) run with ONNX Runtime.

Texts are sorted by length before batching (less padding, same results), and results come back in
the input order.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoglm_core.io import atomic_write_lines
from autoglm_core.plugin.task_type import PLAIN_HF_TASK_TYPE
from autoglm_core.types.errors import AutoGLMError, DataError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from autoglm_core.plugin.components import BuiltModel

TEXT_COLUMNS = ("text", "sentence", "content", "review", "input")


class PredictInputError(AutoGLMError):
    """Texts handed to a predictor are not usable (not strings, wrong container)."""


class _TorchBackend:
    name = "torch"

    def __init__(self, built: BuiltModel):
        self.built = built

    def predict_proba(self, texts: list[str], batch_size: int, max_length: int) -> np.ndarray:
        return self.built.predict_proba(texts, batch_size=batch_size, max_length=max_length)


class _RecordsBackend(_TorchBackend):
    """A model whose output is one record per text (``BuiltModel.predict_records``)."""

    def predict_proba(self, texts: list[str], batch_size: int, max_length: int) -> np.ndarray:
        raise PredictInputError(f"the model is a {self.built.task_type!r} model: it predicts records "
                                f"(Predictor.predict), not class probabilities.")

    def predict_records(self, texts: list[str], batch_size: int, max_length: int) -> list[dict[str, Any]]:
        return self.built.predict_records(texts, batch_size=batch_size, max_length=max_length)


class Predictor:
    """Label names and probabilities for texts, from any saved model directory."""

    def __init__(self, backend: Any, labels: Sequence[str], info: dict[str, Any], *, max_length: int = 128):
        self.backend = backend
        self.labels = list(labels)
        self.info = dict(info)
        self.max_length = max_length

    # ------------------------------------------------------------------ construction
    @classmethod
    def load(cls, directory: str | Path, *, allow_pickle: bool = False, trust_remote_code: bool = False,
             max_length: int = 128, manager: Any = None, verify: bool = False) -> Predictor:
        """Load a model directory: fp32 / compressed variants (via ``load_model``) or an ONNX export.
        A folder without recorded checksums loads with a warning; ``verify=True`` refuses it."""
        from autoglm_core.plugin.components import read_model_meta
        from autoglm_core.types.errors import ModelLoadError

        directory = Path(directory)
        if directory.is_dir():
            try:
                meta = read_model_meta(directory) or {}
            except json.JSONDecodeError as e:
                raise ModelLoadError(f"{directory / 'autoglm_model.json'}: line {e.lineno}: invalid JSON: {e.msg}.") from None
            backend = _format_backend(directory, meta, manager)
            if backend is not None:  # a format torch does not load (ONNX): its own runtime
                from autoglm_core.io.checksums import check_integrity

                check_integrity(directory, verify=verify)
                info = _info_from_meta(meta, directory, backend=getattr(backend, "name", meta.get("format", "?")))
                info.update(getattr(backend, "info", {}))
                return cls(backend, meta["labels"], info, max_length=max_length)
        from autoglm_core.models.loading import load_model

        built = load_model(directory, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code, manager=manager,
                           verify=verify)
        return cls.from_built(built, directory=directory, max_length=max_length)

    @classmethod
    def from_built(cls, built: BuiltModel, *, directory: str | Path | None = None, max_length: int = 128) -> Predictor:
        """Wrap an in-memory :class:`BuiltModel` (for example straight after training)."""
        info = _info_from_meta(built.metadata(), Path(directory) if directory else None, backend="torch")
        if built.predicts_records:  # entity spans and other structured outputs
            return cls(_RecordsBackend(built), built.labels, info, max_length=max_length)
        if not _predicts_text_labels(built.task_type):
            raise PredictInputError(
                f"the model is a {built.task_type!r} model; Predictor runs text classifiers "
                f"(use `autoglm generate` for text generation)."
            )
        return cls(_TorchBackend(built), built.labels, info, max_length=max_length)

    # ------------------------------------------------------------------ inference
    def predict_proba(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Probabilities, shape ``(len(texts), len(labels))``, rows in input order."""
        import numpy as np

        texts = _check_texts(texts)
        if batch_size < 1:
            raise PredictInputError(f"batch_size must be >= 1, got {batch_size}.")
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        # Sorting by length groups similar lengths into one batch: less padding, identical results.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        probs = self.backend.predict_proba([texts[i] for i in order], batch_size, self.max_length)
        out = np.empty_like(probs)
        out[np.asarray(order)] = probs
        return out

    def predict(self, texts: Sequence[str] | str, batch_size: int = 32) -> list[dict[str, Any]]:
        """``[{"label": name, "probabilities": {label: p, ...}}, ...]``, one per text, in order (or
        the model's own records, e.g. entity spans, for a model that predicts records)."""
        if isinstance(self.backend, _RecordsBackend):
            return self.backend.predict_records(_check_texts(texts), batch_size, self.max_length)
        probs = self.predict_proba(texts, batch_size=batch_size)
        return self.format_rows(probs)

    def format_rows(self, probs: np.ndarray) -> list[dict[str, Any]]:
        rows = []
        for row in probs:
            best = int(row.argmax())
            rows.append({
                "label": self.labels[best],
                "probabilities": {lab: round(float(p), 6) for lab, p in zip(self.labels, row, strict=False)},
            })
        return rows

    def predict_file(self, input_path: str | Path, output_path: str | Path, *, batch_size: int = 32,
                     text_column: str | None = None, progress: bool = True) -> int:
        """Predict every row of a ``.jsonl`` or ``.csv`` file and write ``output_path`` (JSON lines:
        line, id if the input has one, text, label, probabilities) atomically. Returns the row count."""
        import numpy as np
        from tqdm import tqdm

        rows = read_texts(Path(input_path), text_column=text_column)
        texts = [r["text"] for r in rows]
        if isinstance(self.backend, _RecordsBackend):  # the model's own records (spans, values, ...)
            records = self.backend.predict_records(texts, batch_size, self.max_length)
            atomic_write_lines(Path(output_path), [json.dumps({**r, **rec}, ensure_ascii=False)
                                                   for r, rec in zip(rows, records, strict=True)])
            return len(rows)
        # Batches go through the length-sorted path of predict_proba chunk by chunk, so the bar moves.
        chunk = max(batch_size * 8, batch_size)
        parts = []
        with tqdm(total=len(texts), unit="text", desc=f"predict {Path(input_path).name}", file=sys.stderr,
                  disable=not progress) as bar:
            for i in range(0, len(texts), chunk):
                parts.append(self.predict_proba(texts[i : i + chunk], batch_size=batch_size))
                bar.update(len(texts[i : i + chunk]))
        probs = np.concatenate(parts) if parts else np.zeros((0, len(self.labels)), dtype=np.float32)
        lines = []
        for r, pred in zip(rows, self.format_rows(probs), strict=False):
            lines.append(json.dumps({**r, **pred}, ensure_ascii=False))
        atomic_write_lines(Path(output_path), lines)
        return len(rows)

    def __repr__(self) -> str:
        return f"Predictor(model={self.info.get('model')!r}, variant={self.info.get('variant')!r}, backend={self.info.get('backend')!r}, labels={self.labels})"


# --------------------------------------------------------------------------- helpers


def _format_backend(directory: Path, meta: dict[str, Any], manager: Any = None) -> Any:
    from autoglm_core.plugin.manager import get_manager
    from autoglm_core.types.errors import ModelLoadError

    fmt = meta.get("format", "hf")
    formats = (manager or get_manager()).registry("model format")
    if fmt not in formats:
        if fmt == "hf" or fmt in (manager or get_manager()).registry("compressor"):
            return None  # custom formats of compressors load through load_model
        raise ModelLoadError(f"{directory} is saved in format {fmt!r}, which no installed plugin provides "
                             f"(e.g. pip install ./plugins/autoglm-plugin-{fmt}).")
    return formats.get(fmt).predictor_backend(directory, meta)


def _predicts_text_labels(task_type: str) -> bool:
    """Whether the task type's models map texts to label probabilities (its ``text_predictor``)."""
    from autoglm_core.plugin.manager import get_manager

    registry = get_manager().registry("task type")
    return task_type in registry and bool(registry.get(task_type).text_predictor)


def _info_from_meta(meta: dict[str, Any], directory: Path | None, backend: str) -> dict[str, Any]:
    cand = meta.get("candidate") or {}
    return {
        "model": cand.get("name") or cand.get("backbone") or (directory.name if directory else "in-memory"),
        "backbone": cand.get("backbone"),
        "variant": meta.get("variant", "fine-tuned"),
        "format": meta.get("format", "hf"),
        "task_type": meta.get("task_type", PLAIN_HF_TASK_TYPE),
        "backend": backend,
        "directory": str(directory) if directory else None,
        "autoglm_version": meta.get("autoglm_version"),
    }


def _check_texts(texts: Any) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    if not isinstance(texts, Iterable):
        raise PredictInputError(f"texts must be a string or a list of strings, got {type(texts).__name__}.")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise PredictInputError(f"texts[{i}] is a {type(t).__name__}, not a string.")
    return texts


def read_texts(path: Path, text_column: str | None = None) -> list[dict[str, Any]]:
    """Rows ``{"line": n, ["id": ...,] "text": ...}`` from a .jsonl (objects with a text field, or
    JSON strings) or .csv/.tsv file (a header row with a text column). Errors name file and line."""
    from autoglm_core.data.reading import read_text

    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv", ".tsv"):
        raise DataError(f"{path}: prediction input must be a .jsonl, .csv or .tsv file, not {suffix or 'no suffix'!r}.")
    text, _ = read_text(path)
    rows: list[dict[str, Any]] = []
    if suffix == ".jsonl":
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}: line {n}, column {e.colno}: invalid JSON: {e.msg}.") from None
            if isinstance(obj, str):
                rows.append({"line": n, "text": obj})
                continue
            if not isinstance(obj, dict):
                raise DataError(f"{path}: line {n}: expected a JSON object with a text field or a JSON string, got {type(obj).__name__}.")
            col = text_column or next((c for c in TEXT_COLUMNS if c in obj), None)
            if col is None or col not in obj:
                want = repr(text_column) if text_column else f"one of {', '.join(TEXT_COLUMNS)}"
                raise DataError(f"{path}: line {n}: no text field ({want}); fields are {sorted(obj)}. Use --text-column.")
            if not isinstance(obj[col], str):
                raise DataError(f"{path}: line {n}: field {col!r} is a {type(obj[col]).__name__}, not a string.")
            row: dict[str, Any] = {"line": n}
            if "id" in obj:
                row["id"] = obj["id"]
            row["text"] = obj[col]
            rows.append(row)
    else:
        reader = csv.reader(text.splitlines(), delimiter="\t" if suffix == ".tsv" else ",")
        try:
            header = next(reader)
        except StopIteration:
            raise DataError(f"{path}: the file has no header row.") from None
        header = [h.strip() for h in header]
        if text_column:
            if text_column not in header:
                raise DataError(f"{path}: line 1: no column {text_column!r}; columns are {header}.")
            col = text_column
        elif len(header) == 1:
            col = header[0]
        else:
            col = next((c for c in header if c.lower() in TEXT_COLUMNS), None)
            if col is None:
                raise DataError(f"{path}: line 1: no text column (looked for {', '.join(TEXT_COLUMNS)}); columns are {header}. Use --text-column.")
        idx = header.index(col)
        id_idx = header.index("id") if "id" in header else None
        for n, rec in enumerate(reader, start=2):
            if not rec or not any(x.strip() for x in rec):
                continue
            if idx >= len(rec):
                raise DataError(f"{path}: line {n}: {len(rec)} fields, the text column {col!r} is field {idx + 1}.")
            row = {"line": n}
            if id_idx is not None and id_idx < len(rec):
                row["id"] = rec[id_idx]
            row["text"] = rec[idx]
            rows.append(row)
    if not rows:
        raise DataError(f"{path}: no rows to predict.")
    return rows

