"""Run lm-eval (``lm_eval.simple_evaluate`` with ``model="hf"``) on a local model directory, offline.

What this adds to calling lm-eval directly, and nothing more (so the numbers are lm-eval's):

* checks before loading: the directory exists, has safetensors weights, holds a language model
  (not a classifier, which lm-eval would silently load with a random LM head), and its tokenizer
  has an EOS token (lm-eval needs one; we borrow an existing special token and say so);
* plugin benchmark folders on lm-eval's task path, and lm-eval's own ~15k task index built only when
  a requested name needs it;
* lm-eval's response cache keyed by the model's files, in our cache directory;
* clear errors for unknown tasks and for task data that is missing offline.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoglm_core import AutoGLMError, ConfigError, DataError, ModelLoadError

from .benchmarks import TaskCatalog, data_files_of, select_tasks
from .paths import cache_root

log = logging.getLogger(__name__)

#: architectures lm-eval's "hf" model can score: decoder LMs and encoder-decoder generators
LM_ARCH_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration", "Seq2SeqLM")
#: special tokens that may stand in for a missing EOS, in order of preference
EOS_STANDINS = ("sep_token", "pad_token", "bos_token", "cls_token", "unk_token")


@dataclass
class LmEvalResult:
    raw: dict[str, Any]  # what lm_eval.simple_evaluate returned
    tasks: list[str]  # the task specs handed to lm-eval
    notes: list[str] = field(default_factory=list)  # fix-ups we made (EOS token, ...)

    def table(self) -> list[dict[str, Any]]:
        return results_table(self.raw)

    def metrics(self, prefix: str = "lm-eval") -> dict[str, float]:
        return flatten_metrics(self.raw, prefix)


# --------------------------------------------------------------------------- results


def results_table(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows ``{task, metric, filter, value, stderr}`` from lm-eval's ``results`` section.
    ``metric`` is lm-eval's metric name, followed by ``/<filter>`` when the filter is not "none"."""
    rows = []
    for task, values in (raw.get("results") or {}).items():
        for key, value in values.items():
            if "," not in key or "_stderr," in key:
                continue
            metric, filt = key.split(",", 1)
            stderr = values.get(f"{metric}_stderr,{filt}")
            rows.append({
                "task": task,
                "metric": metric if filt == "none" else f"{metric}/{filt}",
                "filter": filt,
                "value": _num(value),
                "stderr": _num(stderr),
            })
    return rows


def flatten_metrics(raw: dict[str, Any], prefix: str = "lm-eval") -> dict[str, float]:
    """``{"lm-eval:<task>:<metric>": value, "lm-eval:<task>:<metric>:stderr": stderr}``; values lm-eval
    reports as "N/A" are left out."""
    out: dict[str, float] = {}
    for row in results_table(raw):
        key = f"{prefix}:{row['task']}:{row['metric']}"
        if row["value"] is not None:
            out[key] = row["value"]
        if row["stderr"] is not None:
            out[key + ":stderr"] = row["stderr"]
    return out


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None  # "N/A"


# --------------------------------------------------------------------------- model checks


def check_model_dir(directory: Path) -> dict[str, Any]:
    """Refuse what lm-eval cannot score meaningfully; return the model's config.json."""
    from autoglm_core import check_weights, read_model_meta

    if not directory.exists():
        raise ModelLoadError(f"model directory {str(directory)!r} does not exist.")
    if not directory.is_dir():
        raise ModelLoadError(f"{str(directory)!r} is a file; give the model's directory (with config.json).")
    cfg_path = directory / "config.json"
    if not cfg_path.exists():
        raise ModelLoadError(f"{directory} has no config.json: it is not a Hugging Face model directory.")
    if not check_weights(directory, allow_pickle=False):
        raise ModelLoadError(f"{directory} has no *.safetensors weights; lm-eval needs a saved model there.")
    config = json.loads(cfg_path.read_text(encoding="utf-8"))
    meta = read_model_meta(directory) or {}
    archs = list(config.get("architectures") or [])
    is_lm = any(a.endswith(LM_ARCH_SUFFIXES) for a in archs) if archs else True
    task_type = meta.get("task_type")
    if not is_lm or _is_classifier_task(task_type):
        what = ", ".join(archs) or f"a {task_type} model"
        raise ModelLoadError(
            f"{directory} holds {what}, not a causal (or seq2seq) language model. lm-eval tasks, "
            f"generation (generate_until) and log-likelihood alike, score next-token predictions; "
            f"lm-eval would load this checkpoint with a new, randomly initialised LM head and report "
            f"meaningless numbers. Evaluate a *ForCausalLM / *LMHeadModel checkpoint (e.g. a "
            f"text_generation run's model), or evaluate the classifier with `autoglm predict`/the "
            f"pipeline's own metrics."
        )
    return config


