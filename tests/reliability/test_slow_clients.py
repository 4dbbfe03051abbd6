"""Slow, silent and oversized clients are cut off (408 / 431 / 413 / 503) while a normal client is served.

A real uvicorn server on loopback with the options ``maaskit serve`` and the SageMaker entry use
(:func:`handlers.connections.uvicorn_options`), with both HTTP parsers; the probes are raw sockets
(``bench.hostile_clients``), each bounded in time and bytes. Limits are set short so the suite is quick.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from bench import hostile_clients as probe
from handlers.app import create_app
from handlers.connections import GuardedHttpToolsProtocol
from handlers.settings import Settings
from tests.reliability.conftest import GuardedServer

LIMITS = {
    "header_timeout_s": 1.0,
    "body_timeout_s": 1.0,
    "body_min_rate": 1000,
    "request_timeout_s": 4.0,
    "keep_alive_s": 1.0,
    "max_header_bytes": 8192,
    "max_headers": 40,
    "max_connections": 0,
}
PARSERS = ["h11"] + (["httptools"] if GuardedHttpToolsProtocol is not None else [])
ROW = [5.1, 3.5, 1.4, 0.2]


def _settings(rel_bundles, **extra) -> Settings:
    values = {**LIMITS, **extra}
    bundles = [str(path) for path in rel_bundles.all]
    return Settings.load(environ={}, access_log=False, intra_op_threads=1, bundles=bundles, metrics="none", **values)


@pytest.fixture(scope="module", params=PARSERS)
def server(request, rel_bundles, rel_repository) -> Iterator[GuardedServer]:
    settings = _settings(rel_bundles)
    with GuardedServer(create_app(rel_repository, settings), settings, parser=request.param) as live:
        yield live


class NormalClient:
    """A well-behaved client predicting every 50 ms in a thread while a probe runs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.statuses: list[int] = []
        self.latencies: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while not self.stop.is_set() and len(self.statuses) < 400:
                started = time.perf_counter()
                answer = client.post("/predictions/iris", json={"instances": [ROW]})
                self.latencies.append(time.perf_counter() - started)
                self.statuses.append(answer.status_code)
                self.stop.wait(0.05)

    def __enter__(self) -> NormalClient:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        deadline = time.monotonic() + 3
        while len(self.statuses) < 2 and time.monotonic() < deadline:  # served during or right after a short probe
            time.sleep(0.02)
        self.stop.set()
        self.thread.join(10)
        assert self.statuses, "the normal client was never served"
        assert set(self.statuses) == {200}, self.statuses
        assert max(self.latencies) < 1.0, max(self.latencies)


def _assert_cut(cut: probe.Cut, status: int, within: tuple[float, float]) -> None:
    assert cut.status == status, cut
    assert within[0] <= cut.seconds <= within[1], cut
    assert cut.closed, "the connection is closed after the refusal"


def test_headers_one_line_per_half_second_get_408(server):
    with NormalClient(server.url):
        cut = probe.slow_headers(server.port, interval=0.3, limit_s=10)
    _assert_cut(cut, 408, (0.9, 3.0))


def test_silent_connection_gets_408(server):
    with NormalClient(server.url):
        cut = probe.silent(server.port, limit_s=10)
    _assert_cut(cut, 408, (0.9, 3.0))


def test_declared_5mb_body_with_8_bytes_sent_gets_408_in_the_protocols_shape(server):
    with NormalClient(server.url):
        cut = probe.declared_body_unsent(server.port, "/predictions/iris", declared=5_000_000, sent=8, limit_s=10)
    _assert_cut(cut, 408, (0.9, 3.0))
    error = orjson.loads(cut.body)
    assert error["code"] == 408 and "too slowly" in error["message"]  # TorchServe's error shape


def test_body_at_one_byte_per_interval_gets_408(server):
    with NormalClient(server.url):
        cut = probe.slow_body(server.port, "/models/iris/predict", chunk=1, interval=0.3, limit_s=10)
    _assert_cut(cut, 408, (0.9, 3.0))
    assert orjson.loads(cut.body)["error"]["status"] == 408  # maaskit's error shape


def test_body_that_keeps_the_rate_is_cut_at_the_total_request_time(server):
    with NormalClient(server.url):
        cut = probe.slow_body(server.port, "/models/iris/predict", chunk=700, interval=0.5, limit_s=12)
    _assert_cut(cut, 408, (3.8, 6.0))
    assert "request limit" in orjson.loads(cut.body)["error"]["message"]


@pytest.mark.parametrize("size", [8200, 1 << 20, 8 << 20])
def test_oversized_headers_get_431(server, size):
    with NormalClient(server.url):
        cut = probe.oversized_headers(server.port, size=size)
    _assert_cut(cut, 431, (0.0, 3.0))


def test_headers_under_the_limit_are_served(server):
    assert probe.oversized_headers(server.port, size=6000).status == 200
    assert probe.many_headers(server.port, count=30).status == 200


def test_too_many_header_fields_get_431(server):
    with NormalClient(server.url):
        cut = probe.many_headers(server.port, count=60)
    _assert_cut(cut, 431, (0.0, 3.0))


def test_idle_keep_alive_connection_is_closed(server):
    cut = probe.idle_after_response(server.port, limit_s=10)
    assert cut.status == 200
    assert cut.closed and 0.8 <= cut.seconds <= 2.5, cut


def test_body_over_the_limit_is_413_before_it_is_read(server):
    cut = probe.declared_body_unsent(server.port, "/predictions/iris", declared=7 * 1024 * 1024, sent=8, limit_s=5)
    assert cut.status == 413 and cut.seconds < 1.0, cut


@pytest.mark.parametrize("parser", PARSERS)
def test_connections_over_the_limit_get_503_and_are_served_again_after(rel_bundles, rel_repository, parser):
    settings = _settings(rel_bundles, max_connections=4, header_timeout_s=5.0)
    with GuardedServer(create_app(rel_repository, settings), settings, parser=parser) as live:
        idle = [probe._connect(live.port) for _ in range(4)]
        try:
            time.sleep(0.2)
            with httpx.Client(base_url=live.url, timeout=5) as client:
                assert client.get("/ping").status_code == 503
        finally:
            for sock in idle:
                sock.close()
        time.sleep(0.2)
        with httpx.Client(base_url=live.url, timeout=5) as client:
            assert client.get("/ping").status_code == 200
