"""Fixtures: real bundles built once per session, a loaded repository, and an app over it."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import pytest

from bundle import open_bundle
from handlers.app import create_app
from handlers.engine import ModelRepository
from handlers.settings import Settings
from tests.handlers.bundles import BuiltBundles, build_bundles


@pytest.fixture(scope="session")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> BuiltBundles:
    return build_bundles(tmp_path_factory.mktemp("bundles"))


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.load(environ={}, access_log=False, intra_op_threads=1)


@pytest.fixture(scope="session")
def repository(bundles: BuiltBundles, settings: Settings) -> ModelRepository:
    return ModelRepository.load(settings, bundles.all)


class LiveServer:
    """uvicorn serving an app on a free loopback port, in a background thread."""

    def __init__(self, app, **options) -> None:
        """``options``: more ``uvicorn.Config`` arguments (e.g. the connection limits ``maaskit serve`` sets)."""
        import uvicorn

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, access_log=False, log_level="warning", **options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start within 20 s")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def live(repository: ModelRepository, settings: Settings):
    """The full app over real HTTP on loopback."""
    with LiveServer(create_app(repository, settings)) as server:
        yield server


@pytest.fixture(scope="session")
def http(live: LiveServer):
    with httpx.Client(base_url=live.url, timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
def samples(bundles: BuiltBundles):
    """Each bundle's samples by model key (``iris``, ``diabetes``, ``adder-1.0.0``, ``adder-1.10.0``)."""
    return {
        "iris": open_bundle(bundles.iris).samples(),
        "diabetes": open_bundle(bundles.regressor).samples(),
        "adder-1.0.0": open_bundle(bundles.adder_v1).samples(),
        "adder-1.10.0": open_bundle(bundles.adder_v2).samples(),
    }


def asgi_request(app, method: str, path: str, **kwargs) -> httpx.Response:
    """One request through the app in-process (httpx's ASGI transport)."""

    async def fetch() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(fetch())


def asgi_get(app, path: str, **kwargs) -> httpx.Response:
    return asgi_request(app, "GET", path, **kwargs)


def asgi_post(app, path: str, **kwargs) -> httpx.Response:
    return asgi_request(app, "POST", path, **kwargs)
