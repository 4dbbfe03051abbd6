"""Image models through the entry points: the Lambda handler with an API Gateway REST event carrying a base64
JPEG body, and the SageMaker container entry serving an image bundle archive."""

from __future__ import annotations

import base64
import importlib
import io
import json
import os
import sys
import tarfile
from pathlib import Path

import httpx
import pytest

from tests.handlers.events import LambdaContext, load_event
from tests.handlers.image.conftest import ImageBundles
from tests.handlers.test_sagemaker_entry import start
from tests.imagemodels import bomb_png, png


@pytest.fixture(scope="module")
def lambda_module(image_bundles: ImageBundles):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MAASKIT_BUNDLES", str(image_bundles.vit))
        patch.setenv("MAASKIT_INTRA_OP_THREADS", "1")
        patch.delenv("MAASKIT_METRICS", raising=False)
        sys.modules.pop("handlers.lambda_entry", None)
        yield importlib.import_module("handlers.lambda_entry")
        sys.modules.pop("handlers.lambda_entry", None)


def test_lambda_rest_event_with_a_base64_jpeg_body(lambda_module, vit_pipeline) -> None:
    from PIL import Image

    event = load_event("apigw_v1_invocations_jpeg_base64")
    response = lambda_module.handler(event, LambdaContext())
    assert response["statusCode"] == 200, response
    want = vit_pipeline(Image.open(io.BytesIO(base64.b64decode(event["body"]))), top_k=5)
    got = json.loads(response["body"])
    assert [item["label"] for item in got] == [item["label"] for item in want]
    assert [item["score"] for item in got] == pytest.approx([item["score"] for item in want], abs=1e-5)


def test_lambda_refuses_a_decompression_bomb_with_413(lambda_module) -> None:
    event = load_event("apigw_v1_invocations_jpeg_base64")
    event["body"] = base64.b64encode(bomb_png()).decode()
    event["headers"]["content-type"] = "image/png"
    event["multiValueHeaders"]["content-type"] = ["image/png"]
    response = lambda_module.handler(event, LambdaContext())
    assert response["statusCode"] == 413, response
    assert "max_pixels" in json.loads(response["body"])["error"]


def test_sagemaker_entry_serves_an_image_bundle_archive(
    image_bundles: ImageBundles, tmp_path: Path, vit_pipeline
) -> None:
    from PIL import Image

    model_dir = tmp_path / "opt-ml-model"
    with tarfile.open(image_bundles.vit.with_name(image_bundles.vit.name + ".tar.gz")) as archive:
        archive.extractall(model_dir, filter="data")
    server = start(model_dir, tmp_path / "entry.log")
    try:
        data = png(seed=11)
        response = httpx.post(
            f"{server.url}/invocations", content=data, headers={"content-type": "image/png"}, timeout=30
        )
        assert response.status_code == 200, response.text
        want = vit_pipeline(Image.open(io.BytesIO(data)), top_k=5)
        assert [item["label"] for item in response.json()] == [item["label"] for item in want]
        bomb = httpx.post(f"{server.url}/invocations", content=bomb_png(), headers={"content-type": "image/png"})
        assert bomb.status_code == 413
    finally:
        assert server.stop() in (0, -15)
    assert os.path.isdir(model_dir)
