"""Fixtures: tiny Qwen2- and Llama-style bundles packaged once per session, served over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from handlers.app import create_app
from handlers.engine import ModelRepository
from handlers.generation.runtime import GenerativeRuntime, load_generative
from handlers.settings import Settings
from tests.genmodels import package_tiny
from tests.handlers.conftest import LiveServer


@pytest.fixture(scope="session")
def gen_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("generation")


@pytest.fixture(scope="session")
def qwen_bundle(gen_root: Path) -> Path:
    return package_tiny("qwen2", gen_root)


@pytest.fixture(scope="session")
def llama_bundle(gen_root: Path) -> Path:
    return package_tiny("llama", gen_root)


@pytest.fixture(scope="session")
def gen_settings() -> Settings:
    return Settings.load(environ={}, access_log=False, metrics="none")


@pytest.fixture(scope="session")
def gen_runtimes(qwen_bundle: Path, llama_bundle: Path, gen_settings: Settings) -> Iterator[list[GenerativeRuntime]]:
    runtimes = [load_generative(qwen_bundle, gen_settings, max_waiting=2), load_generative(llama_bundle, gen_settings)]
    yield runtimes
    for runtime in runtimes:
        runtime.close()


@pytest.fixture(scope="session")
def gen_live(gen_runtimes: list[GenerativeRuntime], gen_settings: Settings) -> Iterator[LiveServer]:
    repository = ModelRepository(gen_runtimes)
    with LiveServer(create_app(repository, gen_settings)) as server:
        yield server
