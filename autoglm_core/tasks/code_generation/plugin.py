"""The ``code_generation`` task type: a causal LM trained on a code corpus (the causal-LM behaviour it
shares with text generation is :class:`autoglm_core.training.causal_lm_task.CausalLMTask`), plus the
syntax validity of sampled completions."""

from __future__ import annotations

from typing import Any, ClassVar

from autoglm_core.engine.build import build_model
from autoglm_core.engine.measure import evaluate_variant
from autoglm_core.plugin.components import BuiltModel
from autoglm_core.plugin.context import RunContext
from autoglm_core.plugin.hookspecs import hookimpl
from autoglm_core.training.causal_lm_task import CausalLMTask
from autoglm_core.types.schemas import CandidateSpec, VariantResult
from autoglm_core.types.task_info import Metric, ParseRule


class CodeGeneration(CausalLMTask):
    name = "code_generation"
    description = "generate source code with a causal LM (perplexity on the code corpus, syntax validity of completions)"
    # pass@k comes from the HumanEval evaluator, not from every run: perplexity stays the default
    metrics = (*CausalLMTask.metrics, Metric("pass@1", description="share of problems solved by one sample"))
    # pass@1 is scored on HumanEval's problems, a benchmark with no held-out part: selection reads
    # val_perplexity on the corpus's validation documents instead, and a plan with a choice of models
    # refuses pass@1 as its primary metric
    benchmark_metrics = ("pass@1",)
    parse_rules = (ParseRule(r"\b(code|coding|python|function|program|programs|snippet|sql)\b|代码|编程|函数|程序",
                             0.85, priority=30),)
    parse_prototypes: ClassVar[tuple[str, ...]] = (
        "implement a Go function that matches its doc comment",
        "fill in the missing lines of a half-written program",
        "produce database queries from business questions",
        "write a shell script that renames files",
        "按照接口文档实现Java类",
        "根据表结构写查询语句",
        "帮程序员补全下一行代码",
    )

    def build_candidate(self, context: RunContext, candidate: CandidateSpec) -> BuiltModel:
        return build_model(context, candidate)

    def measure(self, context: RunContext, built: BuiltModel, variant: str) -> VariantResult:
        return evaluate_variant(context, self, built, variant)

    def extra_metrics(self, built: BuiltModel, completions: list[str], prompts: list[str]) -> dict[str, float]:
        from autoglm_core.tasks.code_generation.assistant import syntax_error, truncate_completion

        if not completions:
            return {}
        ok = sum(syntax_error(p + truncate_completion(c)) is None for p, c in zip(prompts, completions, strict=True))
        return {"syntax_ok_rate": ok / len(completions)}


@hookimpl
def autoglm_register_task_types(register: Any) -> None:
    register(CodeGeneration)
