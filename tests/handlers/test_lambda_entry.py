"""The Lambda handler with captured-shape events: every event source, base64 bodies, binary answers."""

from __future__ import annotations

import base64
import csv
import importlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from bundle import open_bundle
from handlers.settings import Settings
from tests.handlers.events import LambdaContext, load_event

EVENT_ROWS = np.asarray([[5.1, 3.5, 1.4, 0.2], [6.8, 2.8, 4.8, 1.4], [5.8, 2.8, 5.1, 2.4]], dtype=np.float32)


@pytest.fixture(scope="module")
def lambda_module(bundles):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MAASKIT_BUNDLES", os.pathsep.join([str(bundles.iris), str(bundles.adder_v1)]))
        patch.setenv("MAASKIT_INTRA_OP_THREADS", "1")
        patch.delenv("MAASKIT_METRICS", raising=False)
        sys.modules.pop("handlers.lambda_entry", None)
        module = importlib.import_module("handlers.lambda_entry")
        yield module
        sys.modules.pop("handlers.lambda_entry", None)


@pytest.fixture(scope="module")
def expected(bundles):
    """The original model's labels and probabilities for the event rows, from the bundle's samples."""
    samples = open_bundle(bundles.iris).samples()
    index = [int(np.flatnonzero(np.isclose(samples.inputs["X"], row, atol=1e-6).all(axis=1))[0]) for row in EVENT_ROWS]
    return samples.outputs["label"][index].tolist(), samples.outputs["probabilities"][index]


def invoke(
    module: ModuleType, name: str, mutate: Callable[[dict[str, Any]], None] | None = None
) -> tuple[dict[str, Any], bytes]:
    event = load_event(name)
    if mutate:
        mutate(event)
    response: dict[str, Any] = module.handler(event, LambdaContext())
    body = response["body"]
    raw = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
    return response, raw


def header(response: dict[str, Any], name: str) -> str:
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    multi = {k.lower(): v[0] for k, v in (response.get("multiValueHeaders") or {}).items()}
    return str(headers.get(name) or multi.get(name))


@pytest.mark.parametrize(
    "name",
    [
        "apigw_v1_predict",
        "apigw_v2_predict",
        "apigw_v2_predict_base64",
        "alb_predict_base64",
        "alb_multivalue_predict_base64",
    ],
)
def test_predict_events_match_samples(lambda_module, expected, name):
    response, raw = invoke(lambda_module, name)
    assert response["statusCode"] == 200
    answer = json.loads(raw)
    labels, probabilities = expected
    assert answer["labels"] == labels
    assert answer["version"] == "1.0.0"
    np.testing.assert_allclose(answer["outputs"]["probabilities"], probabilities, atol=1e-4)


def test_ping_is_healthy_once_warm(lambda_module):
    response, raw = invoke(lambda_module, "apigw_v1_ping")
    assert response["statusCode"] == 200
    assert json.loads(raw) == {"status": "Healthy"}


def test_npy_in_and_out_base64(lambda_module, expected):
    response, raw = invoke(lambda_module, "apigw_v1_invocations_npy_base64")
    assert response["statusCode"] == 200
    assert response["isBase64Encoded"] is True
    assert header(response, "content-type") == "application/x-npy"
    labels = np.load(io.BytesIO(raw), allow_pickle=False)
    assert labels.tolist() == expected[0]


def test_oip_binary_both_ways(lambda_module, expected):
    response, raw = invoke(lambda_module, "apigw_v2_oip_binary_base64")
    assert response["statusCode"] == 200
    assert response["isBase64Encoded"] is True
    length = int(header(response, "inference-header-content-length"))
    head = json.loads(raw[:length])
    label, probabilities = head["outputs"]
    assert label["data"] == expected[0]
    assert probabilities["parameters"]["binary_data_size"] == 3 * 3 * 4
    values = np.frombuffer(raw[length:], dtype="<f4").reshape(probabilities["shape"])
    np.testing.assert_allclose(values, expected[1], atol=1e-4)


def test_function_url_tfserving(lambda_module, expected):
    response, raw = invoke(lambda_module, "function_url_tfserving")
    assert response["statusCode"] == 200
    predictions = json.loads(raw)["predictions"]
    assert [row["label"] for row in predictions] == expected[0]


