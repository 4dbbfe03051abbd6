"""Per-request limits as ASGI middleware: body read rate, total request time, and the platform's answer size.

- Body: a request has ``body_timeout_s`` plus one second for every ``body_min_rate`` bytes received
  to deliver its body (Apache mod_reqtimeout's ``body=T,MinRate=R``); a slower body is a 408 in the
  protocol's shape (raised from ``receive`` as :class:`~handlers.errors.RequestTimeoutError`, which
  the routes render) and the connection is closed.
- Total: ``request_timeout_s`` from the request head to the answer's first byte: 408 while the body
  is still arriving, 504 after. Once the answer has started, the limit is lifted (a stream runs on).
- Answer: an answer larger than ``max_response_bytes`` *as the platform carries it* (on Lambda,
  JSON-escaped text or base64 binary inside the invocation response), or than the cap its event source
  put in the scope (:data:`RESPONSE_CAP`: an ALB carries 1 MB to Lambda, not 6), is replaced by a 413 in
  the protocol's shape that says what that protocol's client can do (``advise``: a binary answer, fewer
  rows), instead of the opaque platform error the client would get. The figures come from
  :mod:`bundle.limits`. An event stream (``text/event-stream``) is never held: it is sent as it comes.

Header timeouts and sizes are the connection's (:mod:`handlers.connections`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handlers.errors import RequestTimeoutError
from handlers.observability import request_info
from handlers.settings import Settings

__all__ = ["RESPONSE_CAP", "RequestLimits", "RequestLimitsMiddleware", "answer_limit", "carried_size"]

#: A route-shaped error answer: (request, status, message) -> response (the app's protocol-aware renderer).
ErrorRenderer = Callable[[Request, int, str], Response]
#: What the route's client can do about an answer over the limit (the app's, per protocol).
Advice = Callable[[Request], str]
#: Scope key: ``(bytes, carrier)``, the largest answer the event's source carries (set by the Lambda entry).
RESPONSE_CAP = "maaskit.response_cap"

_TEXT_TYPES = ("text/", "application/json", "application/javascript", "application/xml", "application/vnd")
_ENVELOPE_BYTES = 4096  # statusCode, headers and keys of the Lambda response around the body


@dataclass(frozen=True)
class RequestLimits:
    """Time a request may take and the size its answer may have (0 turns a limit off)."""

    body_timeout_s: float = 0.0
    body_min_rate: int = 16384
    request_timeout_s: float = 0.0
    max_response_bytes: int = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> RequestLimits:
        """The limits the settings ask for."""
        return cls(
            settings.body_timeout_s, settings.body_min_rate, settings.request_timeout_s, settings.max_response_bytes
        )

    @property
    def active(self) -> bool:
        """Whether any limit is on (else the middleware is not installed)."""
        return bool(self.body_timeout_s or self.request_timeout_s or self.max_response_bytes)


def carried_size(body: bytes, content_type: str, on_lambda: bool) -> int:
    """The bytes ``body`` costs the platform: itself, or on Lambda its JSON-escaped text or base64 form."""
    if not on_lambda:
        return len(body)
    if not content_type.startswith(_TEXT_TYPES):
        return 4 * ((len(body) + 2) // 3) + _ENVELOPE_BYTES
    if len(body) * 6 < 1024 * 1024:
        return len(body) * 6 + _ENVELOPE_BYTES  # a bound: no escape is longer than six bytes
    return len(json.dumps(body.decode("utf-8", "replace"))) + _ENVELOPE_BYTES


def answer_limit(scope: Scope, configured: int) -> tuple[int, str]:
    """The answer limit of this request and who sets it: the tighter of ``configured`` and the event source's cap."""
    cap: tuple[int, str] | None = scope.get(RESPONSE_CAP)
    if cap is not None and (not configured or cap[0] < configured):
        return cap
    return configured, "this platform"


def _header(message: Message, name: bytes) -> str:
    for key, value in message.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1")).lower()
    return ""


