"""Fixtures: real bundles built once per session, a loaded repository, and an app over it."""

from __future__ import annotations

import pytest

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
