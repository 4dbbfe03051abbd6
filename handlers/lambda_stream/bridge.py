"""One HTTP event through the ASGI app, its answer streamed to the Runtime API as it is written.

Function URLs (``InvokeMode: RESPONSE_STREAM``) and API Gateway REST integrations with
``ResponseTransferMode: STREAM`` take a streamed answer in the *HTTP integration* shape: content type
``application/vnd.awslambda.http-integration-response``, then a JSON prelude (``statusCode``,
``headers``, ``cookies``; REST also reads ``multiValueHeaders``), then 8 NUL bytes, then the body as
the app writes it. The prelude leaves with the app's ``http.response.start``, so a client sees the
status and the first token while the model is still generating.

The event becomes an ASGI scope as Mangum makes it for the buffered path (the same handlers, the
same base path), so a route behaves the same streamed or buffered. When the Runtime API stops taking
the stream (the client went away), the app's ``receive()`` answers ``http.disconnect`` and its next
write raises, so the generation stops within a token step. An exception after the first byte ends the
stream with the error trailers; one before it is reported as the invocation's error.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from handlers.lambda_stream.runtime_api import (
    Invocation,
    ResponseStream,
    RuntimeApiClient,
    StreamBrokenError,
    error_document,
)

__all__ = ["DELIMITER", "PRELUDE_CONTENT_TYPE", "StreamedInvocation", "prelude", "split_prelude"]

PRELUDE_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"
DELIMITER = b"\x00" * 8
#: Lambda refuses a stream whose prelude has not ended within its first 16 KB.
MAX_PRELUDE_BYTES = 16 * 1024

Message = MutableMapping[str, Any]
ASGIApp = Callable[[Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]
logger = logging.getLogger("maaskit.lambda.stream")


def prelude(status: int, raw_headers: list[tuple[bytes, bytes]], *, multi_value: bool) -> bytes:
    """The JSON prelude and its delimiter for an answer's status and headers.

    Set-Cookie headers go to ``cookies`` (Function URL / HTTP API) and to ``multiValueHeaders`` (REST); other
    repeated headers are joined with commas, as HTTP allows.
    """
    headers: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    cookies: list[str] = []
    for raw_name, raw_value in raw_headers:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        multi.setdefault(name, []).append(value)
        if name == "set-cookie":
            cookies.append(value)
            continue
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    document: dict[str, Any] = {"statusCode": status, "headers": headers, "cookies": cookies}
    if multi_value:
        document["multiValueHeaders"] = multi
    encoded = orjson.dumps(document)
    if len(encoded) + len(DELIMITER) > MAX_PRELUDE_BYTES:
        raise ValueError(f"the answer's headers take {len(encoded)} bytes; Lambda allows a 16 KB prelude")
    return encoded + DELIMITER


def split_prelude(payload: bytes) -> tuple[dict[str, Any], bytes]:
    """The prelude document and the body of a streamed HTTP integration answer (e.g. read back by ``Invoke``)."""
    head, found, body = payload.partition(DELIMITER)
    if not found:
        raise ValueError("the payload has no HTTP integration prelude (no 8-NUL delimiter)")
    return orjson.loads(head), body


class StreamedInvocation:
    """Runs one invocation's event through ``app`` and streams the answer (see the module docstring)."""

    def __init__(self, client: RuntimeApiClient, invocation: Invocation, scope: Message, body: bytes) -> None:
        self.client = client
        self.invocation = invocation
        self.scope = scope
        self.body = body
        self.multi_value = "multiValueHeaders" in (invocation.event or {})
        self.stream: ResponseStream | None = None
        self.disconnected = asyncio.Event()
        self.completed = False
        self._request_sent = False

    async def receive(self) -> Message:
        """The request body once, then ``http.disconnect`` when the client goes away (or the answer ended)."""
        if not self._request_sent:
            self._request_sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self.disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        """Prelude on ``http.response.start``, each body part as a chunk, the end on the last part."""
        if self.disconnected.is_set() and not self.completed:
            raise StreamBrokenError("the client went away")
        kind = message["type"]
        if kind == "http.response.start":
            head = prelude(int(message["status"]), list(message.get("headers", [])), multi_value=self.multi_value)
            self.stream = await self.client.open_stream(self.invocation.request_id, PRELUDE_CONTENT_TYPE)
            await self._write(head)
        elif kind == "http.response.body" and self.stream is not None:
            await self._write(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                self.completed = True
                await self.stream.finish()
                self.disconnected.set()  # the answer is complete: a listening app may stop listening

    async def _write(self, data: bytes) -> None:
        assert self.stream is not None
        try:
            await self.stream.write(data)
        except StreamBrokenError:
            self.disconnected.set()
            raise

    async def run(self, app: ASGIApp) -> None:
        """Run the app on the event; never raises (failures are reported to the Runtime API)."""
        try:
            await app(self.scope, self.receive, self.send)
        except StreamBrokenError:
            logger.info("invocation %s: the client went away; the answer was stopped", self.invocation.request_id)
            await self._close_quietly()
            return
        except Exception as exc:  # the app's own error handling did not answer: report it the Lambda way
            logger.exception("invocation %s failed", self.invocation.request_id)
            await self._fail(error_document(type(exc).__name__, str(exc) or type(exc).__name__, _stack(exc)))
            return
        if self.stream is None:
            await self._fail(error_document("Runtime.NoResponse", "the app ended without answering"))
        elif not self.completed:
            self.completed = True
            await self.stream.finish()

    async def _fail(self, error: dict[str, Any]) -> None:
        if self.stream is None:
            await self.client.invocation_error(self.invocation.request_id, error)
        elif not self.stream.closed:
            await self.stream.finish(error)

    async def _close_quietly(self) -> None:
        if self.stream is not None and not self.stream.closed:
            try:
                await self.stream.finish(error_document("Runtime.ClientGone", "the client closed the connection"))
            except Exception:
                logger.debug("closing a broken stream failed", exc_info=True)


def _stack(exc: BaseException) -> list[str]:
    return [line.rstrip() for line in traceback.format_tb(exc.__traceback__)][-10:]
