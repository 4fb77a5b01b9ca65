"""Tiny models built from a config, with a tokenizer trained on the spot (offline, seconds).

Used by unit tests, by plugin authors (see :mod:`autoglm_core.testing`) and by the ``tiny-bert``
candidate, which also serves languages the embedded MiniLM vocabulary does not cover.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def train_wordpiece_tokenizer(texts: Iterable[str], vocab_size: int = 2000, lowercase: bool = True) -> Any:
    """A BERT-style WordPiece tokenizer built from ``texts``: every character (alone and as a
    ``##`` continuation) plus the most frequent words. Chinese characters become single tokens.

    Built by counting rather than with the ``tokenizers`` WordPiece trainer because the trainer
    breaks frequency ties in hash order, so the same texts gave different vocabularies (and so
    different models for the same seed) from run to run.
    """
    from collections import Counter

    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    normalizer = normalizers.BertNormalizer(lowercase=lowercase, handle_chinese_chars=True)
    pre = pre_tokenizers.BertPreTokenizer()
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(w for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
    chars = sorted({ch for word in counts for ch in word})
    vocab = special + chars + ["##" + ch for ch in chars]
    budget = max(vocab_size - len(vocab), 0)
    words = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if len(w) > 1][:budget]
    vocab += words
    tok = Tokenizer(models.WordPiece(vocab={t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=512,
    )


def tiny_bert_config(vocab_size: int, num_labels: int, hidden_size: int = 64, num_layers: int = 2,
                     num_heads: int = 2, intermediate_size: int = 128, max_position: int = 512,
                     labels: Sequence[str] | None = None) -> Any:
    from transformers import BertConfig

    kwargs: dict[str, Any] = {}
    if labels is not None:
        kwargs["id2label"] = dict(enumerate(labels))
        kwargs["label2id"] = {lab: i for i, lab in enumerate(labels)}
    return BertConfig(
        vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_layers,
        num_attention_heads=num_heads, intermediate_size=intermediate_size,
        max_position_embeddings=max_position, num_labels=num_labels, **kwargs,
    )


def tiny_bert_classifier(labels: Sequence[str], texts: Iterable[str], *, seed: int = 0, vocab_size: int = 2000,
                         hidden_size: int = 64, num_layers: int = 2, num_heads: int = 2,
                         intermediate_size: int = 128) -> tuple[Any, Any]:
    """(model, tokenizer): a randomly initialised BERT sequence classifier and a tokenizer trained on ``texts``."""
    import torch
    from transformers import BertForSequenceClassification

    tokenizer = train_wordpiece_tokenizer(texts, vocab_size=vocab_size)
    torch.manual_seed(seed)
    config = tiny_bert_config(len(tokenizer), len(labels), hidden_size, num_layers, num_heads,
                              intermediate_size, labels=labels)
    return BertForSequenceClassification(config), tokenizer


def tiny_gpt2_lm(texts: Iterable[str], *, seed: int = 0, vocab_size: int = 1000, n_embd: int = 64,
                 n_layer: int = 2, n_head: int = 2, n_positions: int = 256) -> tuple[Any, Any]:
    """(model, tokenizer): a tiny GPT-2 causal LM and a byte-level BPE tokenizer (with EOS/pad) trained on ``texts``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(texts), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>",
                                        bos_token="<|endoftext|>", unk_token="<|endoftext|>",
                                        pad_token="<|endoftext|>", model_max_length=n_positions)
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=n_embd, n_layer=n_layer, n_head=n_head,
                        n_positions=n_positions, bos_token_id=tokenizer.eos_token_id,
                        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.eos_token_id)
    return GPT2LMHeadModel(config), tokenizer
