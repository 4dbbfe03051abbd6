"""Tiny image classifiers saved as users' folders (random weights, built from configs once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("PIL")

from tests.imagemodels import save_convnext_folder, save_vit_folder


@pytest.fixture(scope="session")
def image_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("image-models")


@pytest.fixture(scope="session")
def vit_folder(image_models_dir: Path) -> Path:
    return save_vit_folder(image_models_dir / "vit")


@pytest.fixture(scope="session")
def convnext_folder(image_models_dir: Path) -> Path:
    return save_convnext_folder(image_models_dir / "convnext")
