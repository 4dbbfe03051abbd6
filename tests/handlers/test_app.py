"""The assembled app over real HTTP: operations routes and unknown routes in each protocol's error shape."""

from __future__ import annotations

import pytest


def test_metrics_docs_and_openapi_over_http(http):
    http.post("/models/iris/predict", json={"rows": [[5.1, 3.5, 1.4, 0.2]]})
    metrics = http.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'maaskit_requests_total{model="iris",version="1.0.0",protocol="maaskit"}' in metrics.text
    assert "swagger-ui" in http.get("/docs").text
    assert http.get("/openapi.json").json()["info"]["title"] == "maaskit model server"


@pytest.mark.parametrize(
    ("method", "path", "status", "shape"),
    [
        ("GET", "/nowhere", 404, {"error"}),
        ("GET", "/v2/nowhere", 404, {"error"}),
        ("GET", "/v1/models/iris/labels/x", 404, {"error"}),
        ("POST", "/predictions", 404, {"code", "type", "message"}),
        ("GET", "/models/iris/predict", 405, {"error"}),
        ("POST", "/ping", 405, {"code", "type", "message"}),
        ("GET", "/invocations", 405, {"error"}),
    ],
)
def test_unknown_routes_and_methods_answer_in_the_protocol_shape(http, method, path, status, shape):
    response = http.request(method, path)
    assert response.status_code == status
    assert set(response.json()) == shape


def test_request_id_is_echoed(http):
    assert http.get("/ping", headers={"X-Request-Id": "trace-42"}).headers["x-request-id"] == "trace-42"