def test_function_url_torchserve_single_example(lambda_module, expected):
    response, raw = invoke(lambda_module, "function_url_torchserve_base64")
    assert response["statusCode"] == 200
    scores = json.loads(raw)
    assert next(iter(scores)) == expected[0][0]  # most probable label first
    assert scores[expected[0][0]] == pytest.approx(float(expected[1][0].max()), abs=1e-4)


def test_alb_csv(lambda_module, expected):
    response, raw = invoke(lambda_module, "alb_invocations_csv")
    assert response["statusCode"] == 200
    assert header(response, "content-type").startswith("text/csv")
    assert [row[0] for row in csv.reader(io.StringIO(raw.decode()))] == expected[0]


def test_alb_model_ready(lambda_module):
    response, raw = invoke(lambda_module, "alb_oip_ready")
    assert response["statusCode"] == 200
    assert json.loads(raw) == {"name": "iris", "ready": True}


def test_malformed_body_is_400_not_500(lambda_module):
    def break_body(event):
        event["body"] = '{"rows": [[5.1, 3.5'

    response, raw = invoke(lambda_module, "apigw_v2_predict", break_body)
    assert response["statusCode"] == 400
    assert "not valid JSON" in json.loads(raw)["error"]["message"]


def test_body_over_6mb_is_413(lambda_module):
    def inflate(event):
        event["body"] = json.dumps({"rows": [[5.1, 3.5, 1.4, 0.2]] * 400_000})
        event["headers"]["content-length"] = str(len(event["body"]))

    response, _ = invoke(lambda_module, "apigw_v2_predict", inflate)
    assert response["statusCode"] == 413


def test_access_log_carries_emf_metrics(lambda_module, capsys):
    invoke(lambda_module, "apigw_v2_predict")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    line = lines[-1]
    assert line["request_id"] == LambdaContext.aws_request_id
    assert (line["model"], line["version"], line["status"]) == ("iris", "1.0.0", 200)
    assert line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["model", "version"]]
    assert line["Latency"] > 0
    assert "rows" not in json.dumps(line)  # the payload is never logged by default


def test_custom_domain_base_path(lambda_module, bundles, expected):
    settings = Settings.load(environ={}, bundles=[str(bundles.iris)], base_path="/iris", intra_op_threads=1)
    handler = lambda_module.build_handler(settings)
    event = load_event("apigw_v1_predict")
    event["path"] = "/iris/models/iris/predict"
    response = handler(event, LambdaContext())
    assert response["statusCode"] == 200, response["body"]
    assert json.loads(response["body"])["labels"] == expected[0]


def test_cold_start_imports_only_the_runtime_set(bundles):
    """A fresh interpreter importing the handler loads no CLI, server, docs or build-time modules."""
    code = (
        "import sys, json; import handlers.lambda_entry; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'fastapi','uvicorn','httpx','typer','rich','model_packager','infra',"
        "'sklearn','skl2onnx','torch','onnx','pandas'} "
        "or m in {'handlers.schemas','handlers.openapi','pydantic.v1','maaskit.invoke'})))"
    )
    env = dict(os.environ, MAASKIT_BUNDLES=str(bundles.iris), MAASKIT_ACCESS_LOG="0")
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize(
    ("name", "cap", "carrier"),
    [
        ("apigw_v1_predict", 6 * 1024 * 1024, "Lambda"),
        ("apigw_v2_predict", 6 * 1024 * 1024, "Lambda"),
        ("function_url_tfserving", 6 * 1024 * 1024, "Lambda"),
        ("alb_predict_base64", 1024 * 1024, "Application Load Balancer"),
        ("alb_multivalue_predict_base64", 1024 * 1024, "Application Load Balancer"),
    ],
)
def test_each_event_source_puts_its_answer_cap_in_the_scope(lambda_module, name, cap, carrier):
    from handlers.limits import RESPONSE_CAP

    event = load_event(name)
    config = {"api_gateway_base_path": "/", "text_mime_types": [], "exclude_headers": []}
    (source,) = [cls for cls in lambda_module._HANDLERS if cls.infer(event, LambdaContext(), config)][:1]
    limit, who = source(event, LambdaContext(), config).scope[RESPONSE_CAP]
    assert limit == cap and carrier in who
