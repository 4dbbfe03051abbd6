"""The page of an image model: the sample image prefilled, an uploaded file sent, and the image snippets run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.handlers.page.browser import chromium_page
from tests.handlers.page.test_snippets import _SAGEMAKER_PRELUDE, _Snippets


@pytest.fixture(scope="module")
def image_server(tmp_path_factory: pytest.TempPathFactory):
    """A tiny ViT folder packaged from its own generated images and served on loopback."""
    import model_packager
    from handlers.app import create_app
    from handlers.engine import ModelRepository
    from handlers.settings import Settings
    from tests.handlers.conftest import LiveServer
    from tests.imagemodels import save_vit_folder

    work = tmp_path_factory.mktemp("page-vit")
    folder = save_vit_folder(work / "vit")
    bundle = model_packager.package(
        folder, task="image-classification", name="vit", version="1.0.0", out=work / "bundles"
    ).directory
    settings = Settings.load(environ={}, access_log=False, intra_op_threads=1)
    with LiveServer(create_app(ModelRepository.load(settings, [bundle]), settings)) as server:
        yield server


def test_prefilled_sample_image_and_an_uploaded_one_are_classified(image_server, tmp_path: Path) -> None:
    from tests.imagemodels import png

    picture = tmp_path / "upload.png"
    picture.write_bytes(png())
    with chromium_page(tmp_path / "profile") as page:
        page.goto(image_server.url + "/models/vit")
        assert "b64" in page.input_value("#try-body")
        page.click("#try-send")
        expect(page.locator("#try-status")).to_have_text(re.compile("^HTTP"))
        assert page.inner_text("#try-status") == "HTTP 200", page.inner_text("#try-answer")
        prefilled = json.loads(page.inner_text("#try-answer"))
        assert prefilled["task"] == "image-classification" and prefilled["predictions"]

        page.set_input_files("#try-image", str(picture))
        expect(page.locator("#try-body")).not_to_have_value(re.compile(r"^\s*$"))
        page.click("#try-send")
        expect(page.locator("#try-status")).to_have_text("HTTP 200")
        page.screenshot(path=str(tmp_path / "image-model.png"), full_page=True)
        assert (tmp_path / "image-model.png").stat().st_size > 5_000


@pytest.mark.parametrize("key", ["curl", "tritonclient", "tfserving", "sagemaker"])
def test_image_snippets_send_the_file_and_run(image_server, tmp_path: Path, key: str) -> None:
    from tests.imagemodels import jpeg

    (tmp_path / "image.jpg").write_bytes(jpeg())
    page = httpx.get(image_server.url + "/models/vit", headers={"Accept": "text/html"}, timeout=10)
    parser = _Snippets()
    parser.feed(page.text)
    assert set(parser.found) == {"curl", "tritonclient", "tfserving", "sagemaker"}
    code = parser.found[key]
    if key in {"curl", "tfserving"}:
        if shutil.which("curl") is None:
            pytest.skip("curl is not installed")
        command, stdin = ["bash", "-c", code], None
    else:
        prelude = _SAGEMAKER_PRELUDE.format(url=image_server.url) if key == "sagemaker" else ""
        command, stdin = [sys.executable, "-"], prelude + code
    result = subprocess.run(
        command, input=stdin, capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
        env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    labels = ("cat", "dog", "bird")  # the tiny ViT's id2label (tests/imagemodels.py)
    assert any(label in result.stdout for label in labels) or "[[" in result.stdout, result.stdout[:500]
    assert "error" not in result.stdout.lower(), result.stdout[:500]
