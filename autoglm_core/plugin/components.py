"""Base classes of the components that plugins register.

A component is a small class with a ``name``, a one-line ``description``, a pydantic ``Options``
model (``extra="forbid"``, so a misspelt option is named) and one main method. The core creates it
with the options from the pipeline config: ``Compressor(options={"per_channel": True})``.

Heavy libraries (torch, transformers) are imported inside methods, never at module import.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from autoglm_core.types.schemas import validate
from autoglm_core.types.version import __version__

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from autoglm_core.plugin.context import RunContext
    from autoglm_core.types.data import Example
    from autoglm_core.types.schemas import CandidateSpec

MODEL_META_FILE = "autoglm_model.json"


class Component:
    """Base of every registered component."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    kind: ClassVar[str] = "component"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

    def __init__(self, options: dict[str, Any] | BaseModel | None = None, *, where: str | None = None):
        source = where or f"options of {self.kind} {self.name!r}"
        # Any: each subclass reads the fields of its own Options model, which the base cannot name
        self.options: Any = validate(self.Options, options if options is not None else {}, source=source)


@dataclass
class BuiltModel:
    """A model plus what is needed to run and save it.

    ``format`` says how it is saved and loaded: ``"hf"`` is the Hugging Face layout with
    safetensors; any other value is the name of the compressor whose ``save``/``load`` handle it
    (for example ``"int8"``).
    """

    #: what the model reads: "text" (the tokenizer encodes strings), "pixels" (image arrays),
    #: "text+image"; components ask this instead of the task type's name
    inputs: ClassVar[str] = "text"

    model: Any
    tokenizer: Any
    labels: list[str]
    task_type: str
    candidate: CandidateSpec | None = None
    variant: str = "fine-tuned"
    format: str = "hf"
    meta: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ inference
    def predict_proba(self, texts: Sequence[str], batch_size: int = 32, max_length: int = 128) -> np.ndarray:
        """Class probabilities for a sequence classifier, shape (len(texts), len(labels))."""
        import numpy as np
        import torch

        self.model.eval()
        device = _module_device(self.model)
        out: list[np.ndarray] = []
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                enc = self.tokenizer(
                    list(texts[i : i + batch_size]), padding=True, truncation=True,
                    max_length=max_length, return_tensors="pt",
                )
                enc = {k: v.to(device) for k, v in enc.items()}
                logits = self.model(**enc).logits
                out.append(torch.softmax(logits.float(), dim=-1).cpu().numpy())
        if not out:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return np.concatenate(out, axis=0)

    def predict(self, texts: Sequence[str], batch_size: int = 32, max_length: int = 128) -> list[str]:
        probs = self.predict_proba(texts, batch_size=batch_size, max_length=max_length)
        return [self.labels[i] for i in probs.argmax(axis=1)]

    #: True when :meth:`predict_records` gives the model's own output (spans, ...) instead of one
    #: label and its probabilities per text; ``autoglm predict`` then prints those records
    predicts_records: ClassVar[bool] = False

    def predict_records(self, texts: Sequence[str], batch_size: int = 32, max_length: int = 128) -> list[dict[str, Any]]:
        """One JSON-ready record per text (models whose output is not a single label)."""
        raise NotImplementedError(f"{type(self).__name__} predicts labels: use predict_proba")

    # ------------------------------------------------------------------ persistence
    def metadata(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "task_type": self.task_type,
            "labels": list(self.labels),
            "variant": self.variant,
            "candidate": self.candidate.model_dump(mode="json") if self.candidate else None,
            "autoglm_version": __version__,
            **({"meta": self.meta} if self.meta else {}),
        }

    def save(self, directory: str | Path) -> Path:
        """Save in the Hugging Face layout with safetensors (``format == "hf"``) plus
        ``autoglm_model.json``. Compressed variants are saved by their compressor."""
        directory = Path(directory)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            if self.format == "hf":
                self.model.save_pretrained(directory, safe_serialization=True)
                if self.tokenizer is not None:
                    self.tokenizer.save_pretrained(directory)
            else:
                format_handler(self.format).save(self, directory)
            from autoglm_core.io import atomic_write_json
            from autoglm_core.io.checksums import write_checksums

            atomic_write_json(directory / MODEL_META_FILE, self.metadata())
            write_checksums(directory)  # last: loading checks every file against it
        except Exception as exc:
            # safetensors wraps the OSError of a full disk in its own error type: name it here,
            # where the folder and the model's size are known
            if _is_disk_full(exc):
                from autoglm_core.types.errors import AutoGLMError

                raise AutoGLMError(_disk_full_message(directory, _bytes_needed(self.model, directory))) from exc
            raise
        return directory


