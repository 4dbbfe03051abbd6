"""Fixtures: the runtime tests' real bundles, a repository over them and the app, built once per session."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from handlers.app import create_app
from handlers.engine import ModelRepository
from handlers.settings import Settings
from tests.handlers.bundles import BuiltBundles, build_bundles


@pytest.fixture(scope="session")
def rel_bundles(tmp_path_factory: pytest.TempPathFactory) -> BuiltBundles:
    return build_bundles(tmp_path_factory.mktemp("reliability-bundles"))


@pytest.fixture(scope="session")
def rel_settings(rel_bundles: BuiltBundles) -> Settings:
    return Settings.load(
        environ={}, access_log=False, intra_op_threads=1, bundles=[str(p) for p in rel_bundles.all], metrics="none"
    )


@pytest.fixture(scope="session")
def rel_repository(rel_settings: Settings) -> ModelRepository:
    return ModelRepository.load(rel_settings)


@pytest.fixture(scope="session")
def rel_app(rel_repository: ModelRepository, rel_settings: Settings):
    return create_app(rel_repository, rel_settings)


@pytest.fixture(scope="session")
def rel_models(rel_repository: ModelRepository) -> dict[str, list[str]]:
    """Model name -> versions served."""
    return {name: rel_repository.version_names(name) for name in rel_repository.names()}


class GuardedServer:
    """uvicorn on a free loopback port, in a thread, with the connection options ``maaskit serve`` uses."""

    def __init__(self, app, settings: Settings, parser: str = "auto") -> None:
        import uvicorn

        from handlers.connections import uvicorn_options

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        options = uvicorn_options(settings, parser=parser)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, access_log=False, log_level="warning", **options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> GuardedServer:
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
