"""Tiny text models saved as users' folders (random weights, built from configs once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("sentence_transformers")

from tests.textmodels import save_hf_folder, save_sentence_transformer


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("text-models")


@pytest.fixture(scope="session")
def st_folder(models_dir: Path) -> Path:
    """sentence-transformers: Transformer + mean Pooling + Normalize."""
    return save_sentence_transformer(models_dir / "st-mean")


@pytest.fixture(scope="session")
def st_cls_folder(models_dir: Path) -> Path:
    """sentence-transformers: Transformer + CLS Pooling, no Normalize."""
    return save_sentence_transformer(models_dir / "st-cls", pooling="cls", normalize=False)


@pytest.fixture(scope="session")
def classifier_folder(models_dir: Path) -> Path:
    return save_hf_folder(models_dir / "sentiment", "sequence")


@pytest.fixture(scope="session")
def token_folder(models_dir: Path) -> Path:
    return save_hf_folder(models_dir / "ner", "token")


@pytest.fixture(scope="session")
def base_folder(models_dir: Path) -> Path:
    return save_hf_folder(models_dir / "bert-base")
