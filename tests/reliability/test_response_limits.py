"""Answers over the platform's limit are 413s in the protocol's shape, not opaque platform errors.

Lambda: the invocation response (JSON-escaped text, or base64 binary, plus its envelope) may not exceed
6 MB, and 1 MB behind an Application Load Balancer; SageMaker real-time: 6 MB. A 2.9 MB request of 160k
rows used to answer 200 with 6.4 MB locally and fail on Lambda; now it is a 413 that says what the
route's own client can do (a binary answer, base64 embeddings, fewer rows).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys

import pytest

from bundle.limits import ALB_LAMBDA_PAYLOAD_BYTES, LAMBDA_PAYLOAD_BYTES, SAGEMAKER_PAYLOAD_BYTES
from handlers.app import create_app
from handlers.engine import ModelRepository
from handlers.limits import carried_size
from handlers.sagemaker_entry import container_settings
from handlers.settings import Settings
from tests.handlers.conftest import asgi_post
from tests.handlers.events import LambdaContext, load_event

ROW = [5.1, 3.5, 1.4, 0.2]
BIG = 160_000


@pytest.fixture(scope="module")
def lambda_module(rel_bundles):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MAASKIT_BUNDLES", os.pathsep.join([str(rel_bundles.iris)]))
        patch.setenv("MAASKIT_INTRA_OP_THREADS", "1")
        for name in ("MAASKIT_METRICS", "MAASKIT_MAX_RESPONSE_BYTES"):
            patch.delenv(name, raising=False)
        sys.modules.pop("handlers.lambda_entry", None)
        yield importlib.import_module("handlers.lambda_entry")
        sys.modules.pop("handlers.lambda_entry", None)


def _lambda(module, rows: int, path: str = "/models/iris/predict", accept: str = "application/json") -> dict:
    event = load_event("apigw_v2_predict")
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["rawQueryString"], event["queryStringParameters"] = "", None
    body = {"rows": [ROW] * rows} if path.startswith("/models") else {"instances": [ROW] * rows}
    event["body"] = json.dumps(body)
    event["headers"]["accept"] = accept
    return _handle(module, event)


def test_lambda_answer_over_6mb_is_413_in_the_protocols_shape(lambda_module):
    response = _lambda(lambda_module, BIG)
    assert response["statusCode"] == 413
    error = json.loads(response["body"])["error"]  # maaskit's error shape
    assert error["status"] == 413
    assert "binary" in error["message"] and "fewer rows" in error["message"]
    assert len(json.dumps(response)) < LAMBDA_PAYLOAD_BYTES


def test_lambda_answer_under_the_limit_is_served_and_the_estimate_bounds_it(lambda_module):
    response = _lambda(lambda_module, 20_000)
    assert response["statusCode"] == 200
    body = response["body"].encode()
    assert carried_size(body, "application/json", on_lambda=True) >= len(json.dumps(response))


def test_lambda_binary_answer_fits_where_json_does_not(lambda_module):
    response = _lambda(lambda_module, BIG, path="/invocations", accept="application/x-npy")
    assert response["statusCode"] == 200 and response["isBase64Encoded"]
    json_answer = _lambda(lambda_module, BIG, path="/invocations")
    assert json_answer["statusCode"] == 413
    assert json.loads(json_answer["body"])["error"].startswith("the answer is")  # SageMaker's {"error": ...}


def test_sagemaker_answer_over_6mb_is_413_and_npy_is_served(rel_bundles, rel_repository):
    settings = container_settings({}, bundles=(str(rel_bundles.iris),), access_log=False, metrics="none")
    assert settings.max_response_bytes == SAGEMAKER_PAYLOAD_BYTES
    app = create_app(rel_repository, settings)
    body = json.dumps({"instances": [ROW] * 250_000}).encode()
    headers = {"content-type": "application/json", "x-maaskit-model": "iris"}
    answer = asgi_post(app, "/invocations", content=body, headers=headers)
    assert answer.status_code == 413, answer.text[:200]
    assert "over its 6291456-byte limit" in answer.json()["error"]
    npy = asgi_post(app, "/invocations", content=body, headers={**headers, "accept": "application/x-npy"})
    assert npy.status_code == 200 and npy.headers["content-type"] == "application/x-npy"


def test_carried_size_of_binary_is_base64():
    assert carried_size(b"\0" * 3000, "application/x-npy", on_lambda=True) >= 4000
    assert carried_size(b"\0" * 3000, "application/x-npy", on_lambda=False) == 3000


ALB_ROWS = 20_000  # about 1.7 MB of JSON answer: over an ALB's 1 MB, well under Lambda's 6 MB


def _handle(module, event: dict) -> dict:
    """The Lambda handler on ``event`` (Mangum needs a current event loop; an earlier asyncio.run closed it)."""
    asyncio.set_event_loop(asyncio.new_event_loop())
    return module.handler(event, LambdaContext())


def test_alb_answers_stop_at_1mb_where_api_gateway_carries_them(lambda_module):
    event = load_event("alb_predict_json")
    event["body"] = json.dumps({"rows": [ROW] * ALB_ROWS})
    response = _handle(lambda_module, event)
    assert response["statusCode"] == 413
    message = json.loads(response["body"])["error"]["message"]  # maaskit's shape
    assert f"over its {ALB_LAMBDA_PAYLOAD_BYTES}-byte limit" in message and "Application Load Balancer" in message
    assert "fewer rows" in message
    assert len(json.dumps(response)) < ALB_LAMBDA_PAYLOAD_BYTES
    assert _lambda(lambda_module, ALB_ROWS)["statusCode"] == 200  # the same answer through API Gateway


def test_alb_answers_under_1mb_are_served(lambda_module):
    response = _handle(lambda_module, load_event("alb_predict_json"))
    assert response["statusCode"] == 200
    assert len(json.loads(response["body"])["labels"]) == 3


@pytest.fixture(scope="module")
def embedder_repository(tmp_path_factory):
    from model_packager import package
    from tests.handlers.text.bundles import CORPUS
    from tests.handlers.text.folders import embedding_folder

    out = tmp_path_factory.mktemp("embedder")
    made = package(
        embedding_folder(out / "folder"), name="embedder", version="1.0.0", task="feature-extraction",
        sample=list(CORPUS), out=out / "bundles",
    )  # fmt: skip
    return ModelRepository.load(Settings.load(environ={}, intra_op_threads=1), [made.directory])


def test_the_413_for_a_large_answer_gives_the_routes_own_advice(embedder_repository):
    settings = Settings.load(environ={}, access_log=False, metrics="none", intra_op_threads=1, max_response_bytes=64)
    app = create_app(embedder_repository, settings)
    texts = ["the quick brown fox", "jumps over the lazy dog"]
    openai = asgi_post(app, "/v1/embeddings", json={"model": "embedder", "input": texts})
    assert openai.status_code == 413, openai.text
    error = openai.json()["error"]  # OpenAI's error object
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == "request_too_large"
    assert '"encoding_format": "base64"' in error["message"] and "binary_data_output" not in error["message"]
    scoped = asgi_post(app, "/models/embedder/v1/embeddings", json={"model": "embedder", "input": texts})
    assert scoped.status_code == 413 and "encoding_format" in scoped.json()["error"]["message"]
    oip = asgi_post(
        app,
        "/v2/models/embedder/infer",
        json={"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": texts}]},
    )
    assert oip.status_code == 413, oip.text
    assert "binary_data_output" in oip.json()["error"] and "encoding_format" not in oip.json()["error"]
