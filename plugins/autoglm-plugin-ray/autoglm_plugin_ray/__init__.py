"""Open-AutoGLM plugin: search backend ``ray`` (``autoglm run ... --search-backend ray``).

Importing this module does not import ray: the backend imports it when a search stage starts.
"""

from __future__ import annotations

from autoglm_core import hookimpl

from .backend import RayBackend

__all__ = ["RayBackend"]


@hookimpl
def autoglm_register_search_backends(register):
    register(RayBackend)
