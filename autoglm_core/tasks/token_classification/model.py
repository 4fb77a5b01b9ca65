"""Token-classification models: subword-to-word label alignment, batches for the shared loop,
word-level prediction and entity spans."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from autoglm_core.plugin.components import BuiltModel
from autoglm_core.tasks.token_classification.metrics import spans
from autoglm_core.types.errors import ModelLoadError

IGNORE = -100  # the label of special tokens and of every subword after a word's first
WORD = re.compile(r"\w+(?:[-'’]\w+)*|[^\w\s]")


def words_of(text: str) -> list[tuple[str, int, int]]:
    """(word, start, end) character offsets: words and punctuation, as CoNLL tokenises."""
    return [(m.group(0), m.start(), m.end()) for m in WORD.finditer(text)]


def align_labels(word_ids: Sequence[int | None], word_labels: Sequence[int]) -> list[int]:
    """The first subword of each word gets the word's label; later subwords and special tokens get
    -100, so the loss and the metrics see each word exactly once."""
    out: list[int] = []
    prev: int | None = None
    for wid in word_ids:
        out.append(IGNORE if wid is None or wid == prev else word_labels[wid])
        prev = wid
    return out


def encode(tokenizer: Any, sentences: Sequence[Sequence[str]], tags: Sequence[Sequence[str]] | None,
           label2id: dict[str, int], max_length: int) -> list[dict[str, Any]]:
    enc = tokenizer([list(s) for s in sentences], is_split_into_words=True, truncation=True, max_length=max_length)
    features = []
    for i in range(len(sentences)):
        f = {k: enc[k][i] for k in enc.keys()}
        if tags is not None:
            f["labels"] = align_labels(enc.word_ids(i), [label2id[t] for t in tags[i]])
        features.append(f)
    return features


class LengthGroupedBatches:
    """Batches of similar length (less padding: much faster on CPU), in a new random order every
    epoch: shuffle, sort within windows of 50 batches, shuffle the batches."""

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int):
        self.lengths, self.batch_size, self.rng = list(lengths), batch_size, random.Random(seed)

    def __iter__(self) -> Any:
        order = list(range(len(self.lengths)))
        self.rng.shuffle(order)
        window = self.batch_size * 50
        batches = []
        for s in range(0, len(order), window):
            chunk = sorted(order[s : s + window], key=lambda i: self.lengths[i])
            batches += [chunk[j : j + self.batch_size] for j in range(0, len(chunk), self.batch_size)]
        self.rng.shuffle(batches)
        # the short batch goes last: split across processes, accelerate pads only the last batch
        # (a short one elsewhere would be dropped)
        batches.sort(key=lambda b: len(b) < self.batch_size)
        return iter(batches)

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)


def train_loader(tokenizer: Any, sentences: Sequence[Sequence[str]], tags: Sequence[Sequence[str]],
                 label2id: dict[str, int], max_length: int, batch_size: int, seed: int) -> Any:
    from torch.utils.data import DataLoader
    from transformers import DataCollatorForTokenClassification

    features = encode(tokenizer, sentences, tags, label2id, max_length)
    sampler = LengthGroupedBatches([len(f["input_ids"]) for f in features], batch_size, seed)
    return DataLoader(features, batch_sampler=sampler, collate_fn=DataCollatorForTokenClassification(tokenizer))


def _device(model: Any) -> Any:
    import torch

    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def word_probabilities(model: Any, tokenizer: Any, sentences: Sequence[Sequence[str]], max_length: int = 256,
                       batch_size: int = 64, labels: Sequence[Sequence[int]] | None = None) -> tuple[list[Any], float]:
    """Per sentence a (words, labels) array of probabilities (words cut off by ``max_length`` get
    an all-O row); plus the mean loss over labelled subwords when ``labels`` (aligned ids) are given."""
    import numpy as np
    import torch

    model.eval()
    device = _device(model)
    n_labels = model.config.num_labels
    out: list[Any] = [None] * len(sentences)
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    loss_sum, loss_n = 0.0, 0
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            batch = [list(sentences[i]) for i in idx]
            enc = tokenizer(batch, is_split_into_words=True, truncation=True, max_length=max_length,
                            padding=True, return_tensors="pt")
            logits = model(**{k: v.to(device) for k, v in enc.items()}).logits.float()
            probs = torch.softmax(logits, -1).cpu().numpy()
            if labels is not None:
                y = torch.full(logits.shape[:2], IGNORE, dtype=torch.long)
                for r, i in enumerate(idx):
                    row = align_labels(enc.word_ids(r), labels[i])
                    y[r, : len(row)] = torch.tensor(row)
                mask = y != IGNORE
                if mask.any():
                    loss_sum += float(torch.nn.functional.cross_entropy(logits.cpu()[mask], y[mask], reduction="sum"))
                    loss_n += int(mask.sum())
            for r, i in enumerate(idx):
                words = np.zeros((len(sentences[i]), n_labels), dtype=np.float32)
                words[:, 0] = 1.0  # label 0 is O: words past max_length are outside any entity
                prev = None
                for t, wid in enumerate(enc.word_ids(r)):
                    if wid is not None and wid != prev:
                        words[wid] = probs[r, t]
                    prev = wid
                out[i] = words
    return out, loss_sum / max(loss_n, 1)


@dataclass
class TokenBuiltModel(BuiltModel):
    """A token classifier; ``predict_records`` gives the entity spans of raw sentences."""

    predicts_records: ClassVar[bool] = True
    max_length: int = 256

    def predict_tags(self, sentences: Sequence[Sequence[str]], batch_size: int = 64) -> list[list[str]]:
        probs, _ = word_probabilities(self.model, self.tokenizer, sentences, self.max_length, batch_size)
        return [[self.labels[j] for j in p.argmax(1)] for p in probs]

    def predict_proba(self, texts: Sequence[str], batch_size: int = 32, max_length: int = 128) -> Any:  # type: ignore[override]
        """Per text a (words, labels) array of tag probabilities (words as :func:`words_of` splits)."""
        import numpy as np

        probs, _ = word_probabilities(self.model, self.tokenizer, [[w for w, _, _ in words_of(t)] or ["."]
                                                                   for t in texts], self.max_length, batch_size)
        arr = np.empty(len(probs), dtype=object)
        arr[:] = probs
        return arr

    def predict_records(self, texts: Sequence[str], batch_size: int = 32, max_length: int = 128) -> list[dict[str, Any]]:
        """``{"entities": [{"text", "type", "start", "end", "score"}, ...]}`` per text; start/end are
        character offsets (end exclusive), score the mean probability of the entity's word tags."""
        records: list[dict[str, Any]] = []
        split = [words_of(t) for t in texts]
        probs, _ = word_probabilities(self.model, self.tokenizer, [[w for w, _, _ in ws] or ["."] for ws in split],
                                      self.max_length, batch_size)
        for text, ws, p in zip(texts, split, probs, strict=True):
            if not ws:
                records.append({"entities": []})
                continue
            best = p.argmax(1)
            tags = [self.labels[j] for j in best]
            ents = []
            for typ, a, b in spans(tags):
                start, end = ws[a][1], ws[b][2]
                score = float(sum(p[i, best[i]] for i in range(a, b + 1)) / (b - a + 1))
                ents.append({"text": text[start:end], "type": typ, "start": start, "end": end,
                             "score": round(score, 6)})
            records.append({"entities": ents})
        return records


