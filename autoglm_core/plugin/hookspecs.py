"""Hook specifications: every extension point of Open-AutoGLM.

Plugins implement these with ``@autoglm_core.hookimpl`` (see ``docs/plugins.md``). The built-in
behaviour is registered through the very same hooks (``autoglm_core.builtin``), so anything the core
does a plugin can replace or extend.

Two kinds of hook:

* ``firstresult`` hooks (``autoglm_parse_task``, ``autoglm_build_model``): the first
  implementation that returns something other than ``None`` wins. Later-registered plugins run
  first, so a third-party parser overrides the built-in one by returning a value and defers to it
  by returning ``None``.
* ``autoglm_register_*`` hooks: each implementation receives a ``register`` callable and calls it
  once per component class. Components are small classes with a ``name``, a pydantic ``Options``
  model (``extra="forbid"``) and one method (see :mod:`autoglm_core.plugin.components`). Registering a name
  twice is an error that names both plugins; looking up an unknown name suggests close matches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover - typing only
    import argparse

    from autoglm_core.plugin.components import BuiltModel
    from autoglm_core.plugin.context import RunContext
    from autoglm_core.types.schemas import CandidateSpec, StageResult, TaskSpec

PROJECT = "autoglm"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[..., Any]


# --------------------------------------------------------------------------- parsing


@hookspec(firstresult=True)
def autoglm_parse_task(description: str, hints: dict[str, Any]) -> TaskSpec | None:
    """Turn a plain-language task description into a validated :class:`TaskSpec`.

    :param description: the user's description, English or Chinese, already checked to be
        non-empty text of reasonable length.
    :param hints: explicit values the user gave (``task_type``, ``labels``, ``language``,
        ``metric``, ``backbones``, ...). A parser must let hints win over what it parses and record
        a warning in ``TaskSpec.warnings`` when a hint contradicts the description.
    :return: a TaskSpec, or ``None`` to let the next parser try (the built-in rule parser is last).
    """


@hookspec(firstresult=True)
def autoglm_label_similarity(mentions: list[str], labels: list[str]) -> list[list[float]] | None:
    """How similar each label a description names is to each label of the data, across languages
    ("positive" and 正面): the data layer matches the two through this hook, since the encoder that
    knows lives above it. Used for the mentions that neither the same word nor the built-in
    bilingual table matched.

    :param mentions: labels named in the description that are not yet matched.
    :param labels: the data's labels that are not yet matched.
    :return: one row per mention, one cosine similarity in [-1, 1] per label; ``None`` to let the
        next implementation answer (the built-in one, registered last, embeds both with the
        parser's multilingual encoder and returns ``None`` without it).
    """


# --------------------------------------------------------------------------- models


@hookspec
def autoglm_generate_candidates(spec: TaskSpec) -> list[CandidateSpec]:
    """Propose candidate backbones for a task. Results of all implementations are concatenated,
    de-duplicated by backbone, and cut to ``spec.budget.max_candidates``.

    :param spec: the validated task specification (task type, language, labels, objectives,
        user-requested ``backbones``).
    :return: candidates, best first; an empty list when this generator has nothing for the task.
    """


@hookspec(firstresult=True)
def autoglm_build_model(candidate: CandidateSpec, spec: TaskSpec, context: RunContext) -> BuiltModel | None:
    """Build (instantiate or load) the model and its tokenizer/processor for a candidate.

    :param candidate: the candidate to build; ``candidate.builder`` says which builder is meant.
    :param spec: the task specification (labels give the classifier head size).
    :param context: the run context (training texts for builders that train a tokenizer, seed,
        device, run directory).
    :return: a :class:`~autoglm_core.plugin.components.BuiltModel`, or ``None`` if this builder does not
        handle ``candidate.builder``.
    """


@hookspec
def autoglm_register_task_types(register: Register) -> None:
    """Register task types (:class:`~autoglm_core.plugin.task_type.TaskType`): how data is loaded, how a
    candidate is scored zero-shot, trained and evaluated for ``text_classification``,
    ``text_generation``, ``image_classification``, ...

    :param register: call ``register(TaskTypeClass)`` once per task type.
    """


@hookspec
def autoglm_register_decoders(register: Register) -> None:
    """Register decoding strategies (:class:`~autoglm_core.plugin.components.Decoder`): greedy, beam,
    sampling, ...

    :param register: call ``register(DecoderClass)`` once per decoder.
    """


@hookspec
def autoglm_register_zero_shot(register: Register) -> None:
    """Register zero-shot scorers (:class:`~autoglm_core.plugin.components.ZeroShotScorer`) used for the
    baseline scored before any fine-tuning (label similarity, prompt log-likelihood, ...).

    :param register: call ``register(ScorerClass)`` once per scorer.
    """


# --------------------------------------------------------------------------- evaluation


@hookspec
def autoglm_register_evaluators(register: Register) -> None:
    """Register evaluators (:class:`~autoglm_core.plugin.components.Evaluator`): metrics, latency,
    benchmark harnesses such as lm-eval.

    :param register: call ``register(EvaluatorClass)`` once per evaluator.
    """


@hookspec
def autoglm_register_benchmarks(register: Register) -> None:
    """Register benchmark task folders (:class:`~autoglm_core.plugin.components.Benchmark`): a folder of
    lm-eval task YAML files plus the data they point to, run by a benchmark evaluator.

    :param register: call ``register(Benchmark(name=..., path=..., description=...))``.
    """


# --------------------------------------------------------------------------- compression, robustness


@hookspec
def autoglm_register_compressors(register: Register) -> None:
    """Register compressors (:class:`~autoglm_core.plugin.components.Compressor`): INT8 quantization,
    pruning, distillation, ...

    :param register: call ``register(CompressorClass)`` once per compressor.
    """


@hookspec(firstresult=True)
def autoglm_run_mode(task: Any, args: Any) -> int | None:
    """Run ``autoglm run`` in a plugin's own mode instead of the stage pipeline (the transfer plugin
    runs cross-lingual transfer when the config has a ``transfer:`` section).

    :param task: the parsed :class:`~autoglm_core.engine.task.AutoTask` (spec, config, output folder).
    :param args: the ``autoglm run`` command-line arguments (``--resume``, ``--overwrite``, ...).
    :return: the command's exit code, or ``None`` to let the pipeline run.
    """


@hookspec
def autoglm_register_model_formats(register: Register) -> None:
    """Register model formats (:class:`~autoglm_core.plugin.components.ModelFormat`): how the weights
    of a saved variant are stored (``hf`` safetensors, ``int8``, ...). A task type rebuilds its
    architecture from the saved config and asks the format named in ``autoglm_model.json`` to load
    the weights into it, so every task type reloads every format without knowing it.

    :param register: call ``register(ModelFormatClass)`` once per format.
    """


@hookspec
def autoglm_register_attacks(register: Register) -> None:
    """Register adversarial attacks (:class:`~autoglm_core.plugin.components.Attack`): FGSM, TextAttack
    recipes, ...

    :param register: call ``register(AttackClass)`` once per attack.
    """


@hookspec
def autoglm_register_defenses(register: Register) -> None:
    """Register defenses (:class:`~autoglm_core.plugin.components.Defense`): adversarial training, input
    denoising, ...

    :param register: call ``register(DefenseClass)`` once per defense.
    """


# --------------------------------------------------------------------------- data


@hookspec
def autoglm_register_data_loaders(register: Register) -> None:
    """Register data loaders (:class:`~autoglm_core.plugin.components.DataLoader`) for file formats
    (csv, tsv, jsonl, Financial PhraseBank, image folders, ...) and converters.

    :param register: call ``register(LoaderClass)`` once per loader.
    """


# --------------------------------------------------------------------------- experiment trackers


@hookspec
def autoglm_register_trackers(register: Register) -> None:
    """Register experiment trackers (:class:`~autoglm_core.plugin.tracker.Tracker`): MLflow, TensorBoard,
    ... A tracker is used only when a run enables it (``--track NAME``, ``track: [NAME]``,
    ``AUTOGLM_TRACK``); import its library inside its methods, never at module import.

    :param register: call ``register(TrackerClass)`` once per tracker.
    """


# --------------------------------------------------------------------------- search


@hookspec
def autoglm_register_search_backends(register: Register) -> None:
    """Register search backends (:class:`~autoglm_core.training.search_backends.SearchBackend`): what
    runs the trials of a ``search:`` (built-in ``optuna``; the Ray plugin's ``ray``). A run uses the one
    named by ``search.backend`` (``--search-backend NAME``); its trials go into the run's Optuna study,
    from which the core picks the best trial and writes the report.

    :param register: call ``register(SearchBackendClass)`` once per backend.
    """


# --------------------------------------------------------------------------- CLI and events


@hookspec
def autoglm_add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add sub-commands to the ``autoglm`` CLI (``autoglm serve``, ``autoglm monitor``, ...).

    Keep this cheap: import heavy libraries inside the command's handler, not here, so that
    ``autoglm --help`` stays fast.

    :param subparsers: the argparse sub-parsers object; call ``subparsers.add_parser(...)`` and
        ``set_defaults(handler=callable)``; the handler receives the parsed ``argparse.Namespace``
        and returns the exit code.
    """


@hookspec
def autoglm_stage_started(run_dir: str, stage: str, candidate: str | None) -> None:
    """Called before a pipeline stage runs (trackers, progress UIs).

    :param run_dir: the run directory.
    :param stage: the stage name (``zero_shot``, ``train``, ``evaluate``, ``compress``, ...).
    :param candidate: the candidate the stage works on, or ``None`` for run-level stages.
    """


@hookspec
def autoglm_stage_finished(run_dir: str, stage: str, result: StageResult) -> None:
    """Called after a stage's result has been written to the run directory (trackers, reports).

    :param run_dir: the run directory.
    :param stage: the stage name.
    :param result: the stage's result, as written to ``stages/<key>.json``.
    """


#: hook name -> registry kind, for the ``autoglm_register_*`` hooks
REGISTRY_HOOKS: dict[str, str] = {
    "autoglm_register_task_types": "task type",
    "autoglm_register_decoders": "decoder",
    "autoglm_register_zero_shot": "zero-shot scorer",
    "autoglm_register_evaluators": "evaluator",
    "autoglm_register_benchmarks": "benchmark",
    "autoglm_register_compressors": "compressor",
    "autoglm_register_model_formats": "model format",
    "autoglm_register_attacks": "attack",
    "autoglm_register_defenses": "defense",
    "autoglm_register_data_loaders": "data loader",
    "autoglm_register_trackers": "tracker",
    "autoglm_register_search_backends": "search backend",
}


def hook_names() -> list[str]:
    """The names of every hook declared here (for did-you-mean on misspelt hook implementations)."""
    return sorted(n for n, f in globals().items() if n.startswith(f"{PROJECT}_") and callable(f))
