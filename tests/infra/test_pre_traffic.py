"""The pre-traffic hook's verdict: samples within tolerance pass, a changed answer fails the rollout."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from infra.hook import pre_traffic
from infra.samples import hook_cases


@pytest.fixture(scope="module")
def cases(bundles) -> dict[str, Any]:
    return hook_cases(bundles["iris"])


def _answer(cases: dict[str, Any], **changes: Any) -> dict[str, Any]:
    outputs = {name: spec["values"] for name, spec in cases["outputs"].items()}
    outputs.update(changes)
    return outputs


def test_cases_carry_inputs_outputs_and_tolerances(cases):
    assert cases["model"] == "iris" and cases["version"] == "1.0.0"
    assert len(cases["inputs"]["X"]) == 8
    assert cases["outputs"]["label"]["kind"] == "label" and cases["outputs"]["label"]["min_agreement"] == 1.0
    assert cases["outputs"]["probabilities"] == {**cases["outputs"]["probabilities"], "kind": "numeric", "atol": 1e-4}


def test_compare_accepts_the_samples_within_tolerance(cases):
    nudged = [[value + 5e-5 for value in row] for row in cases["outputs"]["probabilities"]["values"]]
    assert pre_traffic.compare(cases["outputs"], _answer(cases, probabilities=nudged)) == []


def test_compare_flags_a_changed_model(cases):
    labels = list(cases["outputs"]["label"]["values"])
    labels[0] = "2" if labels[0] != "2" else "1"
    problems = pre_traffic.compare(cases["outputs"], _answer(cases, label=labels))
    assert problems == ["output 'label' agrees on 87.5%, needs 100.0%"]
    off = [[value + 0.01 for value in row] for row in cases["outputs"]["probabilities"]["values"]]
    assert "output 'probabilities'[0]" in pre_traffic.compare(cases["outputs"], _answer(cases, probabilities=off))[0]
    assert "output 'probabilities' missing from the answer" in pre_traffic.compare(cases["outputs"], {"label": labels})


class _Lambda:
    def __init__(self, payload: dict[str, Any], error: bool = False) -> None:
        self.payload, self.error, self.calls = payload, error, []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        answer = {"Payload": io.BytesIO(json.dumps(self.payload).encode())}
        return {**answer, "FunctionError": "Unhandled"} if self.error else answer


def test_check_invokes_the_target_with_an_api_gateway_event(cases):
    body = json.dumps({"outputs": _answer(cases)})
    client = _Lambda({"statusCode": 200, "body": body})
    assert pre_traffic._check(client, "arn:aws:lambda:eu-west-1:123456789012:function:f:7", cases) == []
    (call,) = client.calls
    event = json.loads(call["Payload"])
    assert call["FunctionName"].endswith(":7")
    assert (event["httpMethod"], event["path"]) == ("POST", "/models/iris/predict")
    assert json.loads(event["body"])["inputs"]["X"] == cases["inputs"]["X"]
    assert pre_traffic._check(_Lambda({"statusCode": 422, "body": "{}"}), "t", cases)[0].startswith(
        "the new version answered HTTP 422"
    )
    assert pre_traffic._check(_Lambda({"errorMessage": "boom"}, error=True), "t", cases)[0].startswith(
        "the new version failed"
    )


def test_hook_clients_are_created_at_init_not_per_invocation(monkeypatch, tmp_path, cases):
    """On Lambda (AWS_LAMBDA_FUNCTION_NAME set) the clients exist after import; the handler makes none."""
    import importlib

    import boto3

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "maaskit-hook")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("TARGET_VERSION_ARN", "arn:aws:lambda:eu-west-1:123456789012:function:f:7")
    module = importlib.reload(pre_traffic)
    try:
        lambda_client, codedeploy = module._CLIENTS
        assert (lambda_client.meta.service_model.service_name, codedeploy.meta.service_model.service_name) == (
            "lambda",
            "codedeploy",
        )
        reports: list[dict[str, Any]] = []

        class _CodeDeploy:
            def put_lifecycle_event_hook_execution_status(self, **kwargs: Any) -> None:
                reports.append(kwargs)

        body = json.dumps({"outputs": _answer(cases)})
        monkeypatch.setattr(module, "_CLIENTS", (_Lambda({"statusCode": 200, "body": body}), _CodeDeploy()))
        monkeypatch.setattr(boto3, "client", lambda *a, **k: pytest.fail("a client was made inside the handler"))
        cases_file = tmp_path / "cases.json"
        cases_file.write_text(json.dumps(cases))
        monkeypatch.setattr(module, "CASES_FILE", cases_file)
        assert module.handler({"DeploymentId": "d-1", "LifecycleEventHookExecutionId": "h-1"}, None) == {
            "status": "Succeeded"
        }
        assert reports[0]["status"] == "Succeeded"
    finally:
        monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
        importlib.reload(pre_traffic)
