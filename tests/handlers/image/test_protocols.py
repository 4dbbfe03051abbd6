"""Images through every protocol in-process: answers match the transformers pipeline; bad images are 4xx."""

from __future__ import annotations

import base64
import io
import json
import struct

import pytest

from tests.handlers.conftest import asgi_post
from tests.imagemodels import bomb_png, jpeg, png


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _want(vit_pipeline, data: bytes, top_k: int = 3) -> list[dict]:
    from PIL import Image

    return vit_pipeline(Image.open(io.BytesIO(data)), top_k=top_k)


def _same(got: list[dict], want: list[dict]) -> None:
    assert [item["label"] for item in got] == [item["label"] for item in want]
    for a, b in zip(got, want, strict=True):
        assert a["score"] == pytest.approx(b["score"], abs=1e-5)


def test_maaskit_json_base64_images(image_app, vit_pipeline) -> None:
    images = [jpeg(seed=1), png(seed=2)]
    body = {"inputs": {"image": [{"b64": _b64(item)} for item in images]}, "parameters": {"top_k": 3}}
    response = asgi_post(image_app, "/models/vit/predict", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["task"] == "image-classification"
    for got, data in zip(answer["predictions"], images, strict=True):
        _same(got, _want(vit_pipeline, data))


def test_sagemaker_image_body_answers_like_the_hf_toolkit(image_app, vit_pipeline) -> None:
    data = png(seed=3)
    response = asgi_post(
        image_app, "/invocations", content=data, headers={"content-type": "image/png", "x-maaskit-model": "vit"}
    )
    assert response.status_code == 200, response.text
    _same(response.json(), _want(vit_pipeline, data))  # top 5 asked, 3 labels exist
    toolkit = {"inputs": _b64(data), "parameters": {"top_k": 1}}
    response = asgi_post(image_app, "/invocations", json=toolkit, headers={"x-maaskit-model": "vit"})
    _same(response.json(), _want(vit_pipeline, data, 1))


def test_torchserve_jpeg_body_answers_label_scores(image_app, vit_pipeline) -> None:
    data = jpeg(seed=4)
    response = asgi_post(image_app, "/predictions/vit?top_k=2", content=data, headers={"content-type": "image/jpeg"})
    assert response.status_code == 200, response.text
    want = _want(vit_pipeline, data, 2)
    assert list(response.json()) == [item["label"] for item in want]
    assert list(response.json().values()) == pytest.approx([item["score"] for item in want], abs=1e-5)


def test_tfserving_b64_instances_plain_and_named(image_app, vit_pipeline) -> None:
    images = [jpeg(seed=5), png(seed=6)]
    for instances in ([{"b64": _b64(d)} for d in images], [{"image_bytes": {"b64": _b64(d)}} for d in images]):
        response = asgi_post(image_app, "/v1/models/vit:predict", json={"instances": instances})
        assert response.status_code == 200, response.text
        for got, data in zip(response.json()["predictions"], images, strict=True):
            _same(got, _want(vit_pipeline, data, 1))


def test_oip_bytes_json_base64_and_binary_extension(image_app, vit_pipeline) -> None:
    images = [jpeg(seed=7), png(seed=8)]
    want = [_want(vit_pipeline, data, 1)[0]["label"] for data in images]
    request = {
        "inputs": [{"name": "image", "datatype": "BYTES", "shape": [2], "data": [_b64(d) for d in images]}],
        "outputs": [{"name": "scores", "parameters": {"classification": 1}}],
    }
    response = asgi_post(image_app, "/v2/models/vit/infer", json=request)
    assert response.status_code == 200, response.text
    assert [item.rsplit(":", 1)[-1] for item in response.json()["outputs"][0]["data"]] == want
    raw = b"".join(struct.pack("<I", len(d)) + d for d in images)
    header = json.dumps(
        {
            "inputs": [
                {"name": "image", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": len(raw)}}
            ],
            "outputs": [{"name": "scores", "parameters": {"classification": 1}}],
        }
    ).encode()
    response = asgi_post(
        image_app,
        "/v2/models/vit/infer",
        content=header + raw,
        headers={"inference-header-content-length": str(len(header)), "content-type": "application/octet-stream"},
    )
    assert response.status_code == 200, response.text
    assert [item.rsplit(":", 1)[-1] for item in response.json()["outputs"][0]["data"]] == want


def test_the_module_bundle_serves_images_too(image_app) -> None:
    response = asgi_post(image_app, "/predictions/net", content=jpeg(seed=9), headers={"content-type": "image/jpeg"})
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"cat", "dog", "bird"}
    assert sum(response.json().values()) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/invocations", {"content-type": "image/png", "x-maaskit-model": "vit"}),
        ("/predictions/vit", {"content-type": "image/png"}),
    ],
)
def test_a_decompression_bomb_is_413_naming_the_limit(image_app, path: str, headers: dict[str, str]) -> None:
    bomb = bomb_png()
    assert len(bomb) < 20_000
    response = asgi_post(image_app, path, content=bomb, headers=headers)
    assert response.status_code == 413, response.text
    assert "10000000000 pixels" in response.text and "max_pixels" in response.text


def test_bombs_and_garbage_in_json_protocols_are_4xx(image_app) -> None:
    bomb = {"inputs": {"image": {"b64": _b64(bomb_png())}}}
    assert asgi_post(image_app, "/models/vit/predict", json=bomb).status_code == 413
    garbage = asgi_post(image_app, "/models/vit/predict", json={"inputs": {"image": {"b64": _b64(b"not an image")}}})
    assert garbage.status_code == 400 and "cannot be decoded as JPEG, PNG or WebP" in garbage.text
    truncated = asgi_post(image_app, "/predictions/vit", content=jpeg()[:300], headers={"content-type": "image/jpeg"})
    assert truncated.status_code == 400, truncated.text
    not_b64 = asgi_post(image_app, "/v1/models/vit:predict", json={"instances": [{"b64": "%%%"}]})
    assert not_b64.status_code == 400 and "base64" in not_b64.text
    empty = asgi_post(
        image_app, "/invocations", content=b"", headers={"content-type": "image/jpeg", "x-maaskit-model": "vit"}
    )
    assert empty.status_code == 400
    wrong_type = asgi_post(image_app, "/predictions/vit", content=b"a,b", headers={"content-type": "text/csv"})
    assert wrong_type.status_code == 415
