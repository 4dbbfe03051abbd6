"""Open Inference Protocol v2 over real HTTP: health, metadata, infer in JSON and binary, errors, tritonclient."""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import pytest


def _infer_json(name: str, array: np.ndarray, datatype: str) -> dict[str, Any]:
    return {"name": name, "shape": list(array.shape), "datatype": datatype, "data": array.ravel().tolist()}


def test_health_and_server_metadata(http):
    assert http.get("/v2/health/live").json() == {"live": True}
    assert http.get("/v2/health/ready").json() == {"ready": True}
    server = http.get("/v2").json()
    assert "binary_tensor_data" in server["extensions"]


def test_model_metadata_and_readiness(http):
    meta = http.get("/v2/models/adder").json()
    assert meta["versions"] == ["1.0.0", "1.10.0"]
    assert meta["inputs"] == [
        {"name": "a", "datatype": "INT64", "shape": [-1, 2]},
        {"name": "b", "datatype": "INT64", "shape": [-1, 2]},
    ]
    assert http.get("/v2/models/iris").json()["outputs"][0] == {"name": "label", "datatype": "BYTES", "shape": [-1]}
    assert http.get("/v2/models/adder/versions/1.0.0").status_code == 200
    assert http.get("/v2/models/iris/ready").json() == {"name": "iris", "ready": True}
    assert http.get("/v2/models/adder/versions/1.0.0/ready").status_code == 200


def test_infer_json_matches_samples_and_echoes_id(http, samples):
    sample = samples["iris"]
    body = {"id": "req-1", "inputs": [_infer_json("X", sample.inputs["X"], "FP32")]}
    answer = http.post("/v2/models/iris/infer", json=body).json()
    assert answer["id"] == "req-1"
    assert (answer["model_name"], answer["model_version"]) == ("iris", "1.0.0")
    outputs = {item["name"]: item for item in answer["outputs"]}
    assert outputs["label"]["datatype"] == "BYTES"
    assert outputs["label"]["data"] == sample.outputs["label"].tolist()
    probabilities = np.asarray(outputs["probabilities"]["data"]).reshape(outputs["probabilities"]["shape"])
    np.testing.assert_allclose(probabilities, sample.outputs["probabilities"], atol=1e-4)


def test_infer_with_version_and_output_selection(http, samples):
    sample = samples["adder-1.0.0"]
    body = {
        "inputs": [_infer_json("a", sample.inputs["a"], "INT64"), _infer_json("b", sample.inputs["b"], "INT64")],
        "outputs": [{"name": "total"}],
    }
    answer = http.post("/v2/models/adder/versions/1.0.0/infer", json=body).json()
    assert answer["model_version"] == "1.0.0"
    assert answer["outputs"][0]["data"] == sample.outputs["total"].ravel().tolist()


