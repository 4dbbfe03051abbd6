"""Fixtures: a tiny wav2vec2 CTC bundle and a tiny Whisper bundle, packaged once per session, served over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from handlers.app import create_app
from handlers.engine import ModelRepository
from handlers.settings import Settings
from handlers.speech.runtime import SpeechRuntime, load_speech
from tests.handlers.conftest import LiveServer
from tests.speechmodels import encode, save_wav2vec2, save_whisper, speech


@pytest.fixture(scope="session")
def speech_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="session")
def ctc_bundle(speech_root: Path) -> Path:
    from model_packager.api import package

    folder = save_wav2vec2(speech_root / "wav2vec2")
    return package(folder, name="tiny-ctc", version="1.0.0", out=speech_root / "bundles").directory


@pytest.fixture(scope="session")
def whisper_bundle(speech_root: Path) -> Path:
    from model_packager.api import package

    folder = save_whisper(speech_root / "whisper")
    sample = [encode(speech(3.0), 16000, "FLAC")]
    return package(folder, name="tiny-whisper", version="1.0.0", out=speech_root / "bundles", sample=sample).directory


@pytest.fixture(scope="session")
def speech_settings() -> Settings:
    return Settings.load(environ={}, access_log=False, metrics="none")


@pytest.fixture(scope="session")
def speech_runtimes(ctc_bundle: Path, whisper_bundle: Path, speech_settings: Settings) -> list[SpeechRuntime]:
    return [load_speech(ctc_bundle, speech_settings), load_speech(whisper_bundle, speech_settings)]


@pytest.fixture(scope="session")
def speech_live(speech_runtimes: list[SpeechRuntime], speech_settings: Settings) -> Iterator[LiveServer]:
    with LiveServer(create_app(ModelRepository(speech_runtimes), speech_settings)) as server:
        yield server


@pytest.fixture(scope="session")
def openai_client(speech_live: LiveServer):
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=f"{speech_live.url}/v1", api_key="unused", max_retries=0, timeout=60)
