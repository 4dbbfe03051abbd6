"""``maaskit invoke BUNDLE --data picture.jpg`` sends the image; without --data the stored sample images."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from maaskit.cli import app
from tests.handlers.image.conftest import ImageBundles
from tests.imagemodels import jpeg

runner = CliRunner()


def test_invoke_sends_an_image_file(image_bundles: ImageBundles, tmp_path: Path, vit_pipeline) -> None:
    from PIL import Image

    picture = tmp_path / "picture.jpg"
    picture.write_bytes(jpeg(seed=40))
    result = runner.invoke(app, ["invoke", str(image_bundles.vit), "--data", str(picture)])
    assert result.exit_code == 0, result.output
    want = vit_pipeline(Image.open(io.BytesIO(picture.read_bytes())), top_k=5)
    got = json.loads(result.stdout)["predictions"][0]  # maaskit JSON on /predict: one ranking per image
    assert [item["label"] for item in got] == [item["label"] for item in want]
    assert [item["score"] for item in got] == pytest.approx([item["score"] for item in want], abs=1e-5)


def test_invoke_without_data_sends_the_sample_images(image_bundles: ImageBundles) -> None:
    result = runner.invoke(app, ["invoke", str(image_bundles.net)])
    assert result.exit_code == 0, result.output
    predictions = json.loads(result.stdout)["predictions"]
    assert len(predictions) == 8 and all(len(row) == 1 for row in predictions)


def test_invoke_refuses_a_broken_image_with_exit_2(image_bundles: ImageBundles, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    result = runner.invoke(app, ["invoke", str(image_bundles.vit), "--data", str(broken)])
    assert result.exit_code == 2, result.output
    assert "cannot be decoded" in result.output
