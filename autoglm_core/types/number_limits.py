"""Numbers a config may hold: no infinite or NaN float anywhere (component options included), no
integer too large for the libraries that get it. Checked when a pipeline config is validated."""

from __future__ import annotations

import math
from typing import Any

# torch, numpy and ONNX take at most signed 64-bit integers; larger values fail deep inside them.
MAX_ABS_INT = 2**63 - 1


def non_finite_fields(data: Any, path: str = "") -> list[str]:
    """Dotted paths of every inf/NaN float and every integer beyond 64 bits in ``data``."""
    found: list[str] = []
    if isinstance(data, bool):
        return found
    if isinstance(data, float) and not math.isfinite(data):
        found.append(f"{path or '<root>'} = {data!r}")
    elif isinstance(data, int) and abs(data) > MAX_ABS_INT:
        found.append(f"{path or '<root>'} = an integer of {len(str(abs(data)))} digits")
    elif isinstance(data, dict):
        for key, value in data.items():
            found += non_finite_fields(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list | tuple):
        for i, value in enumerate(data):
            found += non_finite_fields(value, f"{path}.{i}" if path else str(i))
    return found
