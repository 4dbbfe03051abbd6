"""String tensors through every encoding: JSON, OIP BYTES (JSON and binary), CSV, .npy."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest

from handlers.app import create_app
from handlers.engine import ModelRepository
from tests.handlers.bundles import build_text_bundle
from tests.handlers.conftest import asgi_post


@pytest.fixture(scope="module")
def app(tmp_path_factory, settings):
    bundle = build_text_bundle(tmp_path_factory.mktemp("text"))
    return create_app(ModelRepository.load(settings, [bundle]), settings)


def test_warm_up_and_json(app):
    answer = asgi_post(app, "/models/echo/predict", json={"rows": [["héllo"], ["ça va"]]}).json()
    assert answer["outputs"]["echo"] == [["héllo"], ["ça va"]]
    assert answer["outputs"]["size"] == [2, 1]
    response = asgi_post(app, "/models/echo/predict", json={"rows": [[1], [2]]})
    assert response.status_code == 400
    assert "takes strings" in response.json()["error"]["message"]


def test_oip_bytes_json_and_binary(app):
    body = {"inputs": [{"name": "text", "shape": [2, 1], "datatype": "BYTES", "data": ["héllo", "x"]}]}
    outputs = {item["name"]: item for item in asgi_post(app, "/v2/models/echo/infer", json=body).json()["outputs"]}
    assert outputs["echo"] == {"name": "echo", "datatype": "BYTES", "shape": [2, 1], "data": ["héllo", "x"]}
    raw = b"".join(struct.pack("<I", len(item)) + item for item in ("héllo".encode(), b"x"))
    header = json.dumps(
        {
            "inputs": [
                {"name": "text", "shape": [2, 1], "datatype": "BYTES", "parameters": {"binary_data_size": len(raw)}}
            ],
            "outputs": [{"name": "echo", "parameters": {"binary_data": True}}],
        }
    ).encode()
    response = asgi_post(
        app,
        "/v2/models/echo/infer",
        content=header + raw,
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    length = int(response.headers["inference-header-content-length"])
    assert response.content[length:] == raw  # the same length-prefixed elements come back


def test_csv_and_npy(app):
    headers = {"content-type": "text/csv", "accept": "text/csv"}
    assert asgi_post(app, "/invocations", content="héllo\nça va\n".encode(), headers=headers).text == "héllo\nça va\n"
    buffer = io.BytesIO()
    np.save(buffer, np.asarray([["a"], ["b"]]), allow_pickle=False)
    headers = {"content-type": "application/x-npy", "accept": "application/x-npy"}
    response = asgi_post(app, "/invocations", content=buffer.getvalue(), headers=headers)
    assert np.load(io.BytesIO(response.content), allow_pickle=False).tolist() == [["a"], ["b"]]
