"""Servers for the client tests: the real maaskit app under uvicorn on loopback, and a scripted
HTTP server that answers what a test tells it to (for retries and signing)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.handlers.bundles import BuiltBundles, build_bundles


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def client_bundles(tmp_path_factory: pytest.TempPathFactory) -> BuiltBundles:
    """Real bundles: an skl2onnx iris classifier and regressor, an int64 adder in two versions."""
    return build_bundles(tmp_path_factory.mktemp("client-bundles"))


@contextmanager
def serving(bundles: list[Path]) -> Iterator[str]:
    """``handlers.app.create_app`` over ``bundles``, served by uvicorn on 127.0.0.1; yields its URL."""
    import uvicorn

    from handlers.app import create_app
    from handlers.engine import ModelRepository
    from handlers.settings import Settings

    settings = Settings.load(environ={}, access_log=False, intra_op_threads=1)
    app = create_app(ModelRepository.load(settings, bundles), settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    else:
        pytest.fail("the maaskit app did not become ready within 20 s")
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def served(client_bundles: BuiltBundles) -> Iterator[str]:
    """The app over the client bundles, served on loopback; yields its URL."""
    with serving(client_bundles.all) as url:
        yield url


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Scripted:
    """Answers queued ``(status, body, headers)`` in order (the last one repeats); records requests."""

    url: str
    answers: list[tuple[int, bytes, dict[str, str]]] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)

    def script(self, *answers: tuple[int, bytes] | tuple[int, bytes, dict[str, str]]) -> None:
        self.answers[:] = [(a[0], a[1], a[2] if len(a) > 2 else {}) for a in answers]  # type: ignore[misc]
        self.requests.clear()


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    state = Scripted(url="")

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            state.requests.append(
                Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            status, payload, headers = state.answers[min(len(state.requests), len(state.answers)) - 1]
            self.send_response(status)
            self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer  # noqa: N815 (http.server dispatches on these names)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()
