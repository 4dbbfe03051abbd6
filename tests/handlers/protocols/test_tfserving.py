"""TensorFlow Serving REST over real HTTP: status, metadata, row and columnar predict, versions, errors."""

from __future__ import annotations

import numpy as np
import pytest


def test_model_status_lists_versions_newest_first(http):
    answer = http.get("/v1/models/adder").json()
    assert [item["version"] for item in answer["model_version_status"]] == ["1.10.0", "1.0.0"]
    assert all(item["state"] == "AVAILABLE" for item in answer["model_version_status"])
    assert all(item["status"]["error_code"] == "OK" for item in answer["model_version_status"])
    one = http.get("/v1/models/adder/versions/1.0.0").json()
    assert [item["version"] for item in one["model_version_status"]] == ["1.0.0"]


def test_metadata_signature(http):
    answer = http.get("/v1/models/iris/metadata").json()
    assert answer["model_spec"] == {"name": "iris", "signature_name": "", "version": "1.0.0"}
    signature = answer["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["X"]["dtype"] == "DT_FLOAT"
    assert [dim["size"] for dim in signature["inputs"]["X"]["tensor_shape"]["dim"]] == ["-1", "4"]
    assert signature["outputs"]["label"]["dtype"] == "DT_STRING"
    assert http.get("/v1/models/adder/versions/1.0.0/metadata").json()["model_spec"]["version"] == "1.0.0"


def test_predict_instances_row_format(http, samples):
    sample = samples["iris"]
    answer = http.post("/v1/models/iris:predict", json={"instances": sample.inputs["X"].tolist()}).json()
    predictions = answer["predictions"]
    assert [row["label"] for row in predictions] == sample.outputs["label"].tolist()
    np.testing.assert_allclose(
        [row["probabilities"] for row in predictions], sample.outputs["probabilities"], atol=1e-4
    )


def test_predict_inputs_columnar_format(http, samples):
    sample = samples["diabetes"]
    answer = http.post("/v1/models/diabetes:predict", json={"inputs": sample.inputs["X"].tolist()}).json()
    np.testing.assert_allclose(answer["outputs"], sample.outputs["variable"], rtol=1e-4, atol=1e-3)
    named = http.post("/v1/models/diabetes:predict", json={"inputs": {"X": sample.inputs["X"].tolist()}}).json()
    assert named["outputs"] == answer["outputs"]


def test_named_instances_and_versions(http, samples):
    sample = samples["adder-1.0.0"]
    instances = [
        {"a": a, "b": b} for a, b in zip(sample.inputs["a"].tolist(), sample.inputs["b"].tolist(), strict=True)
    ]
    for path in ("/v1/models/adder/versions/1.0.0:predict", "/v1/models/adder/versions/1:predict"):
        # an integer version (TF Serving style) picks the latest 1.x.y: 1.10.0
        answer = http.post(path, json={"instances": instances}).json()
        expected = (
            sample.outputs["total"] if path.endswith("1.0.0:predict") else samples["adder-1.10.0"].outputs["total"]
        )
        assert answer["predictions"] == expected.tolist()


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment"),
    [
        ("/v1/models/iris:predict", {"instances": [[1, 2, 3]]}, 400, "shape [?, 4]"),
        ("/v1/models/iris:predict", {"instances": [[1, 2, 3, 4]], "inputs": [[1, 2, 3, 4]]}, 400, "exactly one"),
        ("/v1/models/iris:predict", {"signature_name": "other", "instances": [[1, 2, 3, 4]]}, 400, "signature_name"),
        ("/v1/models/adder:predict", {"instances": [{"a": [1, 2]}]}, 400, "lacks input 'b'"),
        ("/v1/models/adder:predict", {"inputs": [[1, 2]]}, 400, "several inputs"),
        ("/v1/models/nope:predict", {"instances": [[1]]}, 404, "no model named 'nope'"),
        ("/v1/models/adder/versions/7:predict", {"instances": [[1]]}, 404, "no version 7.x.y"),
    ],
)
def test_errors_are_tf_shaped(http, path, body, status, fragment):
    response = http.post(path, json=body)
    assert response.status_code == status
    assert set(response.json()) == {"error"}
    assert fragment in response.json()["error"]
