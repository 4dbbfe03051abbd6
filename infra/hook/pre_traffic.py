"""CodeDeploy pre-traffic hook: run the bundle's samples against the new Lambda version before any traffic.

Deployed as its own small function (stdlib + boto3 from the Lambda runtime). ``cases.json`` beside
this file holds the sample inputs and the outputs the ORIGINAL model gave; the new version
(``TARGET_VERSION_ARN``) gets them as an API Gateway REST event on ``POST /models/<name>/predict``.
Any mismatch, error status or invocation failure reports ``Failed``, which stops the rollout.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

__all__ = ["compare", "handler", "predict_event"]

CASES_FILE = Path(__file__).with_name("cases.json")


def predict_event(model: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """An API Gateway REST (payload 1.0) event carrying a maaskit JSON predict request."""
    path = f"/models/{model}/predict"
    return {
        "resource": "/models/{model}/{proxy+}",
        "path": path,
        "httpMethod": "POST",
        "headers": {"content-type": "application/json", "accept": "application/json"},
        "multiValueHeaders": {"content-type": ["application/json"], "accept": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"model": model, "proxy": "predict"},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/models/{model}/{proxy+}",
            "httpMethod": "POST",
            "path": path,
            "stage": "hook",
            "requestId": "maaskit-pre-traffic-hook",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "maaskit-pre-traffic-hook"},
        },
        "body": json.dumps({"inputs": inputs}),
        "isBase64Encoded": False,
    }


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [item for element in value for item in _flatten(element)]
    return [value]


def compare(expected: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """Differences between the expected outputs (with their tolerances) and the answer; empty when they agree.

    ``expected[name]`` holds ``values`` and either ``kind: label`` with ``min_agreement`` (share of equal
    elements) or ``kind: numeric`` with ``atol`` and ``rtol``.
    """
    problems = []
    for name, spec in expected.items():
        if name not in got:
            problems.append(f"output {name!r} missing from the answer")
            continue
        want, have = _flatten(spec["values"]), _flatten(got[name])
        if len(want) != len(have):
            problems.append(f"output {name!r}: {len(have)} values, expected {len(want)}")
        elif spec["kind"] == "label":
            agree = sum(str(a) == str(b) for a, b in zip(want, have, strict=True)) / max(len(want), 1)
            if agree < spec["min_agreement"]:
                problems.append(f"output {name!r} agrees on {agree:.1%}, needs {spec['min_agreement']:.1%}")
        else:
            for index, (a, b) in enumerate(zip(want, have, strict=True)):
                if not isinstance(b, int | float) or not math.isclose(a, b, rel_tol=spec["rtol"], abs_tol=spec["atol"]):
                    problems.append(f"output {name!r}[{index}]: got {b!r}, expected {a!r}")
                    break
    return problems


def _check(client: Any, target: str, cases: dict[str, Any]) -> list[str]:
    event = predict_event(cases["model"], cases["inputs"])
    answer = client.invoke(FunctionName=target, Payload=json.dumps(event).encode())
    payload = json.loads(answer["Payload"].read() or b"null")
    if answer.get("FunctionError"):
        return [f"the new version failed: {json.dumps(payload)[:500]}"]
    status = payload.get("statusCode") if isinstance(payload, dict) else None
    if status != 200:
        return [f"the new version answered HTTP {status}: {str(payload)[:500]}"]
    body = json.loads(payload.get("body") or "{}")
    return compare(cases["outputs"], body.get("outputs", {}))


def _clients() -> tuple[Any, Any]:
    """The Lambda and CodeDeploy clients, made once in the init phase (boto3's import and setup take ~1 s)."""
    import boto3

    return boto3.client("lambda"), boto3.client("codedeploy")


_CLIENTS: tuple[Any, Any] | None = _clients() if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") else None


def handler(event: dict[str, Any], _context: Any) -> dict[str, str]:
    """Entry point CodeDeploy calls with ``DeploymentId`` and ``LifecycleEventHookExecutionId``."""
    lambda_client, codedeploy = _CLIENTS or _clients()
    cases = json.loads(CASES_FILE.read_text())
    target = os.environ["TARGET_VERSION_ARN"]
    try:
        problems = _check(lambda_client, target, cases)
    except Exception as exc:  # any failure to check is a failed check
        problems = [f"could not run the samples: {type(exc).__name__}: {exc}"]
    status = "Failed" if problems else "Succeeded"
    print(json.dumps({"target": target, "status": status, "problems": problems[:20]}))
    codedeploy.put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"],
        lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status=status,
    )
    return {"status": status}
