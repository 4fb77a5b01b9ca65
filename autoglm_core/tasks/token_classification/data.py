"""Reading NER data: CoNLL-style text (one ``token TAG`` per line, a blank line between sentences)
or JSONL (objects with ``tokens`` and ``tags`` lists), tags in the IOB2/BIO scheme.

Bad data is an error that names the file and the line; an ``I-`` tag that starts an entity
(IOB1 style: after ``O`` or after another type) is accepted and counted as an entity start, as
seqeval does, with one warning per file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from autoglm_core.types.data import Example
from autoglm_core.types.errors import DataError

TAG = re.compile(r"^(O|[BI]-\S+)$")
JSONL_SUFFIXES = (".jsonl", ".json")
DOCSTART = "-DOCSTART-"


@dataclass
class Sentence:
    tokens: list[str]
    tags: list[str]
    line: int  # 1-based line of the first token (JSONL: of the object)


@dataclass
class NerFile:
    path: Path
    sentences: list[Sentence]
    iob1_starts: int = 0  # I- tags that started an entity
    first_iob1: tuple[int, str] | None = None  # (line, tag) of the first one
    warnings: list[str] = field(default_factory=list)


def check_tag(tag: str, path: Path, line: int) -> None:
    if not TAG.match(tag):
        raise DataError(f"{path}:{line}: tag {tag!r} is not in the BIO scheme: use O, B-TYPE or I-TYPE "
                        f"(e.g. B-PER, I-ORG).")


def _read_conll(path: Path, text: str) -> list[Sentence]:
    out: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    start = 0
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            if tokens:
                out.append(Sentence(tokens, tags, start))
            tokens, tags = [], []
            continue
        parts = line.split()
        if parts[0] == DOCSTART:
            continue
        if len(parts) < 2:
            raise DataError(f"{path}:{n}: {line!r} has no tag: each line is 'token TAG' (e.g. 'Paris B-LOC'), "
                            f"with a blank line between sentences.")
        check_tag(parts[-1], path, n)
        if not tokens:
            start = n
        tokens.append(parts[0])
        tags.append(parts[-1])
    if tokens:
        out.append(Sentence(tokens, tags, start))
    return out


def _read_jsonl(path: Path, text: str) -> list[Sentence]:
    out: list[Sentence] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{n}: invalid JSON: {e.msg}.") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("tokens"), list) or not isinstance(obj.get("tags"), list):
            raise DataError(f"{path}:{n}: expected an object with 'tokens' and 'tags' lists, "
                            f'e.g. {{"tokens": ["Paris"], "tags": ["B-LOC"]}}.')
        tokens, tags = [str(t) for t in obj["tokens"]], [str(t) for t in obj["tags"]]
        if len(tokens) != len(tags):
            raise DataError(f"{path}:{n}: {len(tokens)} tokens but {len(tags)} tags.")
        if not tokens:
            continue
        for tag in tags:
            check_tag(tag, path, n)
        out.append(Sentence(tokens, tags, n))
    return out


def read_ner_file(path: str | Path) -> NerFile:
    """Read one CoNLL or JSONL file (by suffix: .jsonl/.json, anything else is CoNLL)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start}).") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read it: {e.strerror or e}.") from None
    sentences = _read_jsonl(path, text) if path.suffix.lower() in JSONL_SUFFIXES else _read_conll(path, text)
    if not sentences:
        raise DataError(f"{path}: no sentences found (CoNLL: one 'token TAG' per line; JSONL: tokens/tags objects).")
    result = NerFile(path, sentences)
    for s in sentences:
        prev = "O"
        for i, tag in enumerate(s.tags):
            if tag.startswith("I-") and (prev == "O" or prev[2:] != tag[2:]):
                result.iob1_starts += 1
                if result.first_iob1 is None:
                    line = s.line + i if path.suffix.lower() not in JSONL_SUFFIXES else s.line
                    result.first_iob1 = (line, tag)
            prev = tag
    if result.first_iob1 is not None:
        line, tag = result.first_iob1
        result.warnings.append(
            f"{path}: {result.iob1_starts} entity(ies) start with I- (IOB1 style; first at line {line}: {tag}); "
            f"each is counted as the start of an entity, as seqeval does.")
    return result


def to_examples(f: NerFile) -> list[Example]:
    return [Example(text=" ".join(s.tokens), label=None, file=str(f.path), line=s.line,
                    meta={"tokens": s.tokens, "tags": s.tags}) for s in f.sentences]


def tag_set(examples: list[Example]) -> list[str]:
    """The label list: O first, then B-/I- of every entity type in sorted order (both forms always
    present, so the model can tag any entity of a type it has seen)."""
    types = sorted({t[2:] for ex in examples for t in ex.meta["tags"] if t != "O"})
    return ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]
