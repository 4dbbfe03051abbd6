"""One structured JSON log line per request, metrics per model version, JSON 500s for internal errors.

A pure ASGI middleware (no BaseHTTPMiddleware: it would cost throughput). Routes describe the
request by filling the :class:`RequestInfo` found with :func:`request_info`.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import IO, Any

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handlers.metrics import Metrics, emf_fields

__all__ = ["JsonFormatter", "ObservabilityMiddleware", "RequestInfo", "configure_logging", "request_info"]

_SCOPE_KEY = "maaskit.info"
_PAYLOAD_LOG_LIMIT = 4096
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


def _request_id(scope: Scope) -> str:
    context = scope.get("aws.context")
    if context is not None and getattr(context, "aws_request_id", None):
        return str(context.aws_request_id)
    for name, value in scope.get("headers", ()):
        if name in (b"x-request-id", b"x-amzn-requestid", b"x-amzn-trace-id"):
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
    ) -> None:
        self.app = app
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
        info = RequestInfo(self.log_payload)
        scope[_SCOPE_KEY] = info
        request_id = _request_id(scope)
        status = 500
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode("latin-1")))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            info.error = f"internal error: {type(exc).__name__}"
            logger.exception(
                "internal error while serving %s %s (request %s)", scope["method"], scope["path"], request_id
            )
            if not started:
                body = orjson.dumps({"error": f"internal server error (request id {request_id}); see the server log"})
                await send_wrapper(
                    {"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"application/json")]}
                )
                await send({"type": "http.response.body", "body": body})
        latency_ms = (time.perf_counter() - start) * 1000.0
        self._record(scope, info, request_id, status, latency_ms)

    def _record(self, scope: Scope, info: RequestInfo, request_id: str, status: int, latency_ms: float) -> None:
        if info.model is not None and self.metrics is not None:
            self.metrics.observe(info.model, info.version or "", info.protocol or "", status, latency_ms)
        if not self.access_log:
            return
        line: dict[str, Any] = {
            "time": round(time.time(), 3),
            "level": "INFO" if status < 500 else "ERROR",
            "request_id": request_id,
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "latency_ms": round(latency_ms, 3),
            "protocol": info.protocol,
            "model": info.model,
            "version": info.version,
        }
        if info.error is not None:
            line["error"] = info.error
        if info.payload is not None:
            line["payload"] = info.payload[:_PAYLOAD_LOG_LIMIT].decode("utf-8", "replace")
        if self.emf and info.model is not None:
            line.update(emf_fields(self.namespace, info.model, info.version or "", status, latency_ms))
        stream = self.stream or sys.stdout
        stream.write(orjson.dumps(line).decode() + "\n")


class JsonFormatter(logging.Formatter):
    """Application log records as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as JSON (exception text included when present)."""
        data: dict[str, Any] = {
            "time": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
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