def test_binary_extension_both_ways(http, samples):
    sample = samples["iris"]
    x = sample.inputs["X"].astype("<f4")
    header = json.dumps(
        {
            "inputs": [
                {"name": "X", "shape": list(x.shape), "datatype": "FP32", "parameters": {"binary_data_size": x.nbytes}}
            ],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    response = http.post(
        "/v2/models/iris/infer",
        content=header + x.tobytes(),
        headers={"Inference-Header-Content-Length": str(len(header)), "content-type": "application/octet-stream"},
    )
    assert response.status_code == 200
    length = int(response.headers["inference-header-content-length"])
    head = json.loads(response.content[:length])
    binary = response.content[length:]
    label, probabilities = head["outputs"]
    # BYTES: 4-byte little-endian length, then the UTF-8 bytes, per element
    labels, offset = [], 0
    for _ in range(label["shape"][0]):
        (size,) = struct.unpack_from("<I", binary, offset)
        labels.append(binary[offset + 4 : offset + 4 + size].decode())
        offset += 4 + size
    assert offset == label["parameters"]["binary_data_size"]
    assert labels == sample.outputs["label"].tolist()
    values = np.frombuffer(binary[offset:], dtype="<f4").reshape(probabilities["shape"])
    np.testing.assert_allclose(values, sample.outputs["probabilities"], atol=1e-4)


def test_classification_extension_gives_labels(http):
    body = {
        "inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}],
        "outputs": [{"name": "probabilities", "parameters": {"classification": 1}}],
    }
    output = http.post("/v2/models/iris/infer", json=body).json()["outputs"][0]
    assert output["datatype"] == "BYTES"
    score, index, label = output["data"][0].split(":")
    assert (index, label) == ("0", "setosa")
    assert float(score) > 0.9


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32"}]}, 400, "neither data"),
        ({"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP99", "data": [1, 2, 3, 4]}]}, 400, "datatype"),
        ({"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3]}]}, 400, "needs 4 elements"),
        ({"inputs": [{"name": "X", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}, 400, "shape [?, 4]"),
        ({"inputs": [{"name": "Y", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}, 400, "unknown input"),
        (
            {"inputs": [{"name": "X", "shape": [1, 4], "datatype": "BYTES", "data": ["a", "b", "c", "d"]}]},
            400,
            "strings",
        ),
        ({"inputs": []}, 400, "missing input 'X'"),
        ({"input": []}, 400, '"inputs" list'),
        (
            {
                "inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}],
                "outputs": [{"name": "z"}],
            },
            400,
            "unknown output",
        ),
    ],
)
def test_bad_requests_get_error_shape(http, body, status, fragment):
    response = http.post("/v2/models/iris/infer", json=body)
    assert response.status_code == status
    assert set(response.json()) == {"error"}
    assert fragment in response.json()["error"]


def test_binary_errors(http):
    header = json.dumps(
        {"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 16}}]}
    ).encode()
    nan = np.asarray([[np.nan, 1, 2, 3]], dtype="<f4").tobytes()
    response = http.post(
        "/v2/models/iris/infer", content=header + nan, headers={"Inference-Header-Content-Length": str(len(header))}
    )
    assert response.status_code == 400
    assert "NaN" in response.json()["error"]
    response = http.post(
        "/v2/models/iris/infer", content=header + nan[:8], headers={"Inference-Header-Content-Length": str(len(header))}
    )
    assert response.status_code == 400
    response = http.post("/v2/models/iris/infer", content=header, headers={"Inference-Header-Content-Length": "999"})
    assert response.status_code == 400
    assert "Inference-Header-Content-Length" in response.json()["error"]


def test_unknown_model_and_version(http):
    assert http.get("/v2/models/nope").status_code == 404
    assert http.get("/v2/models/iris/versions/9.0.0/ready").status_code == 404
    response = http.post("/v2/models/nope/infer", json={"inputs": []})
    assert response.status_code == 404
    assert "no model named 'nope'" in response.json()["error"]


def test_tritonclient_talks_to_the_server(live, samples):
    httpclient = pytest.importorskip("tritonclient.http")
    client = httpclient.InferenceServerClient(url=live.url.removeprefix("http://"))
    try:
        assert client.is_server_live()
        assert client.is_model_ready("iris")
        metadata = client.get_model_metadata("iris")
        assert metadata["inputs"][0]["datatype"] == "FP32"
        sample = samples["iris"]
        tensor = httpclient.InferInput("X", list(sample.inputs["X"].shape), "FP32")
        tensor.set_data_from_numpy(sample.inputs["X"].astype(np.float32), binary_data=True)
        outputs = [
            httpclient.InferRequestedOutput("label", binary_data=True),
            httpclient.InferRequestedOutput("probabilities", binary_data=False),
        ]
        result = client.infer("iris", [tensor], outputs=outputs)
        assert [item.decode() for item in result.as_numpy("label")] == sample.outputs["label"].tolist()
        np.testing.assert_allclose(result.as_numpy("probabilities"), sample.outputs["probabilities"], atol=1e-4)
        a, b = samples["adder-1.0.0"].inputs["a"], samples["adder-1.0.0"].inputs["b"]
        inputs = [
            httpclient.InferInput("a", list(a.shape), "INT64"),
            httpclient.InferInput("b", list(b.shape), "INT64"),
        ]
        inputs[0].set_data_from_numpy(a)
        inputs[1].set_data_from_numpy(b, binary_data=False)
        result = client.infer("adder", inputs, model_version="1.0.0", request_compression_algorithm="gzip")
        np.testing.assert_array_equal(result.as_numpy("total"), samples["adder-1.0.0"].outputs["total"])
    finally:
        client.close()
