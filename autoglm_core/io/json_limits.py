"""Limits checked on JSON text before ``json.loads`` builds it: nesting depth and integer length.

``json.loads`` recurses once per nesting level (a body of 100,000 ``[`` raises RecursionError) and
Python refuses to convert integers of more than 4300 digits (ValueError); both would surface as a
traceback or a 500. The scan is one regular expression pass (strings are skipped in C), so it costs
little next to parsing."""

from __future__ import annotations

import re

from autoglm_core.types.errors import AutoGLMError

MAX_DEPTH = 64
MAX_INT_DIGITS = 1000

# A string literal (skipped whole), a bracket, or a run of digits that is an integer (not part of a
# float's fraction or exponent: those parse to a float of bounded size whatever their length).
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]|(?<![\d.eE+\-])-?\d+(?![\d.eE])')


class JSONLimitError(AutoGLMError, ValueError):
    """JSON nested deeper, or with longer integers, than the limits allow."""


def check_json_limits(text: str | bytes, max_depth: int = MAX_DEPTH, max_int_digits: int = MAX_INT_DIGITS) -> None:
    """Raise :class:`JSONLimitError` when ``text`` nests deeper than ``max_depth`` or holds an
    integer longer than ``max_int_digits`` digits. Syntax errors are left to the parser."""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", errors="replace")
    depth = 0
    for m in _TOKENS.finditer(text):
        tok = m.group()
        c = tok[0]
        if c == '"':
            continue
        if c in "[{":
            depth += 1
            if depth > max_depth:
                raise JSONLimitError(f"JSON nested more than {max_depth} levels deep (at character {m.start()}).")
        elif c in "]}":
            depth = max(0, depth - 1)
        elif len(tok.lstrip("-")) > max_int_digits:
            raise JSONLimitError(f"JSON integer of {len(tok.lstrip('-'))} digits at character {m.start()} "
                                 f"(at most {max_int_digits}).")
