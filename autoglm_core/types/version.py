"""The core's version, at the bottom so that every layer can write it into what it saves."""

from __future__ import annotations

__version__ = "0.1.0"
