"""SageMaker's /invocations carries the API's maaskit routes (X-Amzn-SageMaker-Custom-Attributes)."""

from __future__ import annotations

import orjson
import pytest

from bundle import names, open_bundle
from handlers.app import create_app
from handlers.tunnel import InvocationsTunnel
from tests.handlers.conftest import asgi_post


@pytest.fixture(scope="module")
def container(repository, settings):
    return InvocationsTunnel(create_app(repository, settings))


def _attributes(method: str, path: str) -> dict[str, str]:
    return {names.SAGEMAKER_ATTRIBUTES_HEADER: names.route_attribute(method, path)}


def test_a_named_get_route_answers_as_it_does_directly(container):
    response = asgi_post(container, "/invocations", content=b"{}", headers=_attributes("GET", "/models/iris"))
    assert response.status_code == 200
    detail = response.json()
    assert detail["name"] == "iris" and [spec["name"] for spec in detail["inputs"]]


def test_a_named_predict_answers_in_the_maaskit_shape(container, bundles):
    samples = open_bundle(bundles.iris).samples()
    body = orjson.dumps({"inputs": {k: v.tolist() for k, v in samples.inputs.items()}})
    headers = {"content-type": "application/json", **_attributes("POST", "/models/iris/predict")}
    answer = asgi_post(container, "/invocations", content=body, headers=headers).json()
    assert set(answer) >= {"model", "version", "outputs"} and "predictions" not in answer


def test_plain_invocations_are_untouched(container, bundles):
    samples = open_bundle(bundles.iris).samples()
    body = orjson.dumps({"inputs": {k: v.tolist() for k, v in samples.inputs.items()}})
    headers = {"content-type": "application/json", "x-maaskit-model": "iris", names.SAGEMAKER_ATTRIBUTES_HEADER: "x=1"}
    assert "predictions" in asgi_post(container, "/invocations", content=body, headers=headers).json()


@pytest.mark.parametrize(
    "route", ["DELETE /models/iris", "GET /metrics", "GET /models/../metrics", "GET /v2/health/ready", "GET"]
)
def test_only_maaskit_routes_can_be_named(container, route: str):
    headers = {names.SAGEMAKER_ATTRIBUTES_HEADER: f"{names.ROUTE_ATTRIBUTE}={route}"}
    response = asgi_post(container, "/invocations", content=b"{}", headers=headers)
    assert response.status_code == 400
    assert names.ROUTE_ATTRIBUTE in response.json()["error"]
