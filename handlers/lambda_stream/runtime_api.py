"""A client of the Lambda Runtime API (``2018-06-01``) that can stream a response.

The documented contract, as AWS's own runtime clients speak it:

- ``GET /2018-06-01/runtime/invocation/next`` blocks until an event arrives; the headers carry the
  request id (``Lambda-Runtime-Aws-Request-Id``), the deadline (``Lambda-Runtime-Deadline-Ms``), the
  function ARN and the trace id.
- ``POST /2018-06-01/runtime/invocation/{id}/response`` answers it. Streamed, the request declares
  ``Lambda-Runtime-Function-Response-Mode: streaming``, ``Transfer-Encoding: chunked`` and its trailers
  up front (``Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body``); a
  failure after the first byte is reported in those trailers (the body one is base64 of the JSON error
  document), since the status line has long gone.
- With SnapStart, ``GET /2018-06-01/runtime/restore/next`` ends the init phase: Lambda snapshots the
  process while the call is open and answers it once the snapshot is restored;
  ``POST /2018-06-01/runtime/restore/error`` reports a failed after-restore step.
- ``POST /2018-06-01/runtime/invocation/{id}/error`` reports a failure before any byte was sent, and
  ``POST /2018-06-01/runtime/init/error`` one during initialisation; both carry
  ``Lambda-Runtime-Function-Error-Type`` and a JSON body ``{"errorType", "errorMessage", "stackTrace"}``.

HTTP/1.1 framing (chunks, trailers) is h11's; the sockets are asyncio's, so a token written by the
app leaves at once and the event loop keeps serving the generation while the runtime waits.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import h11
import orjson

__all__ = [
    "Invocation",
    "LambdaContext",
    "ResponseStream",
    "RuntimeApiClient",
    "RuntimeApiError",
    "StreamBrokenError",
    "error_document",
]

API_VERSION = "2018-06-01"
REQUEST_ID = "lambda-runtime-aws-request-id"
DEADLINE_MS = "lambda-runtime-deadline-ms"
FUNCTION_ARN = "lambda-runtime-invoked-function-arn"
TRACE_ID = "lambda-runtime-trace-id"
RESPONSE_MODE = "Lambda-Runtime-Function-Response-Mode"
ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"
ERROR_BODY = "Lambda-Runtime-Function-Error-Body"
_READ_BYTES = 65536


class RuntimeApiError(RuntimeError):
    """The Runtime API refused a call or could not be reached."""


class StreamBrokenError(ConnectionError):
    """The Runtime API stopped taking the streamed response (the client went away, or the deadline passed)."""


def error_document(error_type: str, message: str, stack: Sequence[str] = ()) -> dict[str, Any]:
    """The JSON error document Lambda records for a failed invocation."""
    return {"errorType": error_type, "errorMessage": message, "stackTrace": list(stack)}


@dataclass(frozen=True)
class Invocation:
    """One event handed out by ``/invocation/next``."""

    request_id: str
    deadline_ms: int
    function_arn: str
    trace_id: str
    event: Any


class LambdaContext:
    """The context object handlers receive (the fields Mangum and maaskit read)."""

    def __init__(self, invocation: Invocation, function_name: str, memory_mb: str, version: str) -> None:
        self.aws_request_id = invocation.request_id
        self.invoked_function_arn = invocation.function_arn
        self.function_name = function_name
        self.function_version = version
        self.memory_limit_in_mb = memory_mb
        self._deadline_ms = invocation.deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before Lambda stops the invocation."""
        return max(0, self._deadline_ms - int(time.time() * 1000))


