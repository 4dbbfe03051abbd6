"""Text bundles (embedder, sentiment classifier, token classifier) built once, a repository and an app over them."""

from __future__ import annotations

import pytest

from handlers.app import create_app
from handlers.engine import ModelRepository
from handlers.settings import Settings
from tests.handlers.text.bundles import TextBundles, build_text_bundles


@pytest.fixture(scope="session")
def text_bundles(tmp_path_factory: pytest.TempPathFactory) -> TextBundles:
    return build_text_bundles(tmp_path_factory.mktemp("text-bundles"))


@pytest.fixture(scope="session")
def text_settings() -> Settings:
    return Settings.load(environ={}, access_log=False, intra_op_threads=1, max_body_bytes=64 * 1024)


@pytest.fixture(scope="session")
def text_repository(text_bundles: TextBundles, text_settings: Settings) -> ModelRepository:
    return ModelRepository.load(text_settings, text_bundles.all)


@pytest.fixture(scope="session")
def text_app(text_repository: ModelRepository, text_settings: Settings):
    return create_app(text_repository, text_settings)


@pytest.fixture(scope="session")
def reference(text_bundles: TextBundles):
    """The original models (sentence-transformers and transformers pipelines) on torch."""
    from sentence_transformers import SentenceTransformer
    from transformers import pipeline

    folders = text_bundles.folders
    return {
        "embedder": SentenceTransformer(str(folders["embedder"]), device="cpu"),
        "sentiment": pipeline("text-classification", model=str(folders["sentiment"]), device="cpu"),
        "ner": pipeline("token-classification", model=str(folders["ner"]), aggregation_strategy="simple", device="cpu"),
    }
