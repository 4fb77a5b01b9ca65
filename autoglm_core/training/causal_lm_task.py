"""What the causal-LM task types share (``text_generation``, and ``code_generation`` which adds a
syntax metric): causal-LM candidates, a text corpus split into documents, fine-tuning (full or LoRA),
perplexity evaluation with a few sampled completions, the model card and reloading.

The engine builds candidates (plugins' builders first) and measures variants; it sits above this
layer, so the task types pass those two steps in (:meth:`CausalLMTask.build_candidate`,
:meth:`CausalLMTask.measure`).
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Any, ClassVar

from autoglm_core.models.causal_lm import build_causal_lm, lm_candidates, load_causal_lm
from autoglm_core.plugin.components import BuiltModel
from autoglm_core.plugin.context import RunContext
from autoglm_core.plugin.task_type import TaskType
from autoglm_core.training.causal_lm import lm_batches, negative_log_likelihood, train_causal_lm
from autoglm_core.types.data import DataSplits, Example
from autoglm_core.types.errors import AutoGLMError, DataError
from autoglm_core.types.schemas import CandidateSpec, DataSummary, TaskSpec, TrainConfig, VariantResult
from autoglm_core.types.task_info import Metric


def split_corpus(examples: list[Example], train: float, validation: float, seed: int) -> tuple[list, list, list]:
    docs = list(examples)
    random.Random(seed).shuffle(docs)
    n = len(docs)
    n_test = max(1, round(n * (1 - train - validation))) if n >= 3 else 0
    n_val = max(1, round(n * validation)) if n >= 3 and validation > 0 else 0
    test, val, tr = docs[:n_test], docs[n_test : n_test + n_val], docs[n_test + n_val :]
    return tr, val, test


class CausalLMTask(TaskType):
    """A causal-LM task type without its name, description and parse rules."""

    metrics: ClassVar[tuple[Metric, ...]] = (Metric("perplexity", higher_is_better=False, description="exp(mean token NLL) on the test split"),)
    has_labels = False
    #: val_perplexity on the validation documents (a split of the corpus, as the test split is)
    reports_held_out = True
    single_process_reason = None  # trained through CAUSAL_LM_RECIPE

    def candidates(self, spec: TaskSpec) -> list[CandidateSpec]:
        return lm_candidates(spec)

    def build(self, candidate: CandidateSpec, context: RunContext) -> BuiltModel | None:
        return build_causal_lm(candidate, context.spec, context)

    #: prompts from test documents completed during evaluation (tokens/s, and syntax for code)
    sample_prompts = 4

    def load_data(self, context: RunContext) -> DataSplits:
        from autoglm_core.data.language import detect_language
        from autoglm_core.data.load import load_file

        ref = context.spec.data
        if ref is None:
            raise DataError("no data given: pass a text corpus (a .txt file with format 'text', or csv/jsonl with a text column).")
        parts: dict[str, list[Example]] = {}
        files, issues, rows = [], [], 0
        for name in ("path", "train", "validation", "test"):
            p = getattr(ref, name)
            if p:
                loaded = load_file(p, ref, context.manager, require_label=False)
                files.append(p)
                issues += loaded.issues
                rows += loaded.rows_read
                parts[name] = loaded.examples
        split = context.config.split
        if "path" in parts:
            train, val, test = split_corpus(parts["path"], split.train, split.validation, context.seed)
        else:
            train = parts["train"]
            val, test = parts.get("validation"), parts.get("test")
            if val is None or test is None:
                tr, va, te = split_corpus(train, split.train, split.validation, context.seed)
                train, val, test = tr, (val if val is not None else va), (test if test is not None else te)
        if not train or not test:
            raise DataError(f"{', '.join(files)}: need at least 3 documents (lines) to make train and test splits; "
                            f"got train={len(train)}, test={len(test)}.")
        all_docs = train + val + test
        summary = DataSummary(files=files, rows_read=rows, rows_used=len(all_docs), rows_skipped=len(issues),
                              skipped=issues[:100], label_counts={},
                              split_sizes={"train": len(train), "validation": len(val), "test": len(test)},
                              language=detect_language(ex.text for ex in all_docs[:2000]), text_column=None)
        return DataSplits(train, val, test, [], summary)

    def build_candidate(self, context: RunContext, candidate: CandidateSpec) -> BuiltModel:
        """The candidate's model as the engine builds it (plugins' builders first)."""
        raise NotImplementedError

    def measure(self, context: RunContext, built: BuiltModel, variant: str) -> VariantResult:
        """``evaluate`` plus the engine's task-agnostic measurements (parameters, latency, evaluators)."""
        raise NotImplementedError

    def zero_shot(self, context: RunContext, candidate: CandidateSpec) -> VariantResult | None:
        if candidate.builder == "tiny-gpt2":
            return None  # a random model: its perplexity is just the vocabulary size
        return self.measure(context, self.build_candidate(context, candidate), "zero-shot")

    def fit(self, context: RunContext, candidate: CandidateSpec, config: TrainConfig, *, on_epoch: Any = None,
            desc: str = "train") -> tuple[BuiltModel, Any]:
        built = self.build_candidate(context, candidate)
        built.model, result = train_causal_lm(built.model, built.tokenizer, [ex.text for ex in context.splits.train],
                                              [ex.text for ex in context.splits.validation], config, seed=context.seed,
                                              device=context.device, on_epoch=on_epoch, progress=context.progress,
                                              desc=desc)
        return built, result

    def train(self, context: Any, candidate: CandidateSpec) -> BuiltModel:
        cfg = context.train_config(candidate)
        built, result = self.fit(context, candidate, cfg, desc=f"train {candidate.name}")
        built.variant = "fine-tuned"
        built.meta = {**result.meta(), "train_config": cfg.model_dump(mode="json")}
        return built

    def extra_metrics(self, built: BuiltModel, completions: list[str], prompts: list[str]) -> dict[str, float]:
        return {}

    @classmethod
    def load_model(cls, directory: Path, meta: dict[str, Any], *, allow_pickle: bool = False,
                   trust_remote_code: bool = False, **_: Any) -> BuiltModel:
        """Reload a saved causal LM (the runner's resume and ``autoglm_core.load_model`` use this)."""
        model, tokenizer = load_causal_lm(str(directory), trust_remote_code, allow_pickle)
        cand = meta.get("candidate")
        return BuiltModel(model=model, tokenizer=tokenizer, labels=[], task_type=meta.get("task_type", cls.name),
                          candidate=CandidateSpec.model_validate(cand) if cand else None,
                          variant=meta.get("variant", "fine-tuned"), meta=meta.get("meta", {}))

    def evaluate(self, context: RunContext, built: BuiltModel, variant: str, model_dir: Path | None = None) -> VariantResult:
        max_length = context.train_config(built.candidate).max_length if built.candidate else 128
        test = [ex.text for ex in context.splits.test]
        nll, n = negative_log_likelihood(built.model, lm_batches(built.tokenizer, test, max_length, 8, False))
        if n == 0:
            raise DataError("the test split has no text of two or more tokens: perplexity is undefined.")
        metrics: dict[str, float] = {"perplexity": math.exp(nll / n), "loss": nll / n, "test_tokens": float(n)}
        metrics.update(self._held_out(context, built, variant, max_length))
        prompts, completions, tps = self._sample(built, test)
        if tps is not None:
            metrics["generate_tokens_per_s"] = tps
        metrics.update(self.extra_metrics(built, completions, prompts))
        cand = built.candidate or CandidateSpec(name="model", backbone="unknown")
        return VariantResult(candidate=cand.name, variant=variant, backbone=cand.backbone, metrics=metrics,
                             notes=[f"perplexity over {n} test tokens"])

    def _held_out(self, context: RunContext, built: BuiltModel, variant: str, max_length: int) -> dict[str, float]:
        """``val_perplexity`` on the validation documents, the number selection reads."""
        from autoglm_core.training.held_out import held_out_scores

        val = [ex.text for ex in context.splits.validation]

        def score() -> dict[str, float]:
            nll, n = negative_log_likelihood(built.model, lm_batches(built.tokenizer, val, max_length, 8, False))
            # no text of two or more tokens: no held-out perplexity (selection among several models says so)
            return {"perplexity": math.exp(nll / n)} if n else {}

        return held_out_scores(built, variant, ["perplexity"], val, score)

    card_pipeline_tag = "text-generation"

    def model_card_sections(self, context: RunContext, best: VariantResult, model_dir: Path) -> list[str]:
        """Perplexity on the test split and one greedy completion of a test document by this model."""
        from autoglm_core.models.loading import load_model

        m = best.metrics
        ppl = f"Perplexity on the test split: {m['perplexity']:.2f}" if "perplexity" in m else "Perplexity: -"
        tokens = f" over {int(m['test_tokens'])} tokens" if "test_tokens" in m else ""
        parts = [f"{ppl}{tokens} (exp of the mean token negative log-likelihood; lower is better).\n"]
        test = [ex.text for ex in (context.splits.test if context.splits else [])]
        if test:
            try:
                prompts, completions, _ = self._sample(load_model(model_dir), test[:1])
            except AutoGLMError as exc:  # a variant that cannot reload here still gets its card
                prompts, completions = [], []
                parts.append(f"(no sample: {exc})\n")
            if prompts:
                parts.append(f"Sample (greedy decoding of the first half of a test document):\n\n"
                             f"> **prompt:** {_quote(prompts[0])}\n>\n> **completion:** {_quote(completions[0])}\n")
        return parts

    def _sample(self, built: BuiltModel, test: list[str]) -> tuple[list[str], list[str], float | None]:
        """Greedy completions of the first half of a few test documents (throughput, syntax)."""
        from autoglm_core.models.decoding.stepper import context_length
        from autoglm_core.models.decoding.text import generate_text

        prompts = []
        for t in test[: self.sample_prompts]:
            ids = built.tokenizer(t, add_special_tokens=False)["input_ids"]
            if len(ids) >= 2:
                prompts.append(built.tokenizer.decode(ids[: max(1, min(len(ids) // 2, 64))]))
        if not prompts:
            return [], [], None
        limit = context_length(built.model) or 10**9
        new = max(1, min(32, limit - 70))
        start = time.perf_counter()
        completions = generate_text(built.model, built.tokenizer, prompts, "greedy", max_new_tokens=new)
        elapsed = time.perf_counter() - start
        return prompts, completions, round(len(prompts) * new / elapsed, 2) if elapsed > 0 else None


def _quote(text: str) -> str:
    return " ".join(text.split())[:300] or "(empty)"
