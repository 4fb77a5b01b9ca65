"""The ``input-denoising`` defense: undo character noise before the model sees the text.

What it fixes, in order: invisible characters, full-width letters and digits, homoglyphs from other
scripts (Cyrillic/Greek look-alikes) and leetspeak inside words, symbols glued inside a word
("pro*fit") or between Chinese characters ("好*评"), letters repeated three or more times, and
finally words that are not in the vocabulary, replaced by the most frequent vocabulary word within
one edit (Damerau-Levenshtein: swap, deletion, insertion, substitution -- DeepWordBug's edits).
The vocabulary is the training split's words (by frequency) plus the tokenizer's whole-word tokens.
Chinese homophone substitutions cannot be undone without a language model and are left alone.

How it is stored: the model itself is unchanged, so the returned model keeps the ``"hf"`` format and
saves as usual; the denoiser's settings and training vocabulary go into ``built.meta
["input_denoising"]``. The tokenizer is wrapped (:class:`DenoisingTokenizer`), so every path that
tokenizes -- ``predict_proba``, the attacks, fine-tuning -- sees denoised text. After loading a
saved model, :func:`restore` (also ``InputDenoising.restore``) wraps the tokenizer again; the
``autoglm attack`` command calls it for every defense named in ``meta["defenses"]``.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import Field

from autoglm_core import Defense, RunContext

from .common import copy_built
from .noise import CONFUSABLES, INVISIBLE, LEET

META_KEY = "input_denoising"
_WORD = re.compile(r"[^\W\d_][\w'*.`~^|#$@-]*[\w]|[^\W\d_]", re.UNICODE)
_INNER_SYMBOLS = re.compile(r"(?<=\w)[*.`~^|#_]+(?=\w)")
_CJK_NOISE = re.compile(r"(?<=[\u4e00-\u9fff])[*~^|_#`·]+(?=[\u4e00-\u9fff])")
_FULLWIDTH_ALNUM = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")
_RUN3 = re.compile(r"(\w)\1{2,}")
_RUN2 = re.compile(r"(\w)\1+")


def osa_distance(a: str, b: str, limit: int = 2) -> int:
    """Optimal string alignment distance (Levenshtein plus adjacent swaps), capped at limit+1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def tokenizer_words(tokenizer: Any) -> list[str]:
    """Whole-word alphabetic entries of a tokenizer's vocabulary (WordPiece, BPE, SentencePiece)."""
    try:
        vocab = tokenizer.get_vocab()
    except Exception:  # noqa: BLE001 - tokenizers without a vocabulary simply add nothing
        return []
    out = []
    for tok in vocab:
        if tok.startswith("##"):
            continue
        word = tok.lstrip("\u0120\u2581")  # byte-level BPE and SentencePiece word-start markers
        if len(word) >= 2 and word.isalpha() and word.isascii():
            out.append(word.lower())
    return sorted(set(out))


def training_vocabulary(texts: Iterable[str], max_words: int) -> list[str]:
    counts = Counter(w.lower() for t in texts for w in re.findall(r"[^\W\d_]{2,}", t) if w.isascii())
    return [w for w, _ in counts.most_common(max_words)]


class Denoiser:
    """Callable text normaliser; ``words`` are ranked best first (ties in correction go to the earlier)."""

    def __init__(self, words: Sequence[str], *, max_distance: int = 1, min_length: int = 4,
                 spelling: bool = True, homoglyphs: bool = True, repeats: bool = True, symbols: bool = True):
        self.rank: dict[str, int] = {}
        for w in words:
            self.rank.setdefault(w.lower(), len(self.rank))
        self.max_distance, self.min_length = max_distance, min_length
        self.spelling, self.homoglyphs, self.repeats, self.symbols = spelling, homoglyphs, repeats, symbols
        self._index: dict[str, list[str]] | None = None
        self._cache: dict[str, str] = {}

    # ------------------------------------------------------------------ public
    def __call__(self, text: str) -> str:
        text = INVISIBLE.sub("", text)
        text = _FULLWIDTH_ALNUM.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)
        if self.symbols:
            text = _CJK_NOISE.sub("", text)
        return _WORD.sub(lambda m: self.fix_word(m.group()), text)

    def known(self, word: str) -> bool:
        return word.lower() in self.rank

    def fix_word(self, word: str) -> str:
        if word in self._cache:
            return self._cache[word]
        fixed = self._fix(word)
        if len(self._cache) < 100_000:
            self._cache[word] = fixed
        return fixed

    # ------------------------------------------------------------------ steps
    def _fix(self, word: str) -> str:
        if self.known(word) or not word.isascii() and any("\u4e00" <= c <= "\u9fff" for c in word):
            return word
        w = word
        if self.homoglyphs:
            w = "".join(CONFUSABLES.get(c, c) for c in w)
            if any(c.isdigit() or c in "@$" for c in w) and any(c.isalpha() for c in w):
                leet = "".join(LEET.get(c, c) for c in w)
                w = leet if self.known(leet) else w  # only when it makes a known word: "Q3" stays
        if self.symbols and not self.known(w):
            stripped = _INNER_SYMBOLS.sub("", w)
            if stripped != w and (self.known(stripped) or not re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]?", w)):
                w = stripped
        if self.repeats and not self.known(w):
            w = _RUN3.sub(r"\1\1", w)
            single = _RUN2.sub(r"\1", w)
            if not self.known(w) and self.known(single):
                w = single
        if self.spelling and not self.known(w) and len(w) >= self.min_length and w.isalpha():
            best = self.closest(w.lower())
            if best is not None:
                w = _same_case(best, w)
        return w

    def closest(self, word: str) -> str | None:
        best: tuple[int, int, str] | None = None
        for cand in self._candidates(word):
            d = osa_distance(word, cand, self.max_distance)
            if d <= self.max_distance:
                key = (d, self.rank[cand], cand)
                best = key if best is None or key < best else best
        return best[2] if best else None

    def _candidates(self, word: str) -> set[str]:
        index = self._build_index()
        keys = {word, *_deletes(word, self.max_distance)}
        return {c for k in keys for c in index.get(k, ())}

    def _build_index(self) -> dict[str, list[str]]:
        # symmetric-delete index (SymSpell): two words within d edits share a string reachable by
        # at most d deletions from each, so lookups never scan the whole vocabulary.
        if self._index is None:
            index: dict[str, list[str]] = {}
            for w in self.rank:
                if len(w) + self.max_distance >= self.min_length:
                    for k in {w, *_deletes(w, self.max_distance)}:
                        index.setdefault(k, []).append(w)
            self._index = index
        return self._index

    def settings(self) -> dict[str, Any]:
        return {"max_distance": self.max_distance, "min_length": self.min_length, "spelling": self.spelling,
                "homoglyphs": self.homoglyphs, "repeats": self.repeats, "symbols": self.symbols}


