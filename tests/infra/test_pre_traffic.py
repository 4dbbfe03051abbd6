"""The pre-traffic hook: OIP v2 binary requests on the deployed API's route, answers judged by the one judge."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bundle import Manifest, Samples
from bundle.judge import raw_samples
from bundle.wire import datatype_of, encode_bytes
from infra.hook import oip, pre_traffic
from infra.samples import stage_hook_asset

EVENTS = Path(__file__).resolve().parents[1] / "events"


@pytest.fixture(scope="module")
def staged(bundles, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hook")
    stage_hook_asset(out, bundles["iris"])
    return out


@pytest.fixture(scope="module")
def cases(staged) -> tuple[Manifest, Samples]:
    return pre_traffic.load_cases(staged)


def _answer(outputs: dict[str, np.ndarray], *, binary: bool = True) -> dict[str, Any]:
    """A Lambda proxy answer holding an OIP inference answer (binary, base64 as Mangum sends it; or JSON)."""
    entries, chunks = [], []
    for name, value in outputs.items():
        array = np.asarray(value)
        datatype = "BYTES" if array.dtype.kind in "OUS" else datatype_of(str(array.dtype))
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if binary:
            raw = encode_bytes(array) if datatype == "BYTES" else np.ascontiguousarray(array).tobytes()
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = [None if isinstance(x, float) and np.isnan(x) else x for x in array.ravel().tolist()]
        entries.append(entry)
    header = json.dumps({"model_name": "iris", "outputs": entries}).encode()
    if not binary:
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": header.decode()}
    body = base64.b64encode(header + b"".join(chunks)).decode()
    headers = {"content-type": "application/octet-stream", "inference-header-content-length": str(len(header))}
    return {"statusCode": 200, "headers": headers, "body": body, "isBase64Encoded": True}


def _request(event: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    body = base64.b64decode(event["body"])
    length = int(event["headers"]["inference-header-content-length"])
    return json.loads(body[:length]), body[length:]


def test_staged_asset_holds_the_hook_its_wire_the_bundle_package_and_the_samples(staged, bundles):
    assert (staged / "pre_traffic.py").is_file() and (staged / "oip.py").is_file()
    assert (staged / "bundle" / "judge.py").is_file()
    assert (staged / "manifest.json").read_bytes() == (bundles["iris"] / "manifest.json").read_bytes()
    assert (staged / "samples.npz").read_bytes() == (bundles["iris"] / "samples.npz").read_bytes()
    assert not (staged / "model.onnx").exists() and not list(staged.rglob("__pycache__"))


def test_staging_refuses_an_altered_bundle(bundles, tmp_path):
    import shutil

    copy = tmp_path / "iris"
    shutil.copytree(bundles["iris"], copy)
    (copy / "samples.npz").write_bytes(b"changed")
    (tmp_path / "out").mkdir()
    with pytest.raises(Exception, match="samples.npz"):
        stage_hook_asset(tmp_path / "out", copy)


def test_the_event_is_an_oip_binary_infer_on_the_deployed_proxy_route(cases):
    manifest, samples = cases
    (event,) = pre_traffic.request_batches(manifest, samples)
    assert (event["httpMethod"], event["path"]) == ("POST", "/v2/models/iris/infer")
    # ModelApi: /v2/models/<name>/{proxy+} (ANY), the model name a literal resource, proxy = the rest of the path
    assert event["resource"] == event["requestContext"]["resourcePath"] == "/v2/models/iris/{proxy+}"
    assert event["pathParameters"] == {"proxy": "infer"} and event["isBase64Encoded"] is True
    header, binary = _request(event)
    (spec,) = header["inputs"]
    assert (spec["name"], spec["datatype"], spec["shape"]) == ("X", "FP32", list(samples.inputs["X"].shape))
    np.testing.assert_array_equal(np.frombuffer(binary, "<f4").reshape(spec["shape"]), samples.inputs["X"])
    assert [(item["name"], item["parameters"]) for item in header["outputs"]] == [
        (output.name, {"binary_data": True}) for output in manifest.outputs
    ]


def test_nan_travels_intact_and_batches_stay_under_the_limit(cases):
    manifest, samples = cases
    holes = samples.inputs["X"].copy()
    holes[0, 1], holes[2, 0] = np.nan, np.inf
    with_nan = Samples({"X": holes}, samples.outputs)
    (whole,) = pre_traffic.request_batches(manifest, with_nan)
    assert "NaN" not in json.dumps(whole)
    _header, binary = _request(whole)
    np.testing.assert_array_equal(np.frombuffer(binary, "<f4").reshape(holes.shape), holes)  # NaN == NaN here
    limit = len(json.dumps(whole)) - 1
    events = pre_traffic.request_batches(manifest, with_nan, limit=limit)
    assert len(events) == 2 and all(len(json.dumps(event)) <= limit for event in events)
    rows = np.concatenate([np.frombuffer(_request(event)[1], "<f4").reshape(-1, 4) for event in events])
    np.testing.assert_array_equal(rows, holes)


def test_text_and_image_samples_go_as_one_bytes_input(cases):
    manifest, _samples = cases
    from bundle.judge import RawSamples

    body, length = oip.request_body(manifest, RawSamples("texts", texts=["é", "a cat"]))
    header = json.loads(body[:length])
    assert header["inputs"] == [
        {"name": "text_input", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": 15}}
    ]
    assert body[length:] == encode_bytes(np.asarray(["é", "a cat"], dtype=object))
    body, length = oip.request_body(manifest, RawSamples("images", images=[b"\xff\xd8jpeg", b"\x89PNG"]))
    assert json.loads(body[:length])["inputs"][0]["name"] == "image"
    assert body[length:] == b"\x06\x00\x00\x00\xff\xd8jpeg\x04\x00\x00\x00\x89PNG"


def test_compare_accepts_binary_and_json_answers_within_tolerance(cases, staged):
    manifest, samples = cases
    assert pre_traffic.compare(manifest, samples, [_answer(samples.outputs)], staged) == []
    assert pre_traffic.compare(manifest, samples, [_answer(samples.outputs, binary=False)], staged) == []
    nudged = dict(samples.outputs, probabilities=samples.outputs["probabilities"] + 5e-5)
    assert pre_traffic.compare(manifest, samples, [_answer(nudged)], staged) == []


def test_compare_flags_a_changed_model(cases, staged):
    manifest, samples = cases
    labels = samples.outputs["label"].copy()
    labels[0] = (labels[0] + 1) % 3
    problems = pre_traffic.compare(manifest, samples, [_answer(dict(samples.outputs, label=labels))], staged)
    assert len(problems) == 1 and problems[0].startswith("output 'label': label agreement")
    off = dict(samples.outputs, probabilities=samples.outputs["probabilities"] + 0.01)
    (problem,) = pre_traffic.compare(manifest, samples, [_answer(off)], staged)
    assert problem.startswith("output 'probabilities': worst element")
    missing = _answer({"label": samples.outputs["label"]})
    assert pre_traffic.compare(manifest, samples, [missing], staged) == [
        "output 'probabilities' is missing from the outputs"
    ]
    refused = {"statusCode": 400, "body": '{"error": "no"}'}
    assert pre_traffic.compare(manifest, samples, [refused], staged)[0].startswith("the new version answered HTTP 400")


def test_label_indices_answered_as_string_labels_are_read_back(cases, staged):
    manifest, samples = cases
    named = manifest.model_copy(update={"labels": ["setosa", "versicolor", "virginica"]})
    as_labels = np.asarray(named.labels, dtype=object)[samples.outputs["label"]]
    answer = _answer(dict(samples.outputs, label=as_labels))
    assert pre_traffic.compare(named, samples, [answer], staged) == []


class _Lambda:
    """A Lambda client answering each OIP event with the samples' outputs for its rows (or a fixed payload)."""

    def __init__(self, samples: Samples, payload: dict[str, Any] | None = None, error: bool = False) -> None:
        self.samples, self.payload, self.error, self.calls = samples, payload, error, []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        payload = self.payload
        if payload is None:
            _header, binary = _request(json.loads(kwargs["Payload"]))
            rows = np.frombuffer(binary, "<f4").reshape(-1, 4)
            start = int(np.flatnonzero((self.samples.inputs["X"] == rows[0]).all(axis=1))[0])
            payload = _answer({name: value[start : start + len(rows)] for name, value in self.samples.outputs.items()})
        answer = {"Payload": io.BytesIO(json.dumps(payload).encode())}
        return {**answer, "FunctionError": "Unhandled"} if self.error else answer


