"""Deadlines and a cap on connections for the API's HTTP server: no client holds a connection it does not use.

uvicorn times out idle keep-alive connections only: a client that sends half a request head (or a body one byte
a minute) keeps its connection, and a few hundred of them exhaust the process. ``guarded_protocol`` builds
uvicorn's h11 protocol with three more rules:

* the request head must be complete within ``head_timeout_s`` of the connection (or of the previous response);
* the body within ``body_timeout_s`` of the head;
* beyond ``max_connections`` open connections, new ones are closed at once.

A deadline that passes answers ``408`` when no response has started, then closes the connection.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
_TOO_MANY = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"


def guarded_protocol(head_timeout_s: float, body_timeout_s: float, max_connections: int) -> type[H11Protocol]:
    """uvicorn's h11 protocol with the deadlines and the connection cap above (pass it as ``Config(http=...)``)."""

    class GuardedH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None
        _waiting_for: str = ""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                transport.write(_TOO_MANY)
                transport.close()
                return
            self._arm("head", head_timeout_s)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            state = self.conn.their_state
            if self._waiting_for == "head" and state is not h11.IDLE:
                self._disarm()
                if state is h11.SEND_BODY:
                    self._arm("body", body_timeout_s)
            elif self._waiting_for == "body" and state is not h11.SEND_BODY:
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm("head", head_timeout_s)  # the next request on a kept-alive connection

        def _arm(self, what: str, seconds: float) -> None:
            self._disarm()
            self._waiting_for = what
            self._deadline = self.loop.call_later(seconds, self._expired)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline, self._waiting_for = None, ""

        def _expired(self) -> None:
            self._deadline, self._waiting_for = None, ""
            if self.transport.is_closing():
                return
            if self.cycle is None or not self.cycle.response_started:
                self.transport.write(_TIMED_OUT)
            self.transport.close()

    return GuardedH11Protocol
