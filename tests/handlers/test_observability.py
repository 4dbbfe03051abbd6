"""Access log lines, payload logging switch, Prometheus metrics, 500s in the route's protocol shape."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from starlette.applications import Starlette

from handlers.app import create_app
from handlers.engine import ModelRepository
from handlers.metrics import Metrics
from handlers.observability import ObservabilityMiddleware
from handlers.settings import Settings
from tests.handlers.conftest import asgi_get, asgi_post

ROW = {"inputs": {"a": [[1, 2]], "b": [[3, 4]]}}


def _app_with_log(repository: ModelRepository, **overrides: Any) -> tuple[Starlette, io.StringIO]:
    settings = Settings.load(environ={}, intra_op_threads=1, **overrides)
    app = create_app(repository, settings)
    stream = io.StringIO()
    for middleware in app.user_middleware:
        if middleware.cls is ObservabilityMiddleware:  # type: ignore[comparison-overlap]
            middleware.kwargs["stream"] = stream
    return app, stream


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_line_per_request_without_payload(repository):
    app, stream = _app_with_log(repository)
    asgi_post(app, "/models/adder/predict", json=ROW, headers={"x-request-id": "abc-123"})
    asgi_post(app, "/v2/models/adder/versions/1.0.0/infer", json={"inputs": []})
    first, second = _lines(stream)
    assert first["request_id"] == "abc-123"
    assert (first["model"], first["version"], first["protocol"], first["status"]) == ("adder", "1.10.0", "maaskit", 200)
    assert first["latency_ms"] > 0
    assert "payload" not in first
    assert (second["protocol"], second["version"], second["status"]) == ("oip", "1.0.0", 400)
    assert "missing input" in second["error"]


def test_payload_logged_only_when_enabled(repository):
    app, stream = _app_with_log(repository, log_payload=True)
    asgi_post(app, "/models/adder/predict", json=ROW)
    assert json.loads(_lines(stream)[0]["payload"]) == ROW


def test_response_carries_request_id(repository, settings):
    response = asgi_get(create_app(repository, settings), "/models")
    assert len(response.headers["x-request-id"]) == 32


def test_prometheus_metrics_per_model_version(repository, settings):
    app = create_app(repository, settings)
    asgi_post(app, "/models/adder/predict", json=ROW)
    asgi_post(app, "/models/adder/predict", json={"inputs": {}})
    asgi_post(app, "/v1/models/adder/versions/1.0.0:predict", json={"instances": [{"a": [1, 2], "b": [3, 4]}]})
    text = asgi_get(app, "/metrics").text
    assert 'maaskit_requests_total{model="adder",version="1.10.0",protocol="maaskit"} 2' in text
    assert 'maaskit_requests_total{model="adder",version="1.0.0",protocol="tfserving"} 1' in text
    assert 'maaskit_request_errors_total{model="adder",version="1.10.0",protocol="maaskit",class="client"} 1' in text
    assert 'maaskit_request_duration_seconds_count{model="adder",version="1.10.0",protocol="maaskit"} 2' in text
    assert 'le="+Inf"} 2' in text


def test_histogram_buckets_are_cumulative():
    metrics = Metrics()
    for latency in (0.2, 3.0, 3.0, 20_000.0):
        metrics.observe("m", "1.0.0", "p", 200, latency)
    text = metrics.prometheus()
    assert 'le="0.0005"} 1' in text
    assert 'le="0.005"} 3' in text
    assert 'le="10.0"} 3' in text
    assert 'le="+Inf"} 4' in text


def test_internal_error_is_a_logged_json_500(repository, caplog):
    runtime = repository.get("adder", "1.0.0")
    app, stream = _app_with_log(ModelRepository([runtime]))

    async def broken(feed):
        raise RuntimeError("disk on fire")

    original = runtime.infer
    runtime.infer = broken
    try:
        response = asgi_post(app, "/models/adder/predict", json=ROW)
    finally:
        runtime.infer = original
    assert response.status_code == 500
    assert "internal server error" in response.json()["error"]["message"]  # maaskit's shape: the route's protocol
    assert "disk on fire" not in response.text  # internals stay in the log
    assert "disk on fire" in caplog.text
    assert _lines(stream)[0]["status"] == 500


@pytest.mark.parametrize("path", ["/openapi.json", "/docs"])
def test_docs_are_served(repository, settings, path):
    assert asgi_get(create_app(repository, settings), path).status_code == 200


def test_openapi_describes_json_routes_with_schemas(repository, settings):
    document = asgi_get(create_app(repository, settings), "/openapi.json").json()
    predict = document["paths"]["/models/{name}/predict"]["post"]
    assert predict["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PredictRequest"
    }
    assert predict["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("PredictResponse")
    assert [param["name"] for param in predict["parameters"]] == ["name"]
    versioned = document["paths"]["/models/{name}/versions/{version}/predict"]["post"]
    assert [param["in"] for param in versioned["parameters"]] == ["path", "path"]
    infer = document["paths"]["/v2/models/{name}/infer"]["post"]
    assert infer["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("InferRequest")
    assert infer["responses"]["4XX"]["content"]["application/json"]["schema"]["$ref"].endswith("OipError")
    schemas = document["components"]["schemas"]
    assert {"inputs", "rows"} <= set(schemas["PredictRequest"]["properties"])
    assert "TfPredictRequest" in schemas
    assert all(
        not key.startswith("x-maaskit") for item in document["paths"].values() for op in item.values() for key in op
    )


def _request_id_message(text: str) -> bool:
    return text.startswith("internal server error (request id ") and text.endswith("see the server log")


@pytest.mark.parametrize(
    ("method", "path", "body", "message_of"),
    [
        ("GET", "/v1/models", None, lambda answer: answer["error"]["message"]),  # OpenAI's error object
        ("GET", "/models/adder/v1/models", None, lambda answer: answer["error"]["message"]),
        ("GET", "/v2/models/adder", None, lambda answer: answer["error"]),  # OIP
        ("POST", "/v1/models/adder:predict", {"instances": [[1, 2]]}, lambda answer: answer["error"]),  # TF Serving
        ("POST", "/invocations", ROW, lambda answer: answer["error"]),  # SageMaker
        ("POST", "/predictions/adder", ROW, lambda answer: answer["message"]),  # TorchServe
        ("GET", "/models/adder", None, lambda answer: answer["error"]["message"]),  # maaskit
    ],
)
def test_an_unexpected_exception_answers_in_the_routes_protocol_shape(
    repository, caplog, monkeypatch, method, path, body, message_of
):
    crashing = ModelRepository([repository.get("adder", "1.0.0")])

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(crashing, "get", broken)
    monkeypatch.setattr(crashing, "names", broken)
    app, stream = _app_with_log(crashing)
    response = asgi_post(app, path, json=body) if method == "POST" else asgi_get(app, path)
    assert response.status_code == 500, response.text
    assert _request_id_message(message_of(response.json())), response.text
    assert response.headers["x-request-id"] in response.text
    assert "disk on fire" not in response.text and "disk on fire" in caplog.text
    line = _lines(stream)[0]
    assert (line["status"], line["error"]) == (500, "internal error: RuntimeError")
    if path.endswith("/v1/models"):
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
        assert response.json()["error"]["type"] == "server_error"
