"""Packaging image classifiers as users do: ``maaskit package DIR --task image-classification`` and
``package(ImageClassifier(module, ImagePreprocessing(...), labels))``, with the parity gate from image files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from typer.testing import CliRunner

from bundle import open_bundle
from bundle.processing.image import ImagePreprocessor, unpack_images
from maaskit.cli import app
from model_packager import ImageClassifier, ImagePreprocessing, package
from model_packager.image_package import PreprocessingMismatchError
from model_packager.image_samples import builtin_images
from model_packager.verify import verify_bundle
from tests.imagemodels import LABELS, encode, jpeg, picture, png, tiny_convnet

runner = CliRunner()


def _run(directory: Path, images: list[bytes]) -> dict[str, np.ndarray]:
    """The bundle as the runtime runs it: bundle.processing.image, then onnxruntime."""
    bundle = open_bundle(directory)
    assert bundle.manifest.image is not None
    session = ort.InferenceSession(str(bundle.model_path), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    feed = ImagePreprocessor(bundle.manifest.image).feed(images)
    return dict(zip(names, session.run(names, feed), strict=True))


def test_vit_folder_packages_with_one_command(vit_folder: Path, tmp_path: Path) -> None:
    from transformers import pipeline

    args = ["package", str(vit_folder), "--task", "image-classification", "--name", "vit", "--version", "1.0.0"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "built-in set of 8 generated JPEG/PNG/WebP images" in result.output
    bundle = open_bundle(tmp_path / "vit-1.0.0")
    manifest = bundle.manifest
    assert manifest.task == "image-classification" and manifest.labels == LABELS
    assert manifest.probability_output == "scores" and [o.name for o in manifest.outputs] == ["logits", "scores"]
    assert manifest.inputs[0].name == "pixel_values" and manifest.inputs[0].shape == [None, 3, 32, 32]
    assert manifest.image is not None and manifest.image.processor == "ViTImageProcessor"
    assert (manifest.image.resize_to, manifest.image.resample) == ([32, 32], "bilinear")
    assert "preprocessor_config.json" in manifest.files
    stored = unpack_images(bundle.samples().inputs)  # the encoded files themselves, no pickle
    assert stored == [item.data for item in builtin_images()]
    assert verify_bundle(bundle.root).passed

    images = [jpeg(seed=20), png(seed=21)]
    want = pipeline("image-classification", model=str(vit_folder), device="cpu")
    from PIL import Image

    scores = _run(bundle.root, images)["scores"]
    for row, data in zip(scores, images, strict=True):
        ranked = want(Image.open(io.BytesIO(data)), top_k=3)
        assert [LABELS[i] for i in np.argsort(-row)] == [item["label"] for item in ranked]
        assert sorted(row, reverse=True) == pytest.approx([item["score"] for item in ranked], abs=1e-5)


def test_convnext_folder_from_a_sample_folder_crops_as_its_processor(convnext_folder: Path, tmp_path: Path) -> None:
    samples = tmp_path / "images"
    samples.mkdir()
    (samples / "wide.jpg").write_bytes(jpeg(120, 50, seed=1))
    (samples / "tall.png").write_bytes(png(30, 90, seed=2))
    (samples / "square.webp").write_bytes(encode(picture(64, 64, 3), "WEBP"))
    (samples / "notes.txt").write_text("not an image")
    result = package(convnext_folder, name="cnx", version="1.0.0", sample=samples, out=tmp_path / "out")
    image = result.manifest.image
    assert image is not None and (image.resize_shortest_edge, image.crop_size, image.resample) == (
        36,
        [32, 32],
        "bicubic",
    )
    assert result.parity.passed and result.parity.sample_count == 3
    assert "sample images from images" in result.notes


def test_a_module_with_given_preprocessing_packages(tmp_path: Path) -> None:
    net = tiny_convnet()
    preprocessing = ImagePreprocessing(resize=40, crop=32, resample="bicubic")
    result = package(ImageClassifier(net, preprocessing, LABELS), name="net", version="1.0.0", out=tmp_path)
    manifest = result.manifest
    assert manifest.framework.name == "torch" and manifest.labels == LABELS
    assert manifest.image is not None and manifest.image.processor == "custom"
    assert (manifest.image.resize_shortest_edge, manifest.image.crop_size) == (40, [32, 32])
    images = [jpeg(seed=30), png(seed=31)]
    pixels = ImagePreprocessor(manifest.image).pixels(images)
    with torch.no_grad():
        want = torch.softmax(net(torch.from_numpy(pixels)), dim=-1).numpy()
    np.testing.assert_allclose(_run(result.directory, images)["scores"], want, atol=1e-5)
    assert verify_bundle(result.directory).passed


def test_a_preprocessing_disagreement_fails_packaging_naming_the_image(
    vit_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import model_packager.converters.image_source as source

    real = source.spec_from_processor

    def misread(config, where, input_name="pixel_values"):  # type: ignore[no-untyped-def]
        return real(config, where, input_name).model_copy(update={"resample": "nearest"})

    monkeypatch.setattr(source, "spec_from_processor", misread)
    with pytest.raises(PreprocessingMismatchError) as failed:
        package(vit_folder, name="vit", version="1.0.0", out=tmp_path)
    message = str(failed.value)
    assert "image 0 (landscape.jpg)" in message and "max abs pixel difference" in message
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_bad_samples_and_labels_are_refused(vit_folder: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    result = runner.invoke(
        app,
        [
            "package",
            str(vit_folder),
            "--name",
            "vit",
            "--version",
            "1.0.0",
            "--out",
            str(tmp_path / "o"),
            "--sample",
            str(broken),
        ],
    )
    assert result.exit_code == 2 and "cannot be decoded as JPEG, PNG or WebP" in result.output
    with pytest.raises(Exception, match="logits of shape"):
        package(
            ImageClassifier(tiny_convnet(), ImagePreprocessing(resize=40, crop=32), ["a", "b"]),
            name="n",
            version="1.0.0",
            out=tmp_path,
        )
