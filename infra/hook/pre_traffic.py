"""CodeDeploy pre-traffic hook: run the bundle's samples against the new Lambda version before any traffic.

Deployed as its own function beside the model's (see :mod:`infra.samples`): this file, the
``bundle`` package (the bundle contract, with the one parity rule) and the bundle's
``manifest.json`` and ``samples.npz``, on Python 3.11 with the endpoint's dependency layer (numpy,
pydantic, orjson). The new version (``TARGET_VERSION_ARN``) gets every stored sample row as API
Gateway REST events on ``POST /models/<name>/predict`` (as many as the 6 MB invoke limit needs);
the JSON answers are turned back into arrays of the manifest's dtypes and judged by
:func:`bundle.parity.reproduces` with :func:`bundle.parity.tolerances_for`, exactly as the
runtime's warm-up and ``maaskit verify`` judge them. Any mismatch, error status or invocation
failure reports ``Failed``, which stops the rollout.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from bundle.manifest import Manifest, load_manifest
from bundle.parity import reproduces, tolerances_for
from bundle.samples import Samples, read_samples

__all__ = ["HOOK_DIR", "compare", "decode_outputs", "handler", "load_cases", "predict_event", "request_batches"]

HOOK_DIR = Path(__file__).resolve().parent
#: Largest event sent to the new version: under Lambda's 6 MB synchronous invoke payload.
MAX_EVENT_BYTES = 5 * 1024 * 1024


def load_cases(directory: Path = HOOK_DIR) -> tuple[Manifest, Samples]:
    """The manifest and samples staged beside the hook."""
    manifest = load_manifest((directory / "manifest.json").read_bytes(), source="manifest.json")
    return manifest, read_samples(directory / "samples.npz")


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


def request_batches(manifest: Manifest, samples: Samples, limit: int | None = None) -> list[dict[str, Any]]:
    """Predict events covering every sample row in order, each at most ``limit`` (:data:`MAX_EVENT_BYTES`) bytes.

    A single row larger than the limit is sent as it is: Lambda refuses it and the check fails, as it must.
    """
    limit = MAX_EVENT_BYTES if limit is None else limit
    rows = samples.count
    size = max(rows, 1)
    while True:
        events = [
            predict_event(
                manifest.name, {name: array[start : start + size].tolist() for name, array in samples.inputs.items()}
            )
            for start in range(0, max(rows, 1), size)
        ]
        if size == 1 or max(len(json.dumps(event)) for event in events) <= limit:
            return events
        size = -(-size // 2)


def _as_array(values: Any, dtype: str) -> np.ndarray:
    if dtype == "string":
        return np.asarray(values, dtype=object)
    return np.asarray(values, dtype=np.dtype(dtype))  # JSON null (a NaN written by orjson) becomes NaN


def _label_indices(values: Any, index: dict[str, int]) -> np.ndarray:
    as_index = np.vectorize(lambda item: index.get(item, -1) if isinstance(item, str) else item, otypes=[object])
    return np.asarray(as_index(np.asarray(values, dtype=object)))


def decode_outputs(manifest: Manifest, answer: dict[str, Any]) -> dict[str, np.ndarray]:
    """The ``outputs`` of a maaskit JSON answer as arrays of the manifest's dtypes.

    The runtime writes class indices of the label output as their labels: they are read back as indices.
    """
    decoded: dict[str, np.ndarray] = {}
    labels = manifest.labels
    for spec in manifest.outputs:
        if spec.name not in answer:
            continue
        values = answer[spec.name]
        if spec.name == manifest.label_output and labels and spec.dtype != "string":
            values = _label_indices(values, {str(label): position for position, label in enumerate(labels)})
        decoded[spec.name] = _as_array(values, spec.dtype)
    return decoded


def _joined(parts: list[dict[str, np.ndarray]], samples: Samples) -> dict[str, np.ndarray]:
    """Per-request outputs put back together: batched outputs concatenated, the others from the first answer."""
    joined: dict[str, np.ndarray] = {}
    for name in parts[0]:
        pieces = [part[name] for part in parts if name in part]
        expected = samples.outputs.get(name)
        batched = expected is not None and expected.ndim > 0 and expected.shape[0] == samples.count
        joined[name] = np.concatenate(pieces) if batched and len(pieces) == len(parts) > 1 else pieces[0]
    return joined


def compare(manifest: Manifest, samples: Samples, answers: list[dict[str, Any]]) -> list[str]:
    """Why the answers (the ``outputs`` of each batch, in order) do not reproduce the samples; empty when they do."""
    try:
        outputs = _joined([decode_outputs(manifest, answer) for answer in answers], samples)
    except (ValueError, TypeError) as exc:
        return [f"the answer's outputs do not have the manifest's types: {exc}"]
    _, problems = reproduces(outputs, samples.outputs, tolerances_for(manifest), manifest.label_output)
    return problems


def _invoke(client: Any, target: str, event: dict[str, Any]) -> dict[str, Any] | str:
    answer = client.invoke(FunctionName=target, Payload=json.dumps(event).encode())
    payload = json.loads(answer["Payload"].read() or b"null")
    if answer.get("FunctionError"):
        return f"the new version failed: {json.dumps(payload)[:500]}"
    status = payload.get("statusCode") if isinstance(payload, dict) else None
    if status != 200:
        return f"the new version answered HTTP {status}: {str(payload)[:500]}"
    outputs = json.loads(payload.get("body") or "{}").get("outputs")
    return outputs if isinstance(outputs, dict) else f"the answer has no outputs object: {str(payload)[:500]}"


def _check(client: Any, target: str, manifest: Manifest, samples: Samples) -> list[str]:
    answers = []
    for event in request_batches(manifest, samples):
        outputs = _invoke(client, target, event)
        if isinstance(outputs, str):
            return [outputs]
        answers.append(outputs)
    return compare(manifest, samples, answers)


def handler(event: dict[str, Any], _context: Any) -> dict[str, str]:
    """Entry point CodeDeploy calls with ``DeploymentId`` and ``LifecycleEventHookExecutionId``."""
    import boto3

    target = os.environ["TARGET_VERSION_ARN"]
    try:
        manifest, samples = load_cases()
        problems = _check(boto3.client("lambda"), target, manifest, samples)
    except Exception as exc:  # any failure to check is a failed check
        problems = [f"could not run the samples: {type(exc).__name__}: {exc}"]
    status = "Failed" if problems else "Succeeded"
    print(json.dumps({"target": target, "status": status, "problems": problems[:20]}))
    boto3.client("codedeploy").put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"],
        lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status=status,
    )
    return {"status": status}
