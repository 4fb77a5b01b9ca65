"""The ``token_classification`` task type (named-entity recognition): data, the shared training
loop, entity-level evaluation, saving and loading."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

from autoglm_core.plugin.components import BuiltModel
from autoglm_core.plugin.task_type import TaskType
from autoglm_core.tasks.token_classification.data import read_ner_file, tag_set, to_examples
from autoglm_core.tasks.token_classification.metrics import entity_scores, spans
from autoglm_core.tasks.token_classification.model import (
    IGNORE,
    TokenBuiltModel,
    as_token_built,
)
from autoglm_core.types.data import DataSplits, Example
from autoglm_core.types.errors import ConfigError, DataError
from autoglm_core.types.schemas import CandidateSpec, DataSummary, TaskSpec, TrainConfig, VariantResult
from autoglm_core.types.task_info import Metric, ParseRule

TASK = "token_classification"


def _read(path: str, notes: list[str]) -> list[Example]:
    f = read_ner_file(path)
    notes += f.warnings
    return to_examples(f)


def split_sentences(examples: list[Example], train: float, validation: float, seed: int) -> tuple[list, list, list]:
    docs = list(examples)
    random.Random(seed).shuffle(docs)
    n = len(docs)
    n_test = max(1, round(n * (1 - train - validation))) if n >= 3 else 0
    n_val = max(1, round(n * validation)) if n >= 3 and validation > 0 else 0
    return docs[n_test + n_val :], docs[n_test : n_test + n_val], docs[:n_test]


def _tokens(examples: list[Example]) -> list[list[str]]:
    return [ex.meta["tokens"] for ex in examples]


def _tags(examples: list[Example]) -> list[list[str]]:
    return [ex.meta["tags"] for ex in examples]


class TokenClassification(TaskType):
    name = TASK
    description = "tag the words of a sentence (named entities: persons, organisations, locations, ...)"
    train_metric = "f1"
    single_process_reason = None  # trained through its recipe (recipe.py)
    metrics = (Metric("f1", description="entity-level micro F1 (seqeval)"), Metric("precision"), Metric("recall"),
               Metric("token_accuracy"))
    reports_held_out = True  # val_* on the validation split (the loop's scores of the kept epoch when it can)
    # tried before the classification rules (priority 90): "recognise names" is not a text label
    parse_rules = (
        ParseRule(r"\b(named[- ]entit\w*|ner|entity recognition|entity extraction|extract entities|token "
                  r"classification|sequence labell?ing|(person|people|organi[sz]ation|location|place)s?\b.{0,40}"
                  r"\bnames?)\b", 0.9, priority=40),
        ParseRule(r"命名实体|实体识别|实体抽取|序列标注|(人名|地名|机构名|组织名).{0,10}(人名|地名|机构名|组织名)", 0.9,
                  priority=40),
    )
    parse_prototypes = (
        "locate gene and protein names in biology papers",
        "label each token of a search query as brand, model or other",
        "mark which words in a sentence are time expressions",
        "highlight the ingredient names in a recipe",
        "标出微博中提到的明星和电影名",
        "给句子里的每个词标注词性",
        "从快递单文本中抽取收件人姓名和电话",
    )
    #: INT8 dynamic quantization is measured on sequence classifiers; not run unless asked for
    default_compress = ()

    # ------------------------------------------------------------------ planning
    def candidates(self, spec: TaskSpec) -> list[CandidateSpec]:
        from autoglm_core.tasks.token_classification.candidates import default_candidates

        return default_candidates(spec)

    def build(self, candidate: CandidateSpec, context: Any) -> BuiltModel | None:
        from autoglm_core.tasks.token_classification.candidates import build_candidate

        return build_candidate(candidate, context, self.name)

    def accept_parsed_labels(self, labels: list[str]) -> bool:
        return False  # entity types come from the data's tags, not from the description

    # ------------------------------------------------------------------ data
    def load_data(self, context: Any) -> DataSplits:
        from autoglm_core.data.language import detect_language

        ref = context.spec.data
        if ref is None:
            raise DataError("no data given: pass a CoNLL file (one 'token TAG' per line, a blank line between "
                            "sentences) or a JSONL file with tokens/tags (CLI: --data FILE).")
        notes: list[str] = []
        files = [p for p in (ref.path, ref.train, ref.validation, ref.test) if p]
        split = context.config.split
        if ref.path:
            train, val, test = split_sentences(_read(ref.path, notes), split.train, split.validation, context.seed)
        else:
            train = _read(ref.train, notes)
            val = _read(ref.validation, notes) if ref.validation else None
            test = _read(ref.test, notes) if ref.test else None
            if val is None or test is None:
                tr, va, te = split_sentences(train, split.train, split.validation, context.seed)
                train, val, test = tr, (val if val is not None else va), (test if test is not None else te)
        if not train or not test:
            raise DataError(f"{', '.join(files)}: need at least 3 sentences for train and test splits; "
                            f"got train={len(train)}, test={len(test)}.")
        everything = train + val + test
        labels = tag_set(everything)
        if len(labels) == 1:
            raise DataError(f"{', '.join(files)}: every tag is O: there is no entity to learn.")
        if context.spec.labels:
            notes.append(f"labels {context.spec.labels} from the description are not used: the entity types come "
                         f"from the data ({', '.join(sorted({lab[2:] for lab in labels if lab != 'O'}))}).")
        counts = Counter(typ for ex in everything for typ, _, _ in spans(ex.meta["tags"]))
        summary = DataSummary(
            files=files, rows_read=len(everything), rows_used=len(everything), rows_skipped=0,
            label_counts={k: counts[k] for k in sorted(counts)},
            split_sizes={"train": len(train), "validation": len(val), "test": len(test)},
            language=detect_language(ex.text for ex in everything[:2000]))
        return DataSplits(train, val, test, labels, summary, notes=notes)

    # ------------------------------------------------------------------ training
    def fit(self, context: Any, candidate: CandidateSpec, config: TrainConfig, *, on_epoch: Any = None,
            desc: str = "train") -> tuple[BuiltModel, Any]:
        from autoglm_core.tasks.token_classification.recipe import RECIPE, payload
        from autoglm_core.training.recipe import run_recipe

        built = as_token_built(build(context, candidate))
        built.max_length = config.max_length
        data = payload(built.labels, context.splits.train, context.splits.validation)
        result = run_recipe(RECIPE, data, built.model, built.tokenizer, config, seed=context.seed,
                            device=context.device, progress=context.progress, desc=desc, on_epoch=on_epoch)
        built.model = result.model
        return built, result

    def train(self, context: Any, candidate: CandidateSpec) -> BuiltModel:
        cfg = context.train_config(candidate)
        built, result = self.fit(context, candidate, cfg, desc=f"train {candidate.name}")
        built.variant = "fine-tuned"
        built.meta = {**result.meta(), "max_length": cfg.max_length, "train_config": cfg.model_dump(mode="json")}
        return built

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, context: Any, built: BuiltModel, variant: str, model_dir: Path | None = None) -> VariantResult:
        """Entity-level scores; latency, size, parameters and extra evaluators are added by the
        evaluate stage (on :meth:`latency_inputs`)."""
        from autoglm_core.training.held_out import held_out_scores

        built = as_token_built(built)
        test, val = context.splits.test, context.splits.validation
        m = entity_scores(_tags(test), built.predict_tags(_tokens(test)))
        names = self.metric_names()
        held_out = held_out_scores(built, variant, names, val,
                                   lambda: entity_scores(_tags(val), built.predict_tags(_tokens(val))), digits=4)
        cand = built.candidate or CandidateSpec(name="model", backbone="unknown")
        return VariantResult(
            candidate=cand.name, variant=variant, backbone=cand.backbone,
            metrics={**{k: round(m[k], 4) for k in names}, **held_out},
            per_class={k: {kk: round(vv, 4) for kk, vv in v.items()} for k, v in m["per_type"].items()},
            notes=["entity-level micro precision/recall/F1 (seqeval); per_class holds each entity type"])

    card_pipeline_tag = "token-classification"

    def model_card_sections(self, context: Any, best: VariantResult, model_dir: Path) -> list[str]:
        m = best.metrics
        rows = "\n".join(f"| {typ} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {int(s['support'])} |"
                         for typ, s in best.per_class.items())
        overall = " | ".join(f"{m[k]:.3f}" if k in m else "-" for k in ("precision", "recall", "f1"))
        support = sum(int(s["support"]) for s in best.per_class.values())
        return [f"Entity types: {', '.join(best.per_class) or '-'} (IOB2 tags; scored per entity, seqeval "
                f"definitions: an entity counts only when its type and both boundaries match)\n\n"
                f"| entity type | precision | recall | F1 | support |\n|---|---|---|---|---|\n{rows}\n"
                f"| **all (micro)** | {overall} | {support} |\n"]

    def latency_inputs(self, context: Any, built: BuiltModel) -> list[Any] | None:
        return [ex.text for ex in context.splits.test]

    # ------------------------------------------------------------------ saved models
    @classmethod
    def load_model(cls, directory: Path, meta: dict[str, Any], *, allow_pickle: bool = False,
                   trust_remote_code: bool = False) -> BuiltModel:
        from autoglm_core.tasks.token_classification.model import build_hf_token_model

        if meta.get("format", "hf") != "hf":
            raise ConfigError(f"{directory}: token_classification models are saved in the Hugging Face layout; "
                              f"format {meta.get('format')!r} is not supported.")
        labels = list(meta.get("labels") or [])
        model, tokenizer = build_hf_token_model(str(directory), labels, allow_pickle=allow_pickle,
                                                trust_remote_code=trust_remote_code)
        cand = meta.get("candidate")
        extra = meta.get("meta", {})
        return TokenBuiltModel(model=model.eval(), tokenizer=tokenizer, labels=labels, task_type=TASK,
                               candidate=CandidateSpec.model_validate(cand) if cand else None,
                               variant=meta.get("variant", "fine-tuned"), meta=extra,
                               max_length=int(extra.get("max_length", 256)))


def build(context: Any, candidate: CandidateSpec) -> BuiltModel:
    from autoglm_core.engine.build import build_model

    return build_model(context, candidate)


__all__ = ["IGNORE", "TokenClassification", "build"]