def test_check_invokes_the_target_batch_by_batch(cases, staged, monkeypatch):
    manifest, samples = cases
    client = _Lambda(samples)
    target = "arn:aws:lambda:eu-west-1:123456789012:function:f:7"
    assert pre_traffic._check(client, target, manifest, samples, staged) == []
    (call,) = client.calls
    assert call["FunctionName"].endswith(":7")
    monkeypatch.setattr(pre_traffic, "MAX_EVENT_BYTES", len(call["Payload"]) // 2)
    batched = _Lambda(samples)
    assert pre_traffic._check(batched, "t", manifest, samples, staged) == [] and len(batched.calls) > 1
    refused = _Lambda(samples, {"statusCode": 422, "body": "{}"})
    assert pre_traffic._check(refused, "t", manifest, samples, staged)[0].startswith(
        "the new version answered HTTP 422"
    )
    failed = _Lambda(samples, {"errorMessage": "boom"}, error=True)
    assert pre_traffic._check(failed, "t", manifest, samples, staged)[0].startswith("the new version failed")


def test_the_stored_sample_event_is_what_the_hook_sends(cases):
    """tests/events/apigw_v1_oip_hook_iris.json: the hook's event for the iris example bundle (rows 0-2)."""
    manifest, samples = cases
    stored = json.loads((EVENTS / "apigw_v1_oip_hook_iris.json").read_text())
    three = Samples({"X": samples.inputs["X"][:3]}, {k: v[:3] for k, v in samples.outputs.items()})
    assert pre_traffic.request_batches(manifest, three) == [stored]
    assert raw_samples(manifest, three).count == 3


def test_hook_clients_are_created_at_init_not_per_invocation(monkeypatch, cases):
    """On Lambda (AWS_LAMBDA_FUNCTION_NAME set) the clients exist after import; the handler makes none."""
    import importlib

    import boto3

    manifest, samples = cases
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "maaskit-hook")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("TARGET_VERSION_ARN", "arn:aws:lambda:eu-west-1:123456789012:function:f:7")
    module = importlib.reload(pre_traffic)
    try:
        lambda_client, codedeploy = module._CLIENTS
        services = (lambda_client.meta.service_model.service_name, codedeploy.meta.service_model.service_name)
        assert services == ("lambda", "codedeploy")
        reports: list[dict[str, Any]] = []

        class _CodeDeploy:
            def put_lifecycle_event_hook_execution_status(self, **kwargs: Any) -> None:
                reports.append(kwargs)

        monkeypatch.setattr(module, "_CLIENTS", (_Lambda(samples), _CodeDeploy()))
        monkeypatch.setattr(module, "load_cases", lambda: (manifest, samples))
        monkeypatch.setattr(boto3, "client", lambda *a, **k: pytest.fail("a client was made inside the handler"))
        event = {"DeploymentId": "d-1", "LifecycleEventHookExecutionId": "h-1"}
        assert module.handler(event, None) == {"status": "Succeeded"}
        assert reports[0]["status"] == "Succeeded"
    finally:
        monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
        importlib.reload(pre_traffic)
