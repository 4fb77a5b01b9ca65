"""Data loading: file formats (registered loaders), validation and stratified splits."""

from .types import DataSplits, Example, LoadedRows

__all__ = ["DataSplits", "Example", "LoadedRows"]
