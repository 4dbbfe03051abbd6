"""SageMaker /ping and /invocations over real HTTP: JSON, CSV and .npy in and out, model selection, errors."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from handlers.app import create_app
from handlers.engine import ModelRepository, ModelRuntime
from tests.handlers.conftest import asgi_get, asgi_post

IRIS = {"X-Maaskit-Model": "iris"}
_ONE_ROW = {"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]}


def _npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def test_ping_is_healthy(http):
    response = http.get("/ping")
    assert (response.status_code, response.json()) == (200, {"status": "Healthy"})


def test_ping_is_503_until_warm(repository, settings):
    runtime = repository.get("iris")
    cold = ModelRuntime(runtime.bundle, runtime.session, runtime.processor)  # loaded, not warmed up
    response = asgi_get(create_app(ModelRepository([cold]), settings), "/ping")
    assert (response.status_code, response.json()) == (503, {"status": "Unhealthy"})
    assert asgi_get(create_app(ModelRepository([cold]), settings), "/v2/health/ready").status_code == 503
    assert asgi_get(create_app(ModelRepository(), settings), "/ping").status_code == 503  # nothing loaded
    response = asgi_post(create_app(ModelRepository([cold]), settings), "/v2/models/iris/infer", json=_ONE_ROW)
    assert response.status_code == 503
    assert "not warmed up" in response.json()["error"]


def test_json_in_json_out(http, samples):
    sample = samples["iris"]
    answer = http.post("/invocations", json={"instances": sample.inputs["X"].tolist()}, headers=IRIS).json()
    assert answer["labels"] == sample.outputs["label"].tolist()
    assert [row["label"] for row in answer["predictions"]] == sample.outputs["label"].tolist()


def test_csv_in_csv_out(http, samples):
    sample = samples["iris"]
    body = "\n".join(",".join(f"{v:.9g}" for v in row) for row in sample.inputs["X"].tolist())
    response = http.post(
        "/invocations", content=body, headers=IRIS | {"content-type": "text/csv", "accept": "text/csv"}
    )
    assert response.headers["content-type"].startswith("text/csv")
    assert [row[0] for row in csv.reader(io.StringIO(response.text))] == sample.outputs["label"].tolist()


def test_npy_in_npy_out(http, samples):
    sample = samples["diabetes"]
    response = http.post(
        "/invocations",
        content=_npy(sample.inputs["X"]),
        headers={"X-Maaskit-Model": "diabetes", "content-type": "application/x-npy", "accept": "application/x-npy"},
    )
    assert response.headers["content-type"] == "application/x-npy"
    values = np.load(io.BytesIO(response.content), allow_pickle=False)
    np.testing.assert_allclose(values, sample.outputs["variable"], rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Amzn-SageMaker-Target-Model": "adder-1.0.0.tar.gz"},
        {"X-Amzn-SageMaker-Custom-Attributes": "model=adder,version=1.0.0"},
        {"X-Maaskit-Model": "adder", "X-Maaskit-Model-Version": "1.0.0"},
    ],
)
def test_model_selection_headers(http, headers):
    answer = http.post("/invocations", json={"inputs": {"a": [[1, 2]], "b": [[3, 4]]}}, headers=headers).json()
    assert (answer["model"], answer["version"], answer["predictions"]) == ("adder", "1.0.0", [[4, 6]])


@pytest.mark.parametrize(
    ("content", "headers", "status", "fragment"),
    [
        (b"1,2,3,4", {"content-type": "text/csv"}, 400, "name one with the X-Maaskit-Model header"),
        (b"1,2,3,4", IRIS | {"content-type": "application/xml"}, 415, "not supported"),
        (b"1,2,3,4", IRIS | {"content-type": "text/csv", "accept": "image/png"}, 406, "Accept"),
        (b"1,2,x,4", IRIS | {"content-type": "text/csv"}, 400, "not numeric"),
        (b"not npy", IRIS | {"content-type": "application/x-npy"}, 400, ".npy"),
        (_npy(np.asarray([["a", "b", "c", "d"]])), IRIS | {"content-type": "application/x-npy"}, 400, "got strings"),
        (_npy(np.asarray([[np.inf, 1, 2, 3]])), IRIS | {"content-type": "application/x-npy"}, 400, "NaN or infinity"),
        (
            _npy(np.zeros((1, 4), dtype=object), allow_pickle=True),
            IRIS | {"content-type": "application/x-npy"},
            400,
            "pickle",
        ),
        (b"[[1, 2, 3, 4]]", {"X-Maaskit-Model": "adder", "content-type": "application/x-npy"}, 400, "2 inputs"),
    ],
)
def test_bad_requests(http, content, headers, status, fragment):
    response = http.post("/invocations", content=content, headers=headers)
    assert response.status_code == status
    assert fragment in response.json()["error"]


def test_csv_header_line_is_skipped(http):
    body = "a0,a1,b0,b1\n1,2,3,4\n"
    headers = {"content-type": "text/csv", "X-Maaskit-Model": "adder", "X-Maaskit-Model-Version": "1.0.0"}
    assert http.post("/invocations", content=body, headers=headers).json()["predictions"] == [[4, 6]]
