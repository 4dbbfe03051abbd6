"""Image bundles (a ViT folder and a torchvision-style module) packaged once, a repository and an app over them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("PIL")

from handlers.app import create_app
from handlers.engine import ModelRepository
from handlers.settings import Settings
from tests.imagemodels import LABELS, save_vit_folder, tiny_convnet


@dataclass(frozen=True)
class ImageBundles:
    vit: Path
    net: Path
    folder: Path


@pytest.fixture(scope="session")
def image_bundles(tmp_path_factory: pytest.TempPathFactory) -> ImageBundles:
    from model_packager import ImageClassifier, ImagePreprocessing, package

    root = tmp_path_factory.mktemp("image-bundles")
    folder = save_vit_folder(root / "vit-folder")
    vit = package(folder, name="vit", version="1.0.0", out=root / "out", task="image-classification")
    module = ImageClassifier(tiny_convnet(), ImagePreprocessing(resize=40, crop=32), LABELS)
    net = package(module, name="net", version="1.0.0", out=root / "out")
    return ImageBundles(vit.directory, net.directory, folder)


@pytest.fixture(scope="session")
def image_settings() -> Settings:
    return Settings.load(environ={}, access_log=False, intra_op_threads=1)


@pytest.fixture(scope="session")
def image_app(image_bundles: ImageBundles, image_settings: Settings):
    repository = ModelRepository.load(image_settings, [image_bundles.vit, image_bundles.net])
    return create_app(repository, image_settings)


@pytest.fixture(scope="session")
def vit_pipeline(image_bundles: ImageBundles):
    """The original model: the transformers image-classification pipeline on torch."""
    from transformers import pipeline

    return pipeline("image-classification", model=str(image_bundles.folder), device="cpu")