def _special_tokens(directory: Path) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        p = directory / name
        if p.exists():
            try:
                data = json.loads(p.read_text(encoding="utf-8"))
            except ValueError:
                continue
            for k, v in data.items():
                if k.endswith("_token") and v:
                    found.setdefault(k, v)
    return found


def ensure_eos(directory: Path, cache: Path) -> tuple[str | None, list[str]]:
    """lm-eval uses the EOS token as the prefix of empty contexts and as the stop sequence of
    generation; without one it fails deep inside. If the tokenizer has none, save a copy whose EOS
    is an existing special token and return its directory (else None) plus a note saying so."""
    if _special_tokens(directory).get("eos_token"):
        return None, []
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(directory)
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"{directory}: cannot load the tokenizer: {e}") from None
    if tok.eos_token is not None:
        return None, []
    standin = next((a for a in EOS_STANDINS if getattr(tok, a, None) is not None), None)
    if standin is None:
        raise ModelLoadError(
            f"the tokenizer in {directory} has no EOS token and no other special token to stand in "
            f"for it. lm-eval needs an EOS token (it prefixes empty contexts with it and stops "
            f"generation on it). Add one, e.g. tokenizer.add_special_tokens({{'eos_token': '</s>'}}) "
            f"and model.resize_token_embeddings(len(tokenizer)), then save the model again."
        )
    token = getattr(tok, standin)
    tok.eos_token = token
    key = hashlib.sha256(model_key(directory).encode()).hexdigest()[:16]
    fixed = cache / "tokenizers" / key
    tok.save_pretrained(fixed)
    note = (f"the tokenizer in {directory} has no EOS token; lm-eval uses its {standin} {token!r} as EOS "
            f"(a fixed copy is in {fixed}). Set an EOS token on the tokenizer to silence this.")
    warnings.warn(note, UserWarning, stacklevel=3)
    return str(fixed), [note]