def _deletes(word: str, depth: int) -> set[str]:
    out: set[str] = set()
    frontier = {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
        out |= frontier
    return out


def _same_case(new: str, old: str) -> str:
    if old.isupper() and len(old) > 1:
        return new.upper()
    if old[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


class DenoisingTokenizer:
    """A tokenizer that denoises text first; everything else is delegated to the wrapped tokenizer
    (``save_pretrained`` saves the plain tokenizer: the denoiser lives in the model's metadata)."""

    def __init__(self, tokenizer: Any, denoiser: Denoiser):
        self.__dict__["_tokenizer"] = tokenizer
        self.__dict__["denoiser"] = denoiser

    def _clean(self, text: Any) -> Any:
        if isinstance(text, str):
            return self.denoiser(text)
        if isinstance(text, (list, tuple)) and all(isinstance(t, str) for t in text):
            return [self.denoiser(t) for t in text]
        return text

    def __call__(self, text: Any = None, *args: Any, **kwargs: Any) -> Any:
        if "text_pair" in kwargs:
            kwargs["text_pair"] = self._clean(kwargs["text_pair"])
        return self._tokenizer(self._clean(text), *args, **kwargs)

    def encode(self, text: Any, *args: Any, **kwargs: Any) -> Any:
        return self._tokenizer.encode(self._clean(text), *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        inner = self.__dict__.get("_tokenizer")
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)

    def __len__(self) -> int:
        return len(self._tokenizer)

    @property
    def wrapped(self) -> Any:
        return self._tokenizer


def unwrap(tokenizer: Any) -> Any:
    while isinstance(tokenizer, DenoisingTokenizer):
        tokenizer = tokenizer.wrapped
    return tokenizer


def restore(built: Any) -> Any:
    """Re-attach the denoiser recorded in ``built.meta`` (after load_model); no-op without one."""
    cfg = built.meta.get(META_KEY)
    if not cfg or isinstance(built.tokenizer, DenoisingTokenizer):
        return built
    words = list(cfg.get("vocabulary", [])) + tokenizer_words(built.tokenizer)
    built.tokenizer = DenoisingTokenizer(built.tokenizer, Denoiser(words, **cfg.get("settings", {})))
    return built


class InputDenoising(Defense):
    name = "input-denoising"
    description = ("normalise character noise before inference: homoglyphs, leetspeak, glued symbols, repeated "
                   "letters, misspellings within one edit of the vocabulary")

    class Options(Defense.Options):
        max_distance: int = Field(1, ge=1, le=2, description="largest edit distance corrected")
        min_length: int = Field(4, ge=2, description="shorter unknown words are left alone")
        max_vocabulary: int = Field(20000, ge=0, description="training words kept in the model's metadata")
        spelling: bool = True
        homoglyphs: bool = True
        repeats: bool = True
        symbols: bool = True

    def defend(self, built: Any, context: RunContext | None) -> Any:
        o = self.options
        splits = getattr(context, "splits", None) if context is not None else None
        texts = [ex.text for ex in (splits.train if splits is not None else [])]
        vocab = training_vocabulary(texts, o.max_vocabulary)
        settings = {k: getattr(o, k) for k in ("max_distance", "min_length", "spelling", "homoglyphs", "repeats", "symbols")}
        # the weights do not change: share them instead of copying
        out = copy_built(built, model=built.model, tokenizer=unwrap(built.tokenizer), variant=f"{built.variant}+denoise")
        out.meta[META_KEY] = {"settings": settings, "vocabulary": vocab}
        out.meta["defenses"] = [*built.meta.get("defenses", []), self.name]
        return restore(out)

    @staticmethod
    def restore(built: Any) -> Any:
        return restore(built)