class _Connection:
    """One HTTP/1.1 connection to the Runtime API (a new one per call, as the call may stream for minutes)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader = reader
        self.writer = writer
        self.host = host
        self.h11 = h11.Connection(h11.CLIENT)

    async def send(self, event: h11.Event) -> None:
        data = self.h11.send(event)
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def response(self) -> tuple[int, dict[str, str], bytes]:
        """Read the whole answer: status, headers (lower-case names), body."""
        status, headers, body = 0, {}, bytearray()
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                data = await self.reader.read(_READ_BYTES)
                self.h11.receive_data(data)
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                headers = {name.decode().lower(): value.decode() for name, value in event.headers}
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                return status, headers, bytes(body)

    def close(self) -> None:
        self.writer.close()


class ResponseStream:
    """A response being streamed to ``/invocation/{id}/response`` (see the module docstring)."""

    def __init__(self, connection: _Connection, request_id: str) -> None:
        self._connection = connection
        self.request_id = request_id
        self.closed = False

    @property
    def broken(self) -> bool:
        """True once the Runtime API answered or dropped the connection before the stream ended."""
        return self._connection.reader.at_eof() or self._connection.writer.is_closing()

    async def write(self, data: bytes) -> None:
        """Send ``data`` as one chunk now; StreamBrokenError when the other end stopped reading."""
        if not data:
            return
        if self.broken:
            raise StreamBrokenError(f"invocation {self.request_id}: the Runtime API closed the response stream")
        try:
            await self._connection.send(h11.Data(data=data))
        except (ConnectionError, OSError, h11.LocalProtocolError) as exc:
            raise StreamBrokenError(f"invocation {self.request_id}: {type(exc).__name__}: {exc}") from None

    async def finish(self, error: Mapping[str, Any] | None = None) -> None:
        """End the stream, with the error trailers when ``error`` (an :func:`error_document`) is given."""
        if self.closed:
            return
        self.closed = True
        trailers: list[tuple[str, str]] = []
        if error is not None:
            encoded = base64.b64encode(orjson.dumps(dict(error))).decode()
            trailers = [(ERROR_TYPE, str(error.get("errorType", "Runtime.Error"))), (ERROR_BODY, encoded)]
        try:
            await self._connection.send(h11.EndOfMessage(headers=trailers))
            status, _, body = await asyncio.wait_for(self._connection.response(), timeout=30)
        except (ConnectionError, OSError, h11.ProtocolError, TimeoutError):
            return  # the client is gone: nothing is left to tell anyone
        finally:
            self._connection.close()
        if status >= 400:
            raise RuntimeApiError(f"the Runtime API refused the streamed response ({status}): {body[:300]!r}")


class RuntimeApiClient:
    """Calls to the Runtime API at ``host:port`` (``AWS_LAMBDA_RUNTIME_API``)."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise RuntimeApiError(f"AWS_LAMBDA_RUNTIME_API is {address!r}; expected host:port")
        self.host, self.port = host, int(port)

    async def _connect(self) -> _Connection:
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError as exc:
            raise RuntimeApiError(f"cannot reach the Runtime API at {self.host}:{self.port}: {exc}") from None
        return _Connection(reader, writer, f"{self.host}:{self.port}")

    async def _call(self, method: str, path: str, body: bytes = b"", headers: Sequence[tuple[str, str]] = ()) -> bytes:
        connection = await self._connect()
        try:
            request_headers = [("Host", connection.host), ("Content-Length", str(len(body))), *headers]
            await connection.send(h11.Request(method=method, target=path, headers=request_headers))
            if body:
                await connection.send(h11.Data(data=body))
            await connection.send(h11.EndOfMessage())
            status, _, answer = await connection.response()
        finally:
            connection.close()
        if status >= 400:
            raise RuntimeApiError(f"{method} {path} answered {status}: {answer[:300]!r}")
        return answer

    async def next_invocation(self) -> Invocation:
        """Wait for the next event."""
        connection = await self._connect()
        path = f"/{API_VERSION}/runtime/invocation/next"
        try:
            await connection.send(h11.Request(method="GET", target=path, headers=[("Host", connection.host)]))
            await connection.send(h11.EndOfMessage())
            status, headers, body = await connection.response()
        finally:
            connection.close()
        if status != 200 or REQUEST_ID not in headers:
            raise RuntimeApiError(f"GET {path} answered {status}: {body[:300]!r}")
        return Invocation(
            request_id=headers[REQUEST_ID],
            deadline_ms=int(headers.get(DEADLINE_MS, "0") or 0),
            function_arn=headers.get(FUNCTION_ARN, ""),
            trace_id=headers.get(TRACE_ID, ""),
            event=orjson.loads(body) if body else None,
        )

    async def respond(self, request_id: str, body: bytes, content_type: str = "application/json") -> None:
        """A buffered response (the whole answer at once)."""
        path = f"/{API_VERSION}/runtime/invocation/{request_id}/response"
        await self._call("POST", path, body, [("Content-Type", content_type)])

    async def open_stream(self, request_id: str, content_type: str) -> ResponseStream:
        """Start a streamed response: headers sent now, chunks as :meth:`ResponseStream.write` gives them."""
        connection = await self._connect()
        headers = [
            ("Host", connection.host),
            (RESPONSE_MODE, "streaming"),
            ("Content-Type", content_type),
            ("Transfer-Encoding", "chunked"),
            ("Trailer", f"{ERROR_TYPE}, {ERROR_BODY}"),
        ]
        path = f"/{API_VERSION}/runtime/invocation/{request_id}/response"
        await connection.send(h11.Request(method="POST", target=path, headers=headers))
        return ResponseStream(connection, request_id)

    async def invocation_error(self, request_id: str, error: Mapping[str, Any]) -> None:
        """Report an invocation that failed before any byte of its response was sent."""
        path = f"/{API_VERSION}/runtime/invocation/{request_id}/error"
        await self._call("POST", path, orjson.dumps(dict(error)), [(ERROR_TYPE, str(error["errorType"]))])

    async def restore_next(self) -> None:
        """SnapStart: hand the initialised process over to be snapshotted; returns once it has been restored."""
        await self._call("GET", f"/{API_VERSION}/runtime/restore/next")

    async def restore_error(self, error: Mapping[str, Any]) -> None:
        """SnapStart: report that the after-restore step failed."""
        path = f"/{API_VERSION}/runtime/restore/error"
        await self._call("POST", path, orjson.dumps(dict(error)), [(ERROR_TYPE, str(error["errorType"]))])

    async def init_error(self, error: Mapping[str, Any]) -> None:
        """Report that the function could not initialise (Lambda then fails the invocation and retries init)."""
        path = f"/{API_VERSION}/runtime/init/error"
        await self._call("POST", path, orjson.dumps(dict(error)), [(ERROR_TYPE, str(error["errorType"]))])
