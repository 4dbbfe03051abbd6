"""CodeDeploy pre-traffic hook: run the bundle's samples against the new Lambda version before any traffic.

Deployed as its own function beside the model's (see :mod:`infra.samples`): this file and its OIP wire
(``oip.py``), the ``bundle`` package (the bundle contract, with the one judge), the bundle's
``manifest.json`` and ``samples.npz`` (and a text bundle's tokenizer file), on the endpoint's
dependency layer (numpy, pydantic, orjson, tokenizers). The new version (``TARGET_VERSION_ARN``) gets
every stored sample as Open Inference Protocol v2 requests, ``POST /v2/models/<name>/infer`` with
binary tensors (texts and image files as ``BYTES``, NaN intact), in API Gateway REST events shaped as
the deployed API delivers them (resource ``/v2/models/<name>/{proxy+}``, binary bodies base64), as
many as Lambda's 6 MB invoke limit needs. The answers' raw outputs are judged by
:func:`bundle.judge.judge`, exactly as the packager, ``maaskit verify`` and the runtime's warm-up judge
them. Any mismatch, error status or invocation failure reports ``Failed``, which stops the rollout.
A text-generation bundle is checked by replaying its golden greedy continuations instead
(:mod:`generative`: OpenAI completions, temperature 0, judged by ``bundle.generation.judge_greedy``).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bundle.generation import GENERATION_TASK
from bundle.judge import RawSamples, Runner, judge, raw_samples
from bundle.manifest import Manifest, load_manifest
from bundle.samples import Samples, read_samples

try:
    from infra.hook.events import proxy_event
    from infra.hook.generative import check_generation
    from infra.hook.oip import BYTES_INPUT, TRANSCRIPT_OUTPUT, decode_answer, files_body, request_body
except ModuleNotFoundError:  # the staged asset: the hook's modules side by side at the top level
    from events import proxy_event  # type: ignore[import-not-found, no-redef, unused-ignore]
    from generative import check_generation  # type: ignore[import-not-found, no-redef, unused-ignore]
    from oip import (  # type: ignore[import-not-found, no-redef, unused-ignore]
        BYTES_INPUT,
        TRANSCRIPT_OUTPUT,
        decode_answer,
        files_body,
        request_body,
    )

__all__ = [
    "HOOK_DIR",
    "HookError",
    "RemoteRunner",
    "compare",
    "decode_payload",
    "handler",
    "infer_event",
    "load_cases",
    "raw_invoker",
    "remote_runner",
    "request_batches",
]

HOOK_DIR = Path(__file__).resolve().parent
#: Largest event sent to the new version: under Lambda's 6 MB synchronous invoke payload.
MAX_EVENT_BYTES = 5 * 1024 * 1024
_BINARY = "application/octet-stream"


class HookError(Exception):
    """The new version could not be asked (invocation failure, error status, unreadable answer)."""


def load_cases(directory: Path = HOOK_DIR) -> tuple[Manifest, Samples]:
    """The manifest and samples staged beside the hook."""
    manifest = load_manifest((directory / "manifest.json").read_bytes(), source="manifest.json")
    return manifest, read_samples(directory / "samples.npz")


def infer_event(model: str, body: bytes, header_length: int) -> dict[str, Any]:
    """An API Gateway REST (payload 1.0) event for ``POST /v2/models/<model>/infer`` with a binary OIP body.

    The deployed API routes it through the resource ``/v2/models/<model>/{proxy+}`` (``proxy``: ``infer``)
    and, ``application/octet-stream`` being a binary media type, hands the body over base64-encoded.
    """
    headers = {
        "content-type": _BINARY,
        "accept": f"{_BINARY}, application/json",
        "inference-header-content-length": str(header_length),
    }
    return proxy_event(
        f"/v2/models/{model}", "infer", headers, base64.b64encode(body).decode("ascii"), base64_body=True
    )


def _events(manifest: Manifest, raw: RawSamples, limit: int | None = None) -> list[dict[str, Any]]:
    """Infer events covering every example in order, each at most ``limit`` (:data:`MAX_EVENT_BYTES`) bytes.

    A single example larger than the limit is sent as it is: Lambda refuses it and the check fails, as it must.
    """
    limit = MAX_EVENT_BYTES if limit is None else limit
    rows = max(raw.count, 1)
    size = rows
    while True:
        events = [
            infer_event(manifest.name, *request_body(manifest, raw.rows(start, start + size)))
            for start in range(0, rows, size)
        ]
        if size == 1 or max(len(json.dumps(event)) for event in events) <= limit:
            return events
        size = -(-size // 2)


def request_batches(manifest: Manifest, samples: Samples, limit: int | None = None) -> list[dict[str, Any]]:
    """The events that carry every stored sample to the new version (see :func:`infer_event`)."""
    return _events(manifest, raw_samples(manifest, samples), limit)


def _text(payload: dict[str, Any]) -> str:
    body = str(payload.get("body") or "")
    if payload.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    return body[:500]


def decode_payload(manifest: Manifest, payload: Any) -> dict[str, np.ndarray]:
    """The raw outputs in the Lambda proxy answer ``payload``; HookError when it is no OIP success."""
    status = payload.get("statusCode") if isinstance(payload, dict) else None
    if status != 200:
        detail = _text(payload) if isinstance(payload, dict) else str(payload)[:500]
        raise HookError(f"the new version answered HTTP {status}: {detail}")
    body = payload.get("body") or ""
    raw = base64.b64decode(body) if payload.get("isBase64Encoded") else str(body).encode()
    try:
        outputs = decode_answer(raw, payload.get("headers") or payload.get("multiValueHeaders"))
    except (ValueError, KeyError, TypeError) as exc:
        raise HookError(f"the answer is not an OIP inference answer: {exc}") from None
    return {name: _label_indices(manifest, name, value) for name, value in outputs.items()}


def _label_indices(manifest: Manifest, name: str, values: np.ndarray) -> np.ndarray:
    """Class indices answered as their labels (string labels over an integer output) read back as indices."""
    spec = next((item for item in manifest.outputs if item.name == name), None)
    if name != manifest.label_output or not manifest.labels or spec is None or spec.dtype == "string":
        return values
    if values.dtype != object:
        return values
    index = {str(label): position for position, label in enumerate(manifest.labels)}
    return np.asarray(np.vectorize(lambda item: index.get(str(item), -1), otypes=[np.int64])(values))


def _joined(parts: list[dict[str, np.ndarray]], rows: int) -> dict[str, np.ndarray]:
    """Per-request outputs put back together along the example axis (token axes padded to the widest)."""
    if len(parts) == 1:
        return parts[0]
    joined: dict[str, np.ndarray] = {}
    for name in parts[0]:
        pieces = [part[name] for part in parts if name in part]
        if len(pieces) != len(parts) or sum(len(piece) if piece.ndim else 0 for piece in pieces) != rows:
            joined[name] = pieces[0]  # not per example: the first answer's
            continue
        if pieces[0].ndim == 3:
            width = max(piece.shape[1] for piece in pieces)
            pieces = [np.pad(piece, ((0, 0), (0, width - piece.shape[1]), (0, 0))) for piece in pieces]
        joined[name] = np.concatenate(pieces)
    return joined


def _invoke(client: Any, target: str, event: dict[str, Any]) -> Any:
    answer = client.invoke(FunctionName=target, Payload=json.dumps(event).encode())
    payload = json.loads(answer["Payload"].read() or b"null")
    if answer.get("FunctionError"):
        raise HookError(f"the new version failed: {json.dumps(payload)[:500]}")
    return payload


class RemoteRunner:
    """A judge's runner that asks the Lambda version ``target`` through ``client`` (boto3 ``lambda``).

    Called with raw samples, it sends them as OIP infer events (batched under ``limit``); speech bundles'
    judge calls :meth:`transcribe` instead, which sends each sample file as one binary ``BYTES`` input.
    """

    def __init__(self, client: Any, target: str, manifest: Manifest, limit: int | None = None) -> None:
        self.client, self.target, self.manifest, self.limit = client, target, manifest, limit

    def __call__(self, raw: RawSamples) -> dict[str, np.ndarray]:
        """The new version's outputs for every sample, in order."""
        payloads = [_invoke(self.client, self.target, event) for event in _events(self.manifest, raw, self.limit)]
        return _joined([decode_payload(self.manifest, payload) for payload in payloads], raw.count)

    def transcribe(self, files: list[bytes]) -> list[str]:
        """The new version's transcript of each audio file (one event per file: a file is never split)."""
        texts: list[str] = []
        for item in files:
            body, length = files_body(BYTES_INPUT["audio"], [item], [TRANSCRIPT_OUTPUT])
            payload = _invoke(self.client, self.target, infer_event(self.manifest.name, body, length))
            outputs = decode_payload(self.manifest, payload)
            if TRANSCRIPT_OUTPUT not in outputs:
                raise HookError(f"the answer has no {TRANSCRIPT_OUTPUT!r} output: {sorted(outputs)}")
            for text in np.asarray(outputs[TRANSCRIPT_OUTPUT], dtype=object).ravel().tolist():
                texts.append(text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text))
        return texts


