"""Connection-level limits for the servers maaskit starts: header read timeout, header size and count.

uvicorn has no header read timeout and no header size limit with httptools (h11 only bounds its
buffer, answering a bare 400). These subclasses of uvicorn's two HTTP protocols add them, for
``maaskit serve`` and the SageMaker container alike:

- a client has ``header_timeout_s`` from its first byte (or from connecting) to the end of the request
  head; a slow or silent client gets ``408 Request Timeout`` and the connection is closed;
- a request line plus headers over ``max_header_bytes``, or more than ``max_headers`` fields, gets
  ``431 Request Header Fields Too Large``; the parser never buffers more than one read past the limit.

Body rate, total request time and answer size are the ASGI middleware's (:mod:`handlers.limits`);
keep-alive idle and concurrent connections are uvicorn's own settings (:func:`uvicorn_options`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from typing import Any

import h11
import orjson
from uvicorn.protocols.http.h11_impl import H11Protocol

from handlers.settings import Settings

__all__ = ["HeadLimits", "GuardedH11Protocol", "protocol_factory", "uvicorn_options"]

logger = logging.getLogger("maaskit.server")

#: asyncio's largest single read: one read past the limit is the most a parser buffers.
_READ_SIZE = 256 * 1024


@dataclass(frozen=True)
class HeadLimits:
    """What a request head may cost a server: time to arrive, bytes, header fields."""

    timeout_s: float = 10.0
    max_bytes: int = 32768
    max_fields: int = 100

    @classmethod
    def from_settings(cls, settings: Settings) -> HeadLimits:
        """The limits the settings (``MAASKIT_HEADER_TIMEOUT_S``, ``_MAX_HEADER_BYTES``, ``_MAX_HEADERS``) ask for."""
        return cls(settings.header_timeout_s, settings.max_header_bytes, settings.max_headers)


class _RefusedError(Exception):
    """Raised inside a parser callback to stop parsing a request the server will not take."""


def _refusal_bytes(status: int, reason: str, message: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    body = orjson.dumps({"error": message})
    lines = [f"HTTP/1.1 {status} {reason}\r\n".encode("ascii")]
    lines += [name + b": " + value + b"\r\n" for name, value in default_headers]
    lines += [
        b"content-type: application/json\r\n",
        b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
        b"connection: close\r\n\r\n",
        body,
    ]
    return b"".join(lines)


class _HeadGuard:
    """The part both protocols share: the head timer, the byte and field counts, and the refusal answer."""

    limits: HeadLimits
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    server_state: Any
    client: tuple[str, int] | None

    def _guard_init(self, limits: HeadLimits) -> None:
        self.limits = limits
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._head_fields = 0
        self._refusal: tuple[int, str, str] | None = None

    def _arm_head_timer(self) -> None:
        if self._head_timer is None and self.limits.timeout_s > 0:
            self._head_timer = self.loop.call_later(self.limits.timeout_s, self._head_timed_out)

    def _head_complete(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._head_bytes = 0
        self._head_fields = 0

    def _head_timed_out(self) -> None:
        self._head_timer = None
        self._refuse(
            408,
            "Request Timeout",
            f"the request line and headers did not arrive within {self.limits.timeout_s:g} s",
        )

    def _count_head(self, size: int, fields: int = 0) -> None:
        """Add to the head's size; raise _RefusedError (after recording a 431) when it is over a limit."""
        self._head_bytes += size
        self._head_fields += fields
        if self._head_bytes > self.limits.max_bytes:
            what = f"over {self.limits.max_bytes} bytes"
        elif self._head_fields > self.limits.max_fields:
            what = f"more than {self.limits.max_fields} header fields"
        else:
            return
        self._refusal = (431, "Request Header Fields Too Large", f"the request line and headers are {what}; send fewer")
        raise _RefusedError(what)

    def _refuse(self, status: int, reason: str, message: str) -> None:
        """Answer ``status`` (JSON ``{"error": message}``) and close the connection."""
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if self.transport.is_closing():
            return
        peer = f"{self.client[0]}:{self.client[1]}" if self.client else "unknown peer"
        logger.warning("refused a request from %s with %d: %s", peer, status, message)
        self.transport.write(_refusal_bytes(status, reason, message, self.server_state.default_headers))
        self.transport.close()

    def _refuse_pending_or_400(self, message: str) -> bool:
        """When a limit stopped the parser, answer its status; False to let uvicorn answer its own 400."""
        if self._refusal is None:
            return False
        self._refuse(*self._refusal)
        return True


