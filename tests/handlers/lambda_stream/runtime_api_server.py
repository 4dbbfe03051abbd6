"""A local Lambda Runtime API for tests, speaking the documented contract and checking the runtime against it.

Written from AWS's documentation of the Runtime API and of response streaming, independently of
maaskit's client (it spells every path and header itself): ``GET /2018-06-01/runtime/invocation/next``
hands out queued events with the ``Lambda-Runtime-*`` headers; ``POST .../{id}/response`` takes a
buffered or a streamed answer (``Lambda-Runtime-Function-Response-Mode: streaming``, chunked, trailers
declared in ``Trailer`` before they are sent) and records every chunk with the time it arrived;
``.../{id}/error``, ``/runtime/init/error`` and ``/runtime/restore/error`` record errors;
``/runtime/restore/next`` (SnapStart) counts a snapshot and answers at once, as after a restore.
``drop_after`` closes a streamed answer's connection after that many body bytes, as Lambda does when
the caller goes away.
"""

from __future__ import annotations

import base64
import json
import queue
import socket
import socketserver
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import h11

PREFIX = "/2018-06-01/runtime"
HTTP_PRELUDE = "application/vnd.awslambda.http-integration-response"


@dataclass
class Recorded:
    """What the runtime sent for one invocation."""

    request_id: str
    kind: str = ""  # "response" | "error"
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    trailers: dict[str, str] = field(default_factory=dict)
    complete: bool = False
    dropped: bool = False
    problems: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def body(self) -> bytes:
        return b"".join(chunk for _, chunk in self.chunks)

    @property
    def streamed(self) -> bool:
        return self.headers.get("lambda-runtime-function-response-mode") == "streaming"

    def http(self) -> tuple[dict[str, Any], bytes]:
        """The prelude document and the body of an HTTP integration answer."""
        head, _, rest = self.body.partition(b"\x00" * 8)
        return json.loads(head), rest

    def error(self) -> dict[str, Any] | None:
        """The error document: the body of an /error call, or the base64 trailer of a stream."""
        if self.kind == "error":
            return json.loads(self.body)
        encoded = self.trailers.get("lambda-runtime-function-error-body")
        return json.loads(base64.b64decode(encoded)) if encoded else None


class RuntimeApi:
    """Start with :meth:`start`, queue events with :meth:`invoke`, read what came back from its ``Recorded``."""

    def __init__(self, drop_after: int | None = None) -> None:
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.recorded: dict[str, Recorded] = {}
        self.init_errors: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.drop_after = drop_after
        self.init_error_seen = threading.Event()
        self.snapshots = 0
        self._stopping = threading.Event()
        self._server: socketserver.ThreadingTCPServer | None = None

    @property
    def address(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> RuntimeApi:
        api = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                api._handle(self.request)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def invoke(self, event: Any) -> Recorded:
        """Queue ``event``; the returned record fills in as the runtime answers (wait on ``.done``)."""
        request_id = str(uuid.uuid4())
        self.recorded[request_id] = Recorded(request_id)
        self.events.put((request_id, event))
        return self.recorded[request_id]

    # -- the server side -----------------------------------------------------------------------
    def _handle(self, sock: socket.socket) -> None:
        connection = h11.Connection(h11.SERVER)
        request: h11.Request | None = None
        record: Recorded | None = None
        body_bytes = 0
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return
                connection.receive_data(data)
                if not data:
                    return
                continue
            if isinstance(event, h11.Request):
                request = event
                target = event.target.decode()
                headers = {name.decode().lower(): value.decode() for name, value in event.headers}
                if event.method == b"GET" and target == f"{PREFIX}/invocation/next":
                    self._next(sock, connection)
                    return
                if event.method == b"GET" and target == f"{PREFIX}/restore/next":
                    self.snapshots += 1  # the snapshot is taken and restored while this call is open
                    self._reply(sock, connection, 200, b"")
                    return
                record = self._record_for(target, headers)
                continue
            if isinstance(event, h11.Data) and record is not None:
                record.chunks.append((time.perf_counter(), bytes(event.data)))
                body_bytes += len(event.data)
                if self.drop_after is not None and record.streamed and body_bytes >= self.drop_after:
                    record.dropped = True
                    record.done.set()
                    sock.close()  # the caller went away: Lambda stops taking the stream
                    return
                continue
            if isinstance(event, h11.EndOfMessage):
                if record is not None:
                    record.trailers = {name.decode().lower(): value.decode() for name, value in event.headers}
                    record.complete = True
                    self._check(record)
                    if record.kind == "init":
                        self.init_errors.append((record.headers, json.loads(record.body)))
                        self.init_error_seen.set()
                    record.done.set()
                self._reply(sock, connection, 202 if request is not None else 400, b'{"status":"OK"}')
                return
            return

    def _record_for(self, target: str, headers: dict[str, str]) -> Recorded:
        if target in (f"{PREFIX}/init/error", f"{PREFIX}/restore/error"):
            return Recorded("init", kind="init", headers=headers)
        parts = target.removeprefix(f"{PREFIX}/invocation/").split("/")
        record = self.recorded.get(parts[0]) or Recorded(parts[0], problems=[f"unknown request id {parts[0]}"])
        record.kind = parts[1] if len(parts) > 1 else "?"
        record.headers = headers
        return record

    def _check(self, record: Recorded) -> None:
        """What the documented contract requires of a streamed answer."""
        if record.kind == "error" and "lambda-runtime-function-error-type" not in record.headers:
            record.problems.append("an /error call without Lambda-Runtime-Function-Error-Type")
        if not record.streamed:
            return
        if record.headers.get("transfer-encoding", "").lower() != "chunked":
            record.problems.append("a streamed response without Transfer-Encoding: chunked")
        declared = {name.strip().lower() for name in record.headers.get("trailer", "").split(",") if name.strip()}
        for name in record.trailers:
            if name not in declared:
                record.problems.append(f"trailer {name} was not declared in the Trailer header")
        if record.headers.get("content-type") == HTTP_PRELUDE and b"\x00" * 8 not in record.body[: 16 * 1024]:
            record.problems.append("the HTTP integration prelude did not end with 8 NUL bytes within 16 KB")

    def _next(self, sock: socket.socket, connection: h11.Connection) -> None:
        while True:
            try:
                request_id, event = self.events.get(timeout=0.2)
                break
            except queue.Empty:
                if self._stopping.is_set():
                    return
        deadline = str(int(time.time() * 1000) + 60_000)
        headers = [
            ("Lambda-Runtime-Aws-Request-Id", request_id),
            ("Lambda-Runtime-Deadline-Ms", deadline),
            ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:maaskit-test"),
            ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000"),
        ]
        self._reply(sock, connection, 200, json.dumps(event).encode(), headers)

    @staticmethod
    def _reply(
        sock: socket.socket,
        connection: h11.Connection,
        status: int,
        body: bytes,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        response = h11.Response(
            status_code=status,
            headers=[("Content-Type", "application/json"), ("Content-Length", str(len(body))), *(headers or [])],
        )
        try:
            sock.sendall(
                connection.send(response) + connection.send(h11.Data(data=body)) + connection.send(h11.EndOfMessage())
            )
        except OSError:
            pass
        finally:
            sock.close()