def as_token_built(built: BuiltModel) -> TokenBuiltModel:
    if isinstance(built, TokenBuiltModel):
        return built
    return TokenBuiltModel(model=built.model, tokenizer=built.tokenizer, labels=built.labels, task_type=built.task_type,
                           candidate=built.candidate, variant=built.variant, format=built.format, meta=built.meta)


def build_hf_token_model(path: str, labels: list[str], *, allow_pickle: bool = False,
                         trust_remote_code: bool = False) -> tuple[Any, Any]:
    """A pretrained encoder with a new token-classification head (or a saved token classifier)."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from autoglm_core.models.loading import check_weights

    local = Path(path)
    use_safe = check_weights(local, allow_pickle=allow_pickle) if local.is_dir() else True
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        model = AutoModelForTokenClassification.from_pretrained(
            path, num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={lab: i for i, lab in enumerate(labels)}, ignore_mismatched_sizes=True,
            trust_remote_code=trust_remote_code, use_safetensors=use_safe)
    except OSError as e:
        raise ModelLoadError(f"backbone {path!r}: cannot load it offline: {e}") from None
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(f"backbone {path!r}: token classification needs a fast tokenizer (word_ids).")
    return model, tokenizer


def build_tiny_token_model(labels: list[str], texts: Sequence[str], seed: int = 0, **options: Any) -> tuple[Any, Any]:
    """A randomly initialised 2-layer BERT token classifier and a tokenizer trained on ``texts`` (tests)."""
    import torch
    from transformers import BertForTokenClassification

    from autoglm_core.models.tiny import tiny_bert_config, train_wordpiece_tokenizer

    tokenizer = train_wordpiece_tokenizer(texts, vocab_size=int(options.get("vocab_size", 2000)))
    torch.manual_seed(seed)
    config = tiny_bert_config(len(tokenizer), len(labels), int(options.get("hidden_size", 64)),
                              int(options.get("num_layers", 2)), labels=labels)
    return BertForTokenClassification(config), tokenizer
