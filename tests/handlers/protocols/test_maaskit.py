"""maaskit JSON over real HTTP: listing, details, predictions against samples, version pinning, bad input."""

from __future__ import annotations

import gzip
import zlib

import numpy as np
import pytest


def test_list_models(http):
    answer = http.get("/models").json()
    assert answer["models"] == [
        {"name": "adder", "versions": ["1.0.0", "1.10.0"], "latest": "1.10.0"},
        {"name": "diabetes", "versions": ["2.1.0"], "latest": "2.1.0"},
        {"name": "iris", "versions": ["1.0.0"], "latest": "1.0.0"},
    ]


def test_model_detail_has_signature_and_labels(http):
    answer = http.get("/models/iris").json()
    assert answer["version"] == "1.0.0"
    assert answer["task"] == "classifier"
    assert answer["labels"] == ["setosa", "versicolor", "virginica"]
    assert answer["inputs"] == [{"name": "X", "dtype": "float32", "shape": [None, 4]}]
    assert answer["ready"] is True
    assert "CPUExecutionProvider" in answer["providers"]


def test_model_detail_of_pinned_version(http):
    assert http.get("/models/adder/versions/1.0.0").json()["version"] == "1.0.0"
    assert http.get("/models/adder").json()["version"] == "1.10.0"  # semver: 1.10.0 > 1.0.0


def test_predict_named_inputs_matches_samples(http, samples):
    sample = samples["iris"]
    answer = http.post("/models/iris/predict", json={"inputs": {"X": sample.inputs["X"].tolist()}}).json()
    assert answer["labels"] == sample.outputs["label"].tolist()
    assert answer["outputs"]["label"] == sample.outputs["label"].tolist()
    np.testing.assert_allclose(answer["outputs"]["probabilities"], sample.outputs["probabilities"], atol=1e-4)


def test_predict_rows_regressor(http, samples):
    sample = samples["diabetes"]
    answer = http.post("/models/diabetes/predict", json={"rows": sample.inputs["X"].tolist()}).json()
    np.testing.assert_allclose(answer["outputs"]["variable"], sample.outputs["variable"], rtol=1e-4, atol=1e-3)
    assert "labels" not in answer


def test_predict_rows_as_objects_and_flat_rows_for_two_inputs(http, samples):
    sample = samples["adder-1.10.0"]
    a, b = sample.inputs["a"].tolist(), sample.inputs["b"].tolist()
    records = [{"a": ra, "b": rb} for ra, rb in zip(a, b, strict=True)]
    flat = [ra + rb for ra, rb in zip(a, b, strict=True)]
    for rows in (records, flat):
        answer = http.post("/models/adder/predict", json={"rows": rows}).json()
        assert answer["version"] == "1.10.0"
        assert answer["outputs"]["total"] == sample.outputs["total"].tolist()


@pytest.mark.parametrize(
    ("path", "params", "headers"),
    [
        ("/models/adder/versions/1.0.0/predict", None, None),
        ("/models/adder/predict", {"version": "1.0.0"}, None),
        ("/models/adder/predict", None, {"X-Maaskit-Model-Version": "1.0.0"}),
    ],
)
def test_version_pinning(http, samples, path, params, headers):
    answer = http.post(path, params=params, headers=headers, json={"inputs": {"a": [[1, 2]], "b": [[3, 4]]}}).json()
    assert answer["version"] == "1.0.0"
    assert answer["outputs"]["total"] == [[4, 6]]  # version 1.0.0 does not double


def test_int_inputs_accept_integral_floats(http):
    answer = http.post("/models/adder/predict", json={"inputs": {"a": [[1.0, 2.0]], "b": [[3, 4]]}}).json()
    assert answer["outputs"]["total"] == [[8, 12]]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"inputs": {"a": [[1, 2]]}}, 400, "missing input 'b'"),
        ({"inputs": {"a": [[1, 2]], "b": [[3, 4]], "c": [[1]]}}, 400, "unknown input(s) 'c'"),
        ({"inputs": {"a": [["x", "y"]], "b": [[3, 4]]}}, 400, "got strings"),
        ({"inputs": {"a": [[1.5, 2]], "b": [[3, 4]]}}, 400, "non-integer"),
        ({"inputs": {"a": [1, 2], "b": [[3, 4]]}}, 400, "must have rank 2"),
        ({"inputs": {"a": [[1, 2, 3]], "b": [[3, 4, 5]]}}, 400, "must have shape [?, 2]"),
        ({"inputs": {"a": [[1, 2], [3]], "b": [[3, 4]]}}, 400, "ragged"),
        ({"inputs": {"a": [[2**63, 1]], "b": [[3, 4]]}}, 400, "int64"),
        ({"rows": []}, 400, "non-empty"),
        ({"nothing": 1}, 400, '"inputs"'),
        ([1, 2], 400, "JSON object"),
    ],
)
def test_bad_input_gets_400_naming_the_problem(http, body, status, fragment):
    response = http.post("/models/adder/predict", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["status"] == status
    assert fragment in error["message"]


def test_ort_failure_on_valid_looking_input_is_422(http):
    # batch sizes of a and b disagree: passes the signature check, onnxruntime refuses the broadcast
    response = http.post(
        "/models/adder/predict", json={"inputs": {"a": [[1, 2], [3, 4], [5, 6]], "b": [[1, 2], [3, 4]]}}
    )
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert message.startswith("model adder 1.10.0 rejected the input")
    assert len(message) < 400


def test_unknown_model_and_version_are_404(http):
    response = http.post("/models/nope/predict", json={"rows": [[1]]})
    assert response.status_code == 404
    assert "loaded models: adder, diabetes, iris" in response.json()["error"]["message"]
    response = http.post("/models/iris/versions/3.0.0/predict", json={"rows": [[1, 2, 3, 4]]})
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "VersionNotFoundError"


def test_malformed_json_unsupported_type_and_oversized_body(http):
    response = http.post("/models/iris/predict", content=b'{"rows": [[1,', headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]["message"]
    response = http.post("/models/iris/predict", content=b"1,2,3,4", headers={"content-type": "text/csv"})
    assert response.status_code == 415
    big = b'{"rows": [' + b"[5.1, 3.5, 1.4, 0.2]," * 350_000 + b"[1, 2, 3, 4]]}"
    response = http.post("/models/iris/predict", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "limit" in response.json()["error"]["message"]


def test_unknown_route_is_json_404(http):
    response = http.get("/no/such/route")
    assert response.status_code == 404
    assert "/docs" in response.json()["error"]["message"]


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_bodies(http, encoding):
    raw = b'{"inputs": {"a": [[1, 2]], "b": [[3, 4]]}}'
    body = gzip.compress(raw) if encoding == "gzip" else zlib.compress(raw)
    headers = {"content-type": "application/json", "content-encoding": encoding}
    assert http.post("/models/adder/predict", content=body, headers=headers).json()["outputs"]["total"] == [[8, 12]]


def test_compression_bomb_and_bad_encodings(http):
    bomb = gzip.compress(b" " * (7 * 1024 * 1024))  # ~7 KB that inflates past the 6 MB limit
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    assert http.post("/models/adder/predict", content=bomb, headers=headers).status_code == 413
    assert http.post("/models/adder/predict", content=b"not gzip", headers=headers).status_code == 400
    headers["content-encoding"] = "br"
    assert http.post("/models/adder/predict", content=b"{}", headers=headers).status_code == 415