def remote_runner(client: Any, target: str, manifest: Manifest, limit: int | None = None) -> Runner:
    """A judge's runner that asks the Lambda version ``target`` through ``client`` (see :class:`RemoteRunner`)."""
    return RemoteRunner(client, target, manifest, limit)


def compare(manifest: Manifest, samples: Samples, payloads: list[Any], root: Path = HOOK_DIR) -> list[str]:
    """Why the Lambda answers to :func:`request_batches` (in order) do not reproduce the samples; empty when they do."""
    try:
        outputs = _joined([decode_payload(manifest, payload) for payload in payloads], samples.count)
        return judge(manifest, root, samples, lambda _raw: outputs).problems
    except (HookError, ValueError) as exc:
        return [str(exc)]


def raw_invoker(client: Any, target: str) -> Callable[[dict[str, Any]], bytes]:
    """Sends one event to ``target`` and returns the raw payload (a streaming function's is prelude + body)."""

    def invoke(event: dict[str, Any]) -> bytes:
        answer = client.invoke(FunctionName=target, Payload=json.dumps(event).encode())
        payload = bytes(answer["Payload"].read())
        if answer.get("FunctionError"):
            raise HookError(f"the new version failed: {payload[:500]!r}")
        return payload

    return invoke


def _check(client: Any, target: str, manifest: Manifest, samples: Samples, root: Path = HOOK_DIR) -> list[str]:
    try:
        if manifest.task == GENERATION_TASK:
            return check_generation(manifest, samples, root, raw_invoker(client, target))[1]
        return judge(manifest, root, samples, remote_runner(client, target, manifest)).problems
    except (HookError, ValueError) as exc:
        return [str(exc)]


def _clients() -> tuple[Any, Any]:
    """The Lambda and CodeDeploy clients, made once in the init phase (boto3's import and setup take ~1 s)."""
    import boto3

    return boto3.client("lambda"), boto3.client("codedeploy")


_CLIENTS: tuple[Any, Any] | None = _clients() if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") else None


def handler(event: dict[str, Any], _context: Any) -> dict[str, str]:
    """Entry point CodeDeploy calls with ``DeploymentId`` and ``LifecycleEventHookExecutionId``."""
    lambda_client, codedeploy = _CLIENTS or _clients()
    target = os.environ["TARGET_VERSION_ARN"]
    try:
        manifest, samples = load_cases()
        problems = _check(lambda_client, target, manifest, samples)
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
