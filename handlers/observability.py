"""One structured JSON log line per request, metrics per model version, 500s for internal errors.

A pure ASGI middleware (no BaseHTTPMiddleware: it would cost throughput). Routes describe the
request by filling the :class:`RequestInfo` found with :func:`request_info`.

A client that goes away before its request is read is not a server error: it is logged with status
499 (nginx's "client closed request"), counted as ``client_disconnects`` and in no error count, so
it can never page anyone or roll a deployment back. Every logged field is capped in length. Each line
also says who called and what the answer consumed (:mod:`handlers.metering`: consumer, key id or IAM
principal, route, tokens, audio seconds), as log fields and, in EMF mode, metrics per consumer and
model; a sampled request and its answer go to the data-capture writer (:mod:`handlers.capture`). An
unexpected exception is answered 500 by ``render`` (the app's: in the shape of the route's protocol, so
an OpenAI client gets its error object and a Triton client OIP's), or a plain JSON error without one.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from typing import IO, Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bundle import names
from handlers.capture import CaptureWriter
from handlers.metering import metering_directive, metering_fields
from handlers.metrics import CLIENT_CLOSED_REQUEST, Metrics, emf_fields

__all__ = [
    "CLIENT_CLOSED_REQUEST",
    "JsonFormatter",
    "ObservabilityMiddleware",
    "RequestInfo",
    "cap",
    "configure_logging",
    "request_info",
]

_SCOPE_KEY = "maaskit.info"
_REQUEST_ID = names.REQUEST_ID_HEADER.lower().encode()
#: Headers whose value becomes the request id (ours, then API Gateway's, then X-Ray's), as ASGI spells them.
_REQUEST_ID_HEADERS = tuple(
    header.lower().encode()
    for header in (names.REQUEST_ID_HEADER, names.AMZN_REQUEST_ID_HEADER, names.AMZN_TRACE_ID_HEADER)
)
_PAYLOAD_LOG_LIMIT = 4096
#: Longest value of a logged field (path, model, version, error...); longer ones are cut and marked.
FIELD_LOG_LIMIT = 512
_MESSAGE_LOG_LIMIT = 2048
#: A route-shaped error answer: (request, status, message) -> response.
ErrorRenderer = Callable[[Request, int, str], Response]
logger = logging.getLogger("maaskit.server")


class RequestInfo:
    """What a route learned about the request (filled in as it goes), logged when the response ends."""

    __slots__ = ("error", "log_payload", "model", "payload", "protocol", "version")

    def __init__(self, log_payload: bool) -> None:
        self.model: str | None = None
        self.version: str | None = None
        self.protocol: str | None = None
        self.error: str | None = None
        self.payload: bytes | None = None
        self.log_payload = log_payload

    def describe(self, protocol: str, model: str | None = None, version: str | None = None) -> None:
        """Record the protocol and, once resolved, the model version serving the request."""
        self.protocol = protocol
        if model is not None:
            self.model = model
            self.version = version


def request_info(request: Request) -> RequestInfo | None:
    """The RequestInfo of this request (None when the middleware is not installed)."""
    info: RequestInfo | None = request.scope.get(_SCOPE_KEY)
    return info


def cap(value: str | None, limit: int = FIELD_LOG_LIMIT) -> str | None:
    """``value`` cut to ``limit`` characters (marked with how much was cut), None unchanged."""
    if value is None or len(value) <= limit:
        return value
    return f"{value[:limit]}...[{len(value) - limit} more characters]"


def _request_id(scope: Scope) -> str:
    context = scope.get("aws.context")
    if context is not None and getattr(context, "aws_request_id", None):
        return str(context.aws_request_id)
    for name, value in scope.get("headers", ()):
        if name in _REQUEST_ID_HEADERS:
            return str(value.decode("latin-1")[:128])
    return os.urandom(16).hex()  # random 128-bit id, cheaper than uuid4().hex


class ObservabilityMiddleware:
    """Times each HTTP request, logs one JSON line, records metrics, turns crashes into JSON 500s."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics | None,
        metrics_mode: str,
        access_log: bool,
        log_payload: bool,
        namespace: str,
        stream: IO[str] | None = None,
        render: ErrorRenderer | None = None,
        capture: CaptureWriter | None = None,
    ) -> None:
        self.app = app
        self.capture = capture
        self.render = render
        self.metrics = metrics
        self.emf = metrics_mode == "emf"
        self.access_log = access_log
        self.log_payload = log_payload
        self.namespace = namespace
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        captured = self.capture is not None and self.capture.sampled()
        info = RequestInfo(self.log_payload or captured)  # read_body keeps the body when log_payload is set
        scope[_SCOPE_KEY] = info
        request_id = _request_id(scope)
        status = 500
        started = False
        answer: list[bytes] = []
        answer_type = ""
        answer_size = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started, answer_type, answer_size
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                message.setdefault("headers", []).append((_REQUEST_ID, request_id.encode("latin-1")))
                if captured:
                    answer_type = _header(message.get("headers", ()), b"content-type")
            elif captured and message["type"] == "http.response.body" and answer_size <= _CAPTURE_LIMIT:
                answer.append(message.get("body", b""))
                answer_size += len(answer[-1])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except ClientDisconnect:
            status = CLIENT_CLOSED_REQUEST  # nothing to answer: nobody is listening
            info.error = "the client closed the connection before its request was read"
        except Exception as exc:
            info.error = f"internal error: {type(exc).__name__}"
            logger.exception(
                "internal error while serving %s %s (request %s)", scope["method"], scope["path"], request_id
            )
            if not started:
                await self._internal_error(scope, receive, send_wrapper, request_id)
                info.error = f"internal error: {type(exc).__name__}"
        latency_ms = (time.perf_counter() - start) * 1000.0
        self._record(scope, info, request_id, status, latency_ms)
        if captured and info.model is not None:
            self._capture(scope, info, request_id, status, (b"".join(answer), answer_type))

    def _capture(
        self, scope: Scope, info: RequestInfo, request_id: str, status: int, answer: tuple[bytes, str]
    ) -> None:
        """Hand the exchange to the capture writer (sampling, redaction and the write happen off this path)."""
        assert self.capture is not None
        fields = metering_fields(scope)
        meta = {
            "time": round(time.time(), 3),
            "request_id": request_id,
            "model": info.model,
            "version": info.version,
            "protocol": info.protocol,
            "route": fields["route"],
            "status": status,
            "consumer": fields["consumer"],
        }
        request_type = _header(scope.get("headers", ()), b"content-type")
        try:
            self.capture.offer(meta, (info.payload, request_type), answer)
        except Exception:  # capture must never fail an answer
            logger.exception("data capture failed for request %s", request_id)

    async def _internal_error(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        """The 500 answer: in the route's protocol shape when the app gave a renderer."""
        message = f"internal server error (request id {request_id}); see the server log"
        if self.render is not None:
            try:
                await self.render(Request(scope, receive), 500, message)(scope, receive, send)
                return
            except Exception:  # a renderer that fails must not leave the client without an answer
                logger.exception("the error renderer failed (request %s)", request_id)
        body = orjson.dumps({"error": message})
        await send({"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    def _record(self, scope: Scope, info: RequestInfo, request_id: str, status: int, latency_ms: float) -> None:
        if info.model is not None and self.metrics is not None:
            self.metrics.observe(info.model, info.version or "", info.protocol or "", status, latency_ms)
        if not self.access_log:
            return
        line: dict[str, Any] = {
            "time": round(time.time(), 3),
            "level": "INFO" if status < 500 else "ERROR",
            "request_id": cap(request_id),
            "method": cap(scope["method"]),
            "path": cap(scope["path"]),
            "status": status,
            "latency_ms": round(latency_ms, 3),
            "protocol": info.protocol,
            "model": cap(info.model),
            "version": cap(info.version),
        }
        if info.error is not None:
            line["error"] = cap(info.error, _MESSAGE_LOG_LIMIT)
        line.update(metering_fields(scope))
        if info.payload is not None and self.log_payload:
            line["payload"] = info.payload[:_PAYLOAD_LOG_LIMIT].decode("utf-8", "replace")
        if self.emf and info.model is not None:
            line.update(emf_fields(self.namespace, info.model, info.version or "", status, latency_ms))
            line["_aws"]["CloudWatchMetrics"].append(metering_directive(self.namespace))
            dropped = self.capture.take_dropped() if self.capture is not None else 0
            if dropped:
                line["CaptureDropped"] = dropped
                line["_aws"]["CloudWatchMetrics"][0]["Metrics"].append({"Name": "CaptureDropped", "Unit": "Count"})
        stream = self.stream or sys.stdout
        stream.write(orjson.dumps(line).decode() + "\n")


_CAPTURE_LIMIT = 256 * 1024


def _header(headers: Any, name: bytes) -> str:
    for key, value in headers:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""


class JsonFormatter(logging.Formatter):
    """Application log records as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as JSON (exception text included when present)."""
        data: dict[str, Any] = {
            "time": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "message": cap(record.getMessage(), _MESSAGE_LOG_LIMIT),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(data).decode()


def configure_logging(level: int = logging.INFO) -> None:
    """Send the ``maaskit`` loggers to stderr as JSON lines (idempotent)."""
    root = logging.getLogger("maaskit")
    if any(isinstance(handler.formatter, JsonFormatter) for handler in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
