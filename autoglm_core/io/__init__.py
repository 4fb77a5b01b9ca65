"""Files, logs and OS errors: atomic writes, bounded JSON/YAML reading, checksums of a saved folder.

The second layer from the bottom: it imports only ``autoglm_core.types``, and every layer above
writes and reads its files through it.
"""

from __future__ import annotations

from autoglm_core.io.files import (
    atomic_write_json,
    atomic_write_lines,
    atomic_write_text,
    read_structured_file,
)

__all__ = ["atomic_write_json", "atomic_write_lines", "atomic_write_text", "read_structured_file"]
