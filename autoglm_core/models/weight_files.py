"""Which weight files a model directory would make transformers read, checked before it reads them.

transformers loads ``model.safetensors``, else the shards named by ``model.safetensors.index.json``
(whatever their format: an index may point at pickled ``.bin`` shards), else pickle files
(``pytorch_model.bin``, its index, ``.pt``/``.pth``/``.ckpt`` checkpoints, TF/Flax files). Every
index is read here: an entry outside the model folder is refused outright, a non-safetensors shard
counts as pickle. Safetensors headers are parsed so that a corrupt file is a clear error rather
than a traceback from deep inside the loader.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

from autoglm_core.types.errors import ModelLoadError

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
OTHER_UNSAFE = ("tf_model.h5", "model.ckpt.index", "flax_model.msgpack")
MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit on the JSON header


@dataclass
class WeightFiles:
    """What ``from_pretrained`` would read: safetensors files, and files it would unpickle."""

    safetensors: list[Path] = field(default_factory=list)
    pickle: list[Path] = field(default_factory=list)
    safe_index: bool = False  # weights come through model.safetensors.index.json

    @property
    def has_safe(self) -> bool:
        return bool(self.safetensors) or self.safe_index


def index_shards(index: Path, root: Path) -> list[Path]:
    """The shard files an ``*.index.json`` names; any outside ``root`` is an error."""
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{index}: not a valid weight index ({exc}).") from None
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise ModelLoadError(f"{index}: a weight index needs a \"weight_map\" of tensor name -> shard file name.")
    shards: list[Path] = []
    for name in sorted(set(weight_map.values())):
        target = (index.parent / name).resolve()
        if not target.is_relative_to(root) or target.parent != root:
            raise ModelLoadError(
                f"{index}: weight_map entry {name!r} points outside the model folder ({target}); refusing to "
                f"load weights from elsewhere. Shards must be files next to the index.")
        shards.append(target)
    return shards


def inspect_weights(directory: Path) -> WeightFiles:
    root = directory.resolve()
    found = WeightFiles()
    safe_index = directory / "model.safetensors.index.json"
    # every index is read, loaded or not: one pointing outside the folder is refused either way
    shards_by_index = {index: index_shards(index, root) for index in sorted(directory.glob("*.index.json"))}
    if (directory / "model.safetensors").is_file():
        found.safetensors = [directory / "model.safetensors"]  # preferred: nothing else is read
    elif safe_index in shards_by_index:
        found.safe_index = True
        for shard in shards_by_index[safe_index]:  # read whatever their format
            (found.safetensors if shard.name.endswith(".safetensors") else found.pickle).append(shard)
    else:
        found.safetensors = sorted(p for p in directory.glob("*.safetensors") if p.is_file())
    if not found.has_safe:  # transformers falls back to the pickle formats
        found.pickle += [i for i, shards in shards_by_index.items() if any(not s.name.endswith(".safetensors")
                                                                           for s in shards)]
        found.pickle += sorted(p for p in directory.iterdir() if p.is_file()
                               and (p.name.endswith(PICKLE_SUFFIXES) or p.name in OTHER_UNSAFE))
    return found


def check_safetensors_header(path: Path) -> None:
    """Parse the header of a safetensors file: a corrupt or truncated one is a named error."""
    if not path.is_file():
        raise ModelLoadError(f"{path}: weight file is missing (named by the model's weight index).")
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise ModelLoadError(f"{path}: not a safetensors file (only {size} bytes).")
        (n,) = struct.unpack("<Q", head)
        if n == 0 or n > MAX_HEADER or 8 + n > size:
            raise ModelLoadError(f"{path}: corrupt safetensors header (declared header length {n}, file size "
                                 f"{size}); the file is truncated or not safetensors. Re-export the model.")
        raw = fh.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path}: corrupt safetensors header (not JSON: {exc}). Re-export the model.") from None
    if not isinstance(header, dict):
        raise ModelLoadError(f"{path}: corrupt safetensors header (not a JSON object).")
    data_size = size - 8 - n
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= data_size):
            raise ModelLoadError(f"{path}: corrupt safetensors header: tensor {name!r} has data offsets {offsets} "
                                 f"outside the file's {data_size} data bytes. Re-export the model.")
