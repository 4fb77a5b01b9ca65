"""The image processor of the image models: images (paths, PIL images, arrays, Examples) to a float
tensor (B, C, H, W) in [0, 1] at the size and mode the model was trained on, saved beside the weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoglm_core.types.errors import DataError, ModelLoadError

PROCESSOR_FILE = "preprocessor_config.json"
PIXEL_RANGE = (0.0, 1.0)


class ImageProcessor:
    """Turns images (paths, PIL images, arrays, Examples) into a float tensor (B, C, H, W) in
    [0, 1] at the size and mode the model was trained on."""

    def __init__(self, size: tuple[int, int], mode: str):
        self.size = (int(size[0]), int(size[1]))  # (width, height), as PIL
        self.mode = mode

    @property
    def channels(self) -> int:
        return 1 if self.mode == "L" else 3

    def pixels(self, item: Any) -> Any:
        import numpy as np

        from autoglm_core.data.images import open_image, to_pixels

        shape = (self.channels, self.size[1], self.size[0])
        meta = getattr(item, "meta", None)
        if isinstance(meta, dict):
            px = meta.get("pixels")
            if px is not None and tuple(np.shape(px)) == shape:
                return np.asarray(px, dtype=np.float32)
            item = meta.get("path") or getattr(item, "file", None)
        if isinstance(item, str | Path):
            im, why = open_image(item)
            if im is None:
                raise DataError(f"{item}: {why}")
            return to_pixels(im, self.size, self.mode)
        if hasattr(item, "mode") and hasattr(item, "size"):  # a PIL image
            return to_pixels(item, self.size, self.mode)
        arr = np.asarray(item, dtype=np.float32)
        if arr.shape == shape:
            return arr
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim == 3 and arr.shape[-1] in (1, 3) and arr.shape[0] not in (1, 3):
            arr = arr.transpose(2, 0, 1)  # HWC -> CHW
        if arr.max(initial=0.0) > 1.0:
            arr = arr / 255.0
        if arr.shape != shape:
            from PIL import Image

            hwc = np.clip(arr.transpose(1, 2, 0) * 255, 0, 255).astype("uint8")
            im = Image.fromarray(hwc[..., 0] if hwc.shape[-1] == 1 else hwc)
            return to_pixels(im, self.size, self.mode)
        return arr

    def __call__(self, images: Any) -> Any:
        import numpy as np
        import torch

        return torch.from_numpy(np.stack([self.pixels(x) for x in images])) if len(images) else \
            torch.zeros((0, self.channels, self.size[1], self.size[0]))

    def to_dict(self) -> dict[str, Any]:
        return {"processor": "autoglm-image", "size": list(self.size), "mode": self.mode,
                "pixel_range": list(PIXEL_RANGE)}

    def save_pretrained(self, directory: str | Path) -> None:
        import json

        (Path(directory) / PROCESSOR_FILE).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> ImageProcessor:
        import json

        path = Path(directory) / PROCESSOR_FILE
        if not path.exists():
            raise ModelLoadError(f"{directory}: no {PROCESSOR_FILE} (the image size and mode the model expects).")
        d = json.loads(path.read_text(encoding="utf-8"))
        return cls(tuple(d["size"]), d["mode"])  # type: ignore[arg-type]
