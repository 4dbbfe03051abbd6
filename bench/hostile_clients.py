"""Slow, silent, oversized and vanishing HTTP clients on raw loopback sockets, each bounded in time and bytes.

Each probe returns a :class:`Cut`: the status the server answered (None when it closed without one),
the seconds from the probe's start to that answer or close, and whether the connection was closed.
Used by ``tests/reliability/test_slow_clients.py`` and the reliability benchmark.
"""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import dataclass

__all__ = [
    "Cut",
    "declared_body_unsent",
    "disconnect_mid_body",
    "idle_after_response",
    "many_headers",
    "oversized_headers",
    "silent",
    "slow_body",
    "slow_headers",
]


@dataclass(frozen=True)
class Cut:
    """How the server ended a probe: status (None: closed without answering), seconds, closed."""

    status: int | None
    seconds: float
    closed: bool
    body: bytes = b""


def _connect(port: int, host: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection((host, port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _answer(sock: socket.socket, started: float, deadline: float, until_close: bool = True) -> Cut:
    """Read what the server sends until it closes (or, unless ``until_close``, one whole answer) or ``deadline``."""
    data = b""
    closed = False
    while time.monotonic() < deadline and len(data) < 1 << 20:
        sock.settimeout(max(0.01, min(0.5, deadline - time.monotonic())))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            if data and b"\r\n\r\n" in data and _complete(data):
                break
            continue
        except (ConnectionResetError, BrokenPipeError):
            closed = True
            break
        if not chunk:
            closed = True
            break
        data += chunk
        if not until_close and _complete(data):
            break
    return Cut(_status(data), time.monotonic() - started, closed, data.partition(b"\r\n\r\n")[2])


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return False


def _post_head(path: str, declared: int) -> str:
    return (
        f"POST {path} HTTP/1.1\r\nHost: probe\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    )


def _status(data: bytes) -> int | None:
    if not data.startswith(b"HTTP/1."):
        return None
    return int(data.split(b" ", 2)[1])


def _drip(sock: socket.socket, pieces: list[bytes], interval: float, started: float, deadline: float) -> Cut | None:
    """Send ``pieces`` one per ``interval``; stop (with the server's answer) as soon as it answers or closes."""
    for piece in pieces:
        if time.monotonic() >= deadline:
            return None
        try:
            sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            return _answer(sock, started, min(deadline, time.monotonic() + 1))
        sock.settimeout(interval)
        try:
            peek = sock.recv(65536, socket.MSG_PEEK)
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return Cut(None, time.monotonic() - started, True)
        del peek
        return _answer(sock, started, min(deadline, time.monotonic() + 2))  # an answer, or the close (b"")
    return None


def slow_headers(port: int, *, interval: float = 0.5, limit_s: float = 30.0) -> Cut:
    """A request head sent one header line per ``interval`` seconds, for up to ``limit_s``."""
    started = time.monotonic()
    deadline = started + limit_s
    with _connect(port) as sock:
        lines = [b"GET /ping HTTP/1.1\r\n"] + [b"X-Slow-%d: 1\r\n" % n for n in range(int(limit_s / interval) + 1)]
        cut = _drip(sock, lines, interval, started, deadline)
        return cut or Cut(None, time.monotonic() - started, False)


def silent(port: int, *, limit_s: float = 30.0) -> Cut:
    """A connection that never sends a byte."""
    started = time.monotonic()
    with _connect(port) as sock:
        return _answer(sock, started, started + limit_s)


def declared_body_unsent(port: int, path: str, *, declared: int, sent: int = 8, limit_s: float = 30.0) -> Cut:
    """A POST declaring ``declared`` body bytes that sends ``sent`` of them, then waits."""
    started = time.monotonic()
    head = _post_head(path, declared)
    with _connect(port) as sock:
        sock.sendall(head.encode() + b"[" * sent)
        return _answer(sock, started, started + limit_s)


def slow_body(port: int, path: str, *, chunk: int = 1, interval: float = 0.5, limit_s: float = 30.0) -> Cut:
    """A POST whose body arrives ``chunk`` bytes per ``interval`` seconds (declared 1 MB)."""
    started = time.monotonic()
    deadline = started + limit_s
    head = _post_head(path, 1 << 20)
    with _connect(port) as sock:
        sock.sendall(head.encode())
        pieces = [b" " * chunk] * (int(limit_s / interval) + 1)
        cut = _drip(sock, pieces, interval, started, deadline)
        return cut or Cut(None, time.monotonic() - started, False)


def oversized_headers(port: int, *, size: int, limit_s: float = 10.0) -> Cut:
    """One header of ``size`` bytes, sent as fast as the server takes it."""
    started = time.monotonic()
    with _connect(port) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the server may stop reading early
            sock.sendall(b"GET /ping HTTP/1.1\r\nHost: probe\r\nX-Big: " + b"a" * size + b"\r\n\r\n")
        return _answer(sock, started, started + limit_s)


def many_headers(port: int, *, count: int, limit_s: float = 10.0) -> Cut:
    """A request with ``count`` small header fields."""
    started = time.monotonic()
    fields = b"".join(b"X-F%d: v\r\n" % n for n in range(count))
    with _connect(port) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b"GET /ping HTTP/1.1\r\nHost: probe\r\n" + fields + b"\r\n")
        return _answer(sock, started, started + limit_s)


def idle_after_response(port: int, *, limit_s: float = 30.0) -> Cut:
    """One keep-alive request, then silence: the seconds until the server closes the idle connection."""
    with _connect(port) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: probe\r\n\r\n")
        first = _answer(sock, time.monotonic(), time.monotonic() + 5, until_close=False)
        if first.closed:
            return first
        started = time.monotonic()
        rest = _answer(sock, started, started + limit_s)
        return Cut(first.status, rest.seconds, rest.closed)


def disconnect_mid_body(
    port: int, path: str, *, declared: int = 1 << 20, sent: int = 4096, reset: bool = False
) -> None:
    """A POST that sends part of its body and goes away (FIN, or RST when ``reset``)."""
    head = _post_head(path, declared)
    sock = _connect(port)
    try:
        sock.sendall(head.encode() + b"[" * sent)
        time.sleep(0.05)
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    finally:
        sock.close()


_POSTER = """
import sys, threading, urllib.request
url, path, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
body = open(path, "rb").read()
headers = dict(item.split("=", 1) for item in sys.argv[4:])
def post():
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            answer.read()
            print(answer.status, flush=True)
    except urllib.error.HTTPError as error:
        print(error.code, flush=True)
threads = [threading.Thread(target=post) for _ in range(count)]
[thread.start() for thread in threads]
[thread.join(150) for thread in threads]
"""


def ping_under_large_bodies(
    url: str, body_file: str, *, path: str = "/invocations", headers: dict[str, str], count: int = 4
) -> tuple[list[float], list[int]]:
    """``/ping`` latencies (s), one every 10 ms, while ``count`` clients in another process each post ``body_file``.

    The posters run in their own process so that their work never shares this process's GIL with the pinger.
    Returns the latencies and the posters' statuses.
    """
    import subprocess
    import sys
    import urllib.request

    pairs = [f"{name}={value}" for name, value in headers.items()]
    command = [sys.executable, "-c", _POSTER, url + path, body_file, str(count), *pairs]
    latencies: list[float] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as posters:
        deadline = time.monotonic() + 150
        while posters.poll() is None and time.monotonic() < deadline:
            started = time.perf_counter()
            with urllib.request.urlopen(url + "/ping", timeout=10) as answer:
                answer.read()
            latencies.append(time.perf_counter() - started)
            time.sleep(0.01)
        output, _ = posters.communicate(timeout=30)
    return latencies, [int(line) for line in output.split()]