def model_key(directory: Path) -> str:
    """Identity of a model directory for caches: its path plus every file's size and mtime."""
    parts = [str(directory.resolve())]
    for p in sorted(directory.iterdir()):
        if p.is_file():
            st = p.stat()
            parts.append(f"{p.name}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


# --------------------------------------------------------------------------- data errors


def _missing_data_error(catalog: TaskCatalog, specs: list[str], exc: BaseException) -> AutoGLMError | None:
    """Turn a dataset failure into an error that names the task and the file it wanted."""
    from lm_eval.tasks._yaml_loader import load_yaml

    index = catalog.manager.task_index
    leaves: list[str] = []
    seen: set[str] = set()
    todo = list(specs)
    while todo:
        name = todo.pop(0)
        entry = index.get(name)
        if entry is None or name in seen:
            continue
        seen.add(name)
        if entry.kind.name == "TAG":  # a tag's Entry.tags are its member tasks
            todo.extend(sorted(entry.tags))
            continue
        leaves.append(name)
    problems = []
    for name in leaves:
        entry = index[name]
        if entry.yaml_path is None:
            continue
        try:
            cfg = load_yaml(entry.yaml_path, resolve_func=False)
        except Exception:
            continue
        if isinstance(cfg.get("task"), list):  # a group: look at its members too
            for member in cfg["task"]:
                m = member if isinstance(member, str) else member.get("task") if isinstance(member, dict) else None
                if isinstance(m, str) and m in index and m not in seen:
                    seen.add(m)
                    leaves.append(m)
            continue
        files = data_files_of(cfg)
        flat = [files] if isinstance(files, str) else (
            [x for v in (files.values() if isinstance(files, dict) else files) for x in ([v] if isinstance(v, str) else v)]
            if files else [])
        missing = [f for f in flat if "://" not in f and not Path(f).exists()]
        if missing:
            problems.append(f"task {name!r} ({entry.yaml_path}) wants data file(s) "
                            f"{', '.join(repr(m) for m in missing)}, which do not exist")
        elif not files and cfg.get("dataset_path") and not Path(str(cfg["dataset_path"])).exists():
            problems.append(f"task {name!r} ({entry.yaml_path}) wants dataset {cfg['dataset_path']!r}"
                            f"{' (' + str(cfg.get('dataset_name')) + ')' if cfg.get('dataset_name') else ''} "
                            f"from the Hugging Face Hub")
    if problems:
        return DataError(
            "lm-eval cannot load task data offline: " + "; ".join(problems) + ". Downloads are off "
            "(HF_DATASETS_OFFLINE=1): put the files in place, or copy the dataset into the local "
            f"Hugging Face datasets cache first. ({type(exc).__name__}: {_first_line(exc)})"
        )
    if isinstance(exc, FileNotFoundError) or type(exc).__module__.startswith(("datasets", "huggingface_hub")):
        return DataError(f"lm-eval cannot load the data of {', '.join(specs)} offline: "
                         f"{type(exc).__name__}: {_first_line(exc)}")
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------------- running


@contextlib.contextmanager
def _requests_cache_at(path: Path) -> Iterator[None]:
    """lm-eval reads LM_HARNESS_CACHE_PATH once at import; point its module global at our cache."""
    from lm_eval.caching import cache as lm_cache

    old = lm_cache.PATH
    path.mkdir(parents=True, exist_ok=True)
    lm_cache.PATH = str(path)
    try:
        yield
    finally:
        lm_cache.PATH = old


def run_lm_eval(model_dir: str | Path, tasks: list[str], *, batch_size: int | str = 1,
                limit: int | float | None = None, num_fewshot: int | None = None, use_cache: bool = False,
                cache_dir: str | Path | None = None, device: str | None = None,
                bootstrap_iters: int = 100000, manager: Any = None) -> LmEvalResult:
    """Run lm-eval tasks (names of lm-eval tasks/groups/tags or plugin benchmarks) on a local model."""
    directory = Path(model_dir).expanduser()
    check_model_dir(directory)
    cache = cache_root(cache_dir)
    tokenizer_dir, notes = ensure_eos(directory, cache)
    model_args: dict[str, Any] = {"pretrained": str(directory), "trust_remote_code": False}
    if tokenizer_dir:
        model_args["tokenizer"] = tokenizer_dir
    # simple_evaluate hands model_args to the TaskManager it builds as metadata; so do we
    catalog, specs = select_tasks(list(tasks), metadata=dict(model_args), manager=manager, root=cache)

    import lm_eval
    import torch

    # lm-eval's HF model defaults to "cuda" even where torch has no CUDA
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    kwargs: dict[str, Any] = {}
    stack = contextlib.ExitStack()
    if use_cache:
        key = hashlib.sha256(model_key(directory).encode()).hexdigest()[:16]
        (cache / "responses").mkdir(parents=True, exist_ok=True)
        kwargs.update(use_cache=str(cache / "responses" / key), cache_requests=True)
        stack.enter_context(_requests_cache_at(cache / "requests"))
    with stack:
        try:
            raw = lm_eval.simple_evaluate(
                model="hf", model_args=model_args, tasks=specs, task_manager=catalog.manager,
                batch_size=batch_size, limit=limit, num_fewshot=num_fewshot, device=device,
                bootstrap_iters=bootstrap_iters, log_samples=False, **kwargs,
            )
        except AutoGLMError:
            raise
        except Exception as exc:
            err = _missing_data_error(catalog, specs, exc)
            if err is not None:
                raise err from exc
            if isinstance(exc, (KeyError, ValueError)) and "not a registered task" in str(exc):
                raise ConfigError(f"lm-eval rejected the task list {specs}: {_first_line(exc)}") from exc
            raise
    if raw is None:  # only on non-zero ranks of a distributed run
        raw = {}
    return LmEvalResult(raw=raw, tasks=specs, notes=notes)


def _is_classifier_task(task_type: str | None) -> bool:
    """A task type with classes (its models have a classification head, not an LM head)."""
    if not task_type:
        return False
    from autoglm_core import get_manager

    registry = get_manager().registry("task type")
    return task_type in registry and bool(registry.get(task_type).has_labels)