def format_handler(fmt: str, manager: Any = None) -> Any:
    """The class that saves and loads whole models of format ``fmt``: a registered whole-model
    :class:`ModelFormat`, else the compressor of that name (compressed variants carry it)."""
    from autoglm_core.plugin.manager import get_manager

    manager = manager or get_manager()
    formats = manager.registry("model format")
    if fmt in formats and formats.get(fmt).whole_model:
        return formats.get(fmt)
    return manager.registry("compressor").get(fmt)


def _is_disk_full(exc: BaseException) -> bool:
    import errno

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        # the Rust libraries (safetensors, tokenizers) keep only the OS message
        if "No space left on device" in str(seen) or "os error 28" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _bytes_needed(model: Any, partial: Path) -> int:
    """The weights' size (what the save writes, within a few KiB of config), else what was written."""
    try:
        return int(sum(p.numel() * p.element_size() for p in model.state_dict().values()))
    except Exception:  # noqa: BLE001 - a model without torch tensors: measure the partial folder
        return sum(f.stat().st_size for f in partial.rglob("*") if f.is_file()) if partial.exists() else 0


def _disk_full_message(directory: Path, needed: int) -> str:
    import shutil

    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    folder = directory.with_name(directory.name.removesuffix(".partial"))
    return (f"cannot save the model in '{folder}': the disk is full ({_size(free)} free, about {_size(needed)} "
            f"needed for the model alone); free space or choose another --out folder. Finished stages are kept: "
            f"run again with --resume once there is room.")


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 ** 2:
        return f"{n / 1024:.1f} KiB"
    if n < 1024 ** 3:
        return f"{n / 1024 ** 2:.1f} MiB"
    return f"{n / 1024 ** 3:.1f} GiB"


def _module_device(model: Any) -> Any:
    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError):
        import torch

        return torch.device("cpu")


def read_model_meta(directory: str | Path) -> dict[str, Any] | None:
    path = Path(directory) / MODEL_META_FILE
    if not path.exists():
        return None
    meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return meta


# --------------------------------------------------------------------------- component kinds
# (the task type, the largest, has its own module: autoglm_core.plugin.task_type)


class ZeroShotScorer(Component):
    """Scores texts against label names without training."""

    kind = "zero-shot scorer"

    def predict_proba(self, built: BuiltModel, texts: Sequence[str], labels: Sequence[str], language: str) -> np.ndarray:
        raise NotImplementedError


class Evaluator(Component):
    """Extra evaluation of a built model; the returned numbers are merged into the variant's metrics
    (prefix them with the evaluator's name when they could clash)."""

    kind = "evaluator"

    def evaluate(self, built: BuiltModel, context: RunContext) -> dict[str, float]:
        raise NotImplementedError


@dataclass(frozen=True)
class Benchmark:
    """A folder of lm-eval task YAML files (and their data) that a plugin publishes."""

    name: str
    path: str
    description: str = ""
    tasks: tuple[str, ...] = ()


class Compressor(Component):
    """Turns a fine-tuned model into a smaller/faster variant. ``format`` of the returned model is
    the compressor's name when it needs custom save/load, ``"hf"`` otherwise."""

    kind = "compressor"

    def compress(self, built: BuiltModel, context: RunContext | None) -> BuiltModel:
        raise NotImplementedError

    def needs_training_data(self) -> bool:
        """Whether :meth:`compress` trains (``autoglm compress`` then holds out a test split and
        passes the rest as ``context.splits``)."""
        return False

    @classmethod
    def save(cls, built: BuiltModel, directory: Path) -> None:
        """Save a model whose ``format`` is this compressor's name (the metadata file is written
        by :meth:`BuiltModel.save`). A classmethod, like :meth:`load`: saving and loading need no
        options, only what the model's metadata records."""
        raise NotImplementedError(f"compressor {cls.name!r} does not save custom formats")

    @classmethod
    def load(cls, directory: Path, meta: dict[str, Any]) -> BuiltModel:
        """Load what :meth:`save` wrote, in a fresh process."""
        raise NotImplementedError(f"compressor {cls.name!r} does not load custom formats")