class RequestLimitsMiddleware:
    """Enforces :class:`RequestLimits` on every HTTP request (see the module docstring)."""

    def __init__(
        self, app: ASGIApp, *, limits: RequestLimits, render: ErrorRenderer, advise: Advice | None = None
    ) -> None:
        self.app = app
        self.limits = limits
        self.render = render
        self.advise = advise

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(self, scope, receive, send)
        await exchange.run()


class _Exchange:
    """One request's state under the limits."""

    def __init__(self, middleware: RequestLimitsMiddleware, scope: Scope, receive: Receive, send: Send) -> None:
        self.app = middleware.app
        self.limits = middleware.limits
        self.render = middleware.render
        self.advise = middleware.advise
        self.scope = scope
        self._receive = receive
        self._send = send
        self.loop = asyncio.get_running_loop()
        self.start = self.loop.time()
        self.received = 0
        self.body_done = False
        self.timed_out = False
        self.started = False
        self.held: Message | None = None
        self.chunks: list[bytes] = []
        self.deadline: asyncio.Timeout | None = None

    async def run(self) -> None:
        total = self.limits.request_timeout_s
        receive = self.receive if self.limits.body_timeout_s else self._receive
        send = self.send
        try:
            if total:
                deadline = self.deadline = asyncio.timeout(total)
                try:
                    async with deadline:
                        await self.app(self.scope, receive, send)
                except TimeoutError:
                    if not deadline.expired():
                        raise
                    await self._request_timed_out(total)
            else:
                await self.app(self.scope, receive, send)
        except RequestTimeoutError as error:  # a route that did not render it
            await self._answer(408, error.message)

    async def receive(self) -> Message:
        if self.body_done:
            return await self._receive()
        allowance = self.limits.body_timeout_s + self.received / max(self.limits.body_min_rate, 1)
        remaining = self.start + allowance - self.loop.time()
        try:
            if remaining <= 0:
                raise TimeoutError
            async with asyncio.timeout(remaining):
                message = await self._receive()
        except TimeoutError:
            self.timed_out = True
            raise RequestTimeoutError(
                f"the request body arrived too slowly ({self.received} bytes in "
                f"{self.loop.time() - self.start:.1f} s; this server needs the first bytes within "
                f"{self.limits.body_timeout_s:g} s and {self.limits.body_min_rate} bytes/s after)"
            ) from None
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.body_done = not message.get("more_body", False)
        else:
            self.body_done = True
        return message

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self.timed_out:
                message = {**message, "headers": [*message.get("headers", ()), (b"connection", b"close")]}
            streamed = _header(message, b"content-type").startswith("text/event-stream")
            if (self.limits.max_response_bytes or RESPONSE_CAP in self.scope) and not streamed:
                self.held = message
                return
            self.started = True
            if self.deadline is not None:  # the limit runs to the first byte: a stream runs on
                self.deadline.reschedule(None)
            await self._send(message)
            return
        if kind != "http.response.body" or self.held is None:
            await self._send(message)
            return
        self.chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(self.chunks)
        held, self.held, self.chunks = self.held, None, []
        limit, carrier = answer_limit(self.scope, self.limits.max_response_bytes)
        size = carried_size(body, _header(held, b"content-type"), "aws.event" in self.scope)
        if size > limit:
            advice = self.advise(Request(self.scope)) if self.advise else "send fewer rows per request"
            await self._answer(
                413, f"the answer is {size} bytes as {carrier} carries it, over its {limit}-byte limit; {advice}"
            )
            return
        self.started = True
        await self._send(held)
        await self._send({"type": "http.response.body", "body": body})

    async def _request_timed_out(self, total: float) -> None:
        if self.started:
            return  # the answer is on its way; the server closes the connection when it ends
        self.timed_out = not self.body_done
        if not self.body_done:
            await self._answer(408, f"the request body did not arrive within this server's {total:g} s request limit")
        else:
            await self._answer(504, f"no answer within this server's {total:g} s request limit; send fewer rows")

    async def _answer(self, status: int, message: str) -> None:
        request = Request(self.scope)
        info = request_info(request)
        if info is not None:
            info.error = message
        response = self.render(request, status, message)
        if self.timed_out or status in (408, 504):
            response.headers["connection"] = "close"
        self.held, self.started = None, True
        await response(self.scope, self._receive, self._send)
