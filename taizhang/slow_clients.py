"""A bound on how long a client may take to send a request's head. uvicorn 0.54 has none: its
keep-alive timeout stops at the first byte, so a client sending its headers a byte at a time
(slowloris) holds a connection open for ever; enough of them and nobody else gets one.

`HeaderTimeoutProtocol` is uvicorn's own h11 protocol with one timer: armed when a request's
first bytes arrive (or the connection opens), cancelled once its head is complete; when it
fires the client gets 408 and the connection is closed. Bodies are bounded elsewhere
(max_post_body_bytes, the proxy's client_max_body_size)."""

from __future__ import annotations

import os

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

DEFAULT_HEADER_TIMEOUT = 10.0   # seconds; TAIZHANG_HEADER_TIMEOUT overrides it


def header_timeout() -> float:
    value = os.environ.get("TAIZHANG_HEADER_TIMEOUT")
    return float(value) if value else DEFAULT_HEADER_TIMEOUT


class HeaderTimeoutProtocol(H11Protocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout()
        self._header_timer = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:   # bytes of a new request's head
            self._arm()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:   # the head is complete
            self._disarm()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        # Written raw: h11 cannot send a response to a request it has not yet parsed.
        self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                             b"connection: close\r\ncontent-length: 0\r\n\r\n")
        self.transport.close()
