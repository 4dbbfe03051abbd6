"""Fixtures: the runtime tests' real bundles, a repository over them and the app, built once per session."""

from __future__ import annotations

import pytest

from handlers.app import create_app
from handlers.engine import ModelRepository
from handlers.settings import Settings
from tests.handlers.bundles import BuiltBundles, build_bundles
from tests.handlers.conftest import LiveServer


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


class GuardedServer(LiveServer):
    """uvicorn on a free loopback port, in a thread, with the connection options ``maaskit serve`` uses."""

    def __init__(self, app, settings: Settings, parser: str = "auto") -> None:
        from handlers.connections import uvicorn_options

        super().__init__(app, **uvicorn_options(settings, parser=parser))
