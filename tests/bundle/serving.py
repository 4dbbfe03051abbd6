"""Serve a bundle as Lambda does and run its pre-traffic hook against it, in-process.

* :func:`lambda_handler`: the REAL Lambda handler (``handlers.lambda_entry.build_handler``) over one bundle,
  with Lambda's settings.
* :func:`run_hook`: the hook's asset staged as ``infra.samples`` stages it, its ``pre_traffic.py`` loaded from
  there, its ``handler`` called as CodeDeploy calls it, with a fake boto3 Lambda client whose ``invoke`` runs
  the Lambda handler and a fake CodeDeploy client recording the status.
* :func:`swapped_weights`: a copy of a bundle whose model's weights are perturbed (checksums updated so that
  it loads; served without the warm-up check, as a broken build would be).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import io
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from bundle import names
from bundle.manifest import FileEntry, dump_manifest, load_manifest
from handlers.app import create_app
from handlers.engine import ModelRepository
from handlers.settings import Settings
from infra.samples import stage_hook_asset
from tests.handlers.events import LambdaContext

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
TARGET = "arn:aws:lambda:eu-west-1:123456789012:function:maaskit-test:7"


def answers_to(repository: ModelRepository, settings: Settings, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``outputs`` the app answers to each maaskit JSON predict request (each must be HTTP 200)."""
    app = create_app(repository, settings)

    async def ask() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hook") as client:
            return [await client.post(e["path"], content=e["body"], headers=e["headers"]) for e in events]

    answers = asyncio.run(ask())
    assert all(answer.status_code == 200 for answer in answers), [answer.text[:500] for answer in answers]
    return [answer.json()["outputs"] for answer in answers]


def _lambda_env(bundle: Path, *, verify_samples: bool) -> dict[str, str]:
    return {
        names.BUNDLES: str(bundle),
        names.INTRA_OP_THREADS: "1",
        names.METRICS: "none",
        names.VERIFY_SAMPLES: "true" if verify_samples else "false",
    }


def lambda_handler(bundle: Path, *, verify_samples: bool = True) -> LambdaHandler:
    """The real Lambda entry's handler (Mangum over the app) serving ``bundle`` with Lambda's settings."""
    module = sys.modules.get("handlers.lambda_entry")
    if module is None:  # its import builds a module-level handler from the environment: point it at this bundle
        env = _lambda_env(bundle, verify_samples=verify_samples)
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        try:
            module = importlib.import_module("handlers.lambda_entry")
        finally:
            for key, value in saved.items():
                os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
    handler: LambdaHandler = module.build_handler(
        module.default_settings(_lambda_env(bundle, verify_samples=verify_samples))
    )
    return handler


class FakeLambda:
    """boto3 ``lambda`` client whose ``invoke`` runs ``handler`` on the event, as the Lambda service would."""

    def __init__(self, handler: LambdaHandler) -> None:
        self.handler = handler
        self.events: list[dict[str, Any]] = []

    def invoke(self, *, FunctionName: str, Payload: bytes) -> dict[str, Any]:  # noqa: N803  (boto3's names)
        assert len(Payload) <= 6 * 1024 * 1024, "over Lambda's synchronous invoke payload limit"
        event = json.loads(Payload)
        self.events.append(event)
        answer = self.handler(event, LambdaContext())
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(answer).encode())}


@dataclass
class FakeCodeDeploy:
    """boto3 ``codedeploy`` client recording each lifecycle hook status."""

    reports: list[dict[str, Any]] = field(default_factory=list)

    def put_lifecycle_event_hook_execution_status(self, **kwargs: Any) -> None:
        self.reports.append(kwargs)


@dataclass(frozen=True)
class HookRun:
    """What a hook run reported: CodeDeploy's status, its problems, and the events it sent."""

    status: str
    problems: list[str]
    events: list[dict[str, Any]]


def staged_hook(bundle: Path, staging: Path) -> ModuleType:
    """The hook's asset for ``bundle`` staged in ``staging``, its ``pre_traffic.py`` imported from there."""
    staging.mkdir(parents=True, exist_ok=True)
    stage_hook_asset(staging, bundle)
    name = f"staged_pre_traffic_{abs(hash(str(staging)))}"
    spec = importlib.util.spec_from_file_location(name, staging / "pre_traffic.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_hook(hook: ModuleType, handler: LambdaHandler) -> HookRun:
    """Call the staged hook's ``handler`` as CodeDeploy does, the new version being ``handler``."""
    client, codedeploy = FakeLambda(handler), FakeCodeDeploy()
    setattr(hook, "_CLIENTS", (client, codedeploy))  # noqa: B010  (a module loaded from the staged asset)
    os.environ["TARGET_VERSION_ARN"] = TARGET
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            result = hook.handler({"DeploymentId": "d-1", "LifecycleEventHookExecutionId": "h-1"}, None)
    finally:
        os.environ.pop("TARGET_VERSION_ARN", None)
    (report,) = codedeploy.reports
    assert report["status"] == result["status"] and report["deploymentId"] == "d-1"
    logged = json.loads(printed.getvalue().strip().splitlines()[-1])
    return HookRun(report["status"], logged["problems"], client.events)


def _perturbed(model: Any) -> Any:
    """Every float weight (initializers and FLOAT/FLOATS attributes, trees' thresholds and weights) moved."""
    from onnx import AttributeProto, TensorProto, numpy_helper

    for tensor in model.graph.initializer:
        if tensor.data_type in (TensorProto.FLOAT, TensorProto.DOUBLE):
            array = numpy_helper.to_array(tensor)
            tensor.CopyFrom(numpy_helper.from_array((array * 1.3 + 0.05).astype(array.dtype), tensor.name))
    for node in model.graph.node:
        for attribute in node.attribute:
            if attribute.type == AttributeProto.FLOATS and node.op_type != "Constant":
                values = [value * 1.3 + 0.05 for value in attribute.floats]
                del attribute.floats[:]
                attribute.floats.extend(values)
    return model


def swapped_weights(bundle: Path, out: Path) -> Path:
    """A copy of ``bundle`` with its model's weights perturbed and its manifest's checksums updated."""
    import hashlib

    import onnx

    copy = out / bundle.name
    shutil.copytree(bundle, copy)
    model = _perturbed(onnx.load(str(copy / "model.onnx")))
    data = model.SerializeToString()
    (copy / "model.onnx").write_bytes(data)
    manifest = load_manifest((copy / "manifest.json").read_bytes())
    entry = FileEntry(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    (copy / "manifest.json").write_bytes(
        dump_manifest(manifest.model_copy(update={"files": {**manifest.files, "model.onnx": entry}}))
    )
    return copy


def hook_verdict(directory: Path, repository: ModelRepository, settings: Settings, staging: Path) -> list[str]:
    """The staged hook's problems with ``directory`` served by the real Lambda handler (empty: it passes).

    The handler loads the bundle itself, with the sample check on or off as ``settings`` say (``repository``
    is not used: kept for the callers that served it first).
    """
    del repository
    run = run_hook(staged_hook(directory, staging), lambda_handler(directory, verify_samples=settings.verify_samples))
    assert (run.status == "Succeeded") == (not run.problems)
    return run.problems
