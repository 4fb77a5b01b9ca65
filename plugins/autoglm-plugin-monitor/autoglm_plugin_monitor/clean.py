"""Text cleaning and duplicate detection for monitored documents."""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from collections import OrderedDict

_TAG = re.compile(r"<[^>]{0,2000}>")
_SCRIPT = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_BLOCK = re.compile(r"<\s*(br|/p|/div|/li|/h\d|p|div|li)\b[^>]*>", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Drop scripts/styles and HTML tags, decode entities (&amp; -> &), normalise Unicode (NFKC,
    so full-width Latin and digits match their ASCII forms) and collapse whitespace."""
    if "<" in text:
        text = _SCRIPT.sub(" ", text)
        text = _BLOCK.sub(" ", text)  # a block tag separates words: "<p>a</p><p>b</p>" -> "a b"
        text = _TAG.sub("", text)
    if "&" in text:
        text = html.unescape(text)
        if "<" in text:  # an escaped tag (&lt;b&gt;) is markup too
            text = _TAG.sub("", text)
    text = unicodedata.normalize("NFKC", text)
    return _SPACE.sub(" ", text).strip()


def fingerprint(cleaned: str) -> str:
    """Case- and punctuation-insensitive key: reposted news with other quotes or case is a duplicate."""
    key = re.sub(r"[\W_]+", "", cleaned.casefold())
    return hashlib.blake2b(key.encode("utf-8"), digest_size=8).hexdigest()


class Deduplicator:
    """Remembers the fingerprints of the last ``capacity`` documents (bounded memory and state)."""

    def __init__(self, capacity: int = 100_000, seen: list[str] | None = None):
        self.capacity = capacity
        self._seen: OrderedDict[str, None] = OrderedDict((k, None) for k in (seen or [])[-capacity:])

    def seen(self, key: str) -> bool:
        """True when ``key`` was seen before; records it otherwise."""
        if key in self._seen:
            self._seen.move_to_end(key)
            return True
        self._seen[key] = None
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return False

    def state(self) -> list[str]:
        return list(self._seen)
