"""Data loading: file formats (registered loaders), validation and stratified splits."""

from autoglm_core.types.data import DataSplits, Example, LoadedRows

__all__ = ["DataSplits", "Example", "LoadedRows"]