class GuardedH11Protocol(_HeadGuard, H11Protocol):
    """uvicorn's h11 protocol with a header read timeout and header size/field limits."""

    def __init__(self, *args: Any, limits: HeadLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard_init(limits)
        self.conn = _GuardedConnection(self, h11.SERVER, limits.max_bytes + _READ_SIZE)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_complete()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        awaiting_head = self.conn.their_state is h11.IDLE
        if awaiting_head:
            self._arm_head_timer()
        super().data_received(data)
        if awaiting_head and self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            try:  # the head is still incomplete: every byte so far belongs to it
                self._count_head(len(data))
            except _RefusedError:
                self._refuse_pending_or_400("")

    def send_400_response(self, msg: str) -> None:
        if not self._refuse_pending_or_400(msg):
            super().send_400_response(msg)


class _GuardedConnection(h11.Connection):
    """h11's connection that checks each request head against the limits before uvicorn sees it."""

    def __init__(self, protocol: GuardedH11Protocol, our_role: Any, max_incomplete_event_size: int) -> None:
        super().__init__(our_role, max_incomplete_event_size=max_incomplete_event_size)
        self._protocol = protocol

    def next_event(self) -> Any:
        event = super().next_event()
        if isinstance(event, h11.Request):
            protocol = self._protocol
            protocol._head_bytes = 0
            size = len(event.method) + len(event.target) + 12 + sum(len(n) + len(v) + 4 for n, v in event.headers)
            try:
                protocol._count_head(size, len(event.headers))
            except _RefusedError as refused:
                raise h11.RemoteProtocolError(str(refused)) from None
            protocol._head_complete()
        return event


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _HttpToolsProtocol
except ImportError:  # httptools is optional: h11 serves then
    _HttpToolsProtocol = None  # type: ignore[misc,assignment]


if _HttpToolsProtocol is not None:

    class GuardedHttpToolsProtocol(_HeadGuard, _HttpToolsProtocol):
        """uvicorn's httptools protocol with a header read timeout and header size/field limits."""

        def __init__(self, *args: Any, limits: HeadLimits, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._guard_init(limits)
            self._in_head = False
            self._heads_begun = 0

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_head_timer()  # a silent connection is cut at the header timeout too

        def connection_lost(self, exc: Exception | None) -> None:
            self._head_complete()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            was_in_head, begun = self._in_head, self._heads_begun
            super().data_received(data)
            if was_in_head and self._in_head and begun == self._heads_begun and not self.transport.is_closing():
                try:  # a head still incomplete after a whole read: the parser is buffering it
                    self._count_head(len(data))
                except _RefusedError:
                    self._refuse_pending_or_400("")

        def send_400_response(self, msg: str) -> None:
            if not self._refuse_pending_or_400(msg):
                super().send_400_response(msg)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_head = True
            self._heads_begun += 1
            self._head_bytes = self._head_fields = 0
            self._arm_head_timer()

        def on_url(self, url: bytes) -> None:
            self._count_head(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count_head(len(name) + len(value) + 4, 1)
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._head_complete()
            super().on_headers_complete()

else:
    GuardedHttpToolsProtocol = None  # type: ignore[misc,assignment]


def protocol_factory(limits: HeadLimits, parser: str = "auto") -> Any:
    """The ``http=`` value for uvicorn: a guarded protocol (httptools when installed and asked for, else h11)."""
    if parser in ("auto", "httptools") and GuardedHttpToolsProtocol is not None:
        return functools.partial(GuardedHttpToolsProtocol, limits=limits)
    if parser == "httptools":
        raise ValueError("httptools is not installed; pip install httptools or use the h11 parser")
    return functools.partial(GuardedH11Protocol, limits=limits)


def uvicorn_options(settings: Settings, *, parser: str = "auto") -> dict[str, Any]:
    """uvicorn keyword arguments carrying every connection limit in ``settings`` (keep-alive in seconds, a float)."""
    return {
        "http": protocol_factory(HeadLimits.from_settings(settings), parser),
        "timeout_keep_alive": settings.keep_alive_s,
        "limit_concurrency": settings.max_connections or None,
        "h11_max_incomplete_event_size": settings.max_header_bytes + _READ_SIZE,
    }
