"""Optional API key for every path of the server (``/docs`` and ``/openapi.json`` included).

A pure ASGI middleware, so that it runs before routing and body parsing: a request without the key
costs the server almost nothing. Keys are compared in constant time over their SHA-256 digests,
which also hides the key's length."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

ENV_VAR = "AUTOGLM_API_KEY"


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


def supplied_key(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The key of ``Authorization: Bearer KEY`` or ``X-API-Key: KEY`` (b'' when absent)."""
    for name, value in headers:
        if name == b"x-api-key":
            return value.strip()
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return value[7:].strip()
    return b""


class ApiKeyMiddleware:
    def __init__(self, app: Any, api_key: str):
        if not api_key:
            raise ValueError("api_key must not be empty")
        self.app = app
        self._want = _digest(api_key.encode("utf-8"))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if hmac.compare_digest(_digest(supplied_key(scope.get("headers", []))), self._want):
            return await self.app(scope, receive, send)
        body = json.dumps({"error": {"status": 401, "type": "unauthorized", "message":
                                     "a valid API key is required: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'."}}
                          ).encode()
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", b'Bearer realm="autoglm"')]})
        await send({"type": "http.response.body", "body": body})