class ModelFormat(Component):
    """How a model's weights are stored on disk. ``load_weights`` receives a freshly built model of
    the right architecture (fp32, from the saved config) and returns it with the saved weights, in
    whatever form the format needs (an INT8 format returns the quantized module)."""

    kind = "model format"
    #: False for formats that are not torch weights (ONNX): ``load_model`` refuses them and
    #: ``Predictor.load`` runs them through :meth:`predictor_backend`
    torch_loadable: ClassVar[bool] = True
    #: True for formats that are no torch architecture at all (TF-IDF linear models, frozen-encoder
    #: heads, ensembles): they save and load the whole model themselves (:meth:`save`, :meth:`load`)
    #: instead of filling an architecture the task type rebuilt
    whole_model: ClassVar[bool] = False

    @classmethod
    def save(cls, built: BuiltModel, directory: Path) -> None:
        """Whole-model formats: write everything :meth:`load` needs (no pickle)."""
        raise NotImplementedError(f"model format {cls.name!r} does not save whole models")

    @classmethod
    def load(cls, directory: Path, meta: dict[str, Any]) -> BuiltModel:
        """Whole-model formats: rebuild the model from what :meth:`save` wrote, in a fresh process."""
        raise NotImplementedError(f"model format {cls.name!r} does not load whole models")

    @classmethod
    def load_weights(cls, model: Any, directory: Path, meta: dict[str, Any]) -> Any:
        raise NotImplementedError(f"model format {cls.name!r} cannot load weights")

    @classmethod
    def predictor_backend(cls, directory: Path, meta: dict[str, Any]) -> Any:
        """A Predictor backend (``predict_proba(texts, batch_size)``) for formats torch cannot
        load; ``None``: the model is loaded with ``load_model`` and run in torch."""
        return None


def load_weights(model: Any, directory: Path, meta: dict[str, Any], manager: Any = None) -> Any:
    """Load the weights saved in ``directory`` into ``model`` with the format ``meta`` names."""
    from autoglm_core.plugin.manager import get_manager
    from autoglm_core.types.errors import ModelLoadError

    fmt = meta.get("format", "hf")
    formats = (manager or get_manager()).registry("model format")
    if fmt not in formats:
        raise ModelLoadError(f"{directory} is saved in format {fmt!r}, which no installed plugin provides "
                             f"(formats: {', '.join(formats.names())}); e.g. install autoglm-plugin-{fmt}.")
    return formats.get(fmt).load_weights(model, Path(directory), meta)


class Attack(Component):
    """An adversarial attack. Returns metrics; ``accuracy_under_attack`` is expected, plus whatever
    else the attack measures (success rate, perturbed words, queries)."""

    kind = "attack"
    #: True when the attack only queries probabilities (applies to non-torch models too)
    black_box: ClassVar[bool] = False

    def attack(self, built: BuiltModel, examples: Sequence[Example], context: RunContext | None) -> dict[str, float]:
        raise NotImplementedError


class Defense(Component):
    """Makes a model more robust (adversarial training, input denoising, ...); returns a new model."""

    kind = "defense"

    def defend(self, built: BuiltModel, context: RunContext) -> BuiltModel:
        raise NotImplementedError

    @staticmethod
    def restore(built: BuiltModel) -> BuiltModel:
        """Re-attach an inference-time defense to a reloaded model (``load_model`` calls it for the
        defenses named in the model's metadata); training-time defenses need nothing."""
        return built


class Decoder(Component):
    """A decoding strategy for autoregressive models."""

    kind = "decoder"

    def decode(self, model: Any, input_ids: Any, attention_mask: Any = None, **kwargs: Any) -> Any:
        """Return the generated token ids (batch, prompt + new tokens)."""
        raise NotImplementedError

    def stream(self, model: Any, input_ids: Any, attention_mask: Any = None, **kwargs: Any) -> Iterator[Any]:
        """Yield new token ids step by step (batch of one)."""
        raise NotImplementedError


class DataLoader(Component):
    """Reads one file format into rows (see :mod:`autoglm_core.types.data`)."""

    kind = "data loader"
    suffixes: ClassVar[tuple[str, ...]] = ()

    def load(self, path: Path, *, text_column: str | None = None, label_column: str | None = None) -> Any:
        raise NotImplementedError
