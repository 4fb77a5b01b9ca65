"""uvicorn's h11 protocol with a deadline for the request head.

uvicorn times out idle keep-alive connections, but a connection that sends nothing, or its
headers a byte at a time, is held open for ever: a few hundred such sockets (slowloris) use up the
connection limit. Here every request head (the request line and headers) must be complete within
``header_timeout`` seconds of the connection opening or of the previous response; otherwise the
server answers 408 and closes the connection. Bodies are bounded by the app's request timeout."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

_TIMEOUT_RESPONSE = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class HeadTimeoutH11Protocol(H11Protocol):
    header_timeout: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm_head_timer()

    def _reading_head(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def data_received(self, data: bytes) -> None:
        if self._reading_head():
            self._arm_head_timer()  # a new request starts: its head has header_timeout to arrive
        super().data_received(data)
        if not self._reading_head():
            self._cancel_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._reading_head():
            return
        self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()


def protocol_with_header_timeout(seconds: float) -> type[HeadTimeoutH11Protocol]:
    return type("HeadTimeoutH11Protocol", (HeadTimeoutH11Protocol,), {"header_timeout": float(seconds)})


def uvicorn_config(app: Any, *, host: str, port: int, log_level: str = "info", header_timeout: float = 10.0,
                   keep_alive_timeout: float = 5.0, max_connections: int | None = 1024) -> Any:
    """The uvicorn settings of ``autoglm serve``: the head deadline above, a keep-alive timeout
    and a connection limit (uvicorn answers 503 beyond it)."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on",
                          http=protocol_with_header_timeout(header_timeout),
                          timeout_keep_alive=keep_alive_timeout, limit_concurrency=max_connections)
