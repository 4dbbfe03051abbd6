"""The pre-traffic hook's verdict: the served answer is judged by the bundle's one parity rule."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bundle import Manifest, Samples
from handlers.labels import label_output_values
from infra.hook import pre_traffic
from infra.samples import stage_hook_asset


@pytest.fixture(scope="module")
def staged(bundles, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hook")
    stage_hook_asset(out, bundles["iris"])
    return out


@pytest.fixture(scope="module")
def cases(staged) -> tuple[Manifest, Samples]:
    return pre_traffic.load_cases(staged)


def _served(manifest: Manifest, outputs: dict[str, np.ndarray]) -> dict[str, Any]:
    """What the runtime's maaskit JSON answer carries: label indices mapped to labels, JSON values."""
    mapped = {name: label_output_values(manifest, name, np.asarray(value)) for name, value in outputs.items()}
    return json.loads(json.dumps({name: value.tolist() for name, value in mapped.items()}))


def test_staged_asset_holds_the_hook_the_bundle_package_and_the_samples(staged, bundles):
    assert (staged / "pre_traffic.py").is_file() and (staged / "bundle" / "parity.py").is_file()
    assert (staged / "manifest.json").read_bytes() == (bundles["iris"] / "manifest.json").read_bytes()
    assert (staged / "samples.npz").read_bytes() == (bundles["iris"] / "samples.npz").read_bytes()
    assert not list(staged.rglob("__pycache__"))


def test_staging_refuses_an_altered_bundle(bundles, tmp_path):
    import shutil

    copy = tmp_path / "iris"
    shutil.copytree(bundles["iris"], copy)
    (copy / "samples.npz").write_bytes(b"changed")
    (tmp_path / "out").mkdir()
    with pytest.raises(Exception, match="samples.npz"):
        stage_hook_asset(tmp_path / "out", copy)


def test_compare_accepts_the_samples_within_tolerance(cases):
    manifest, samples = cases
    assert pre_traffic.compare(manifest, samples, [_served(manifest, samples.outputs)]) == []
    nudged = dict(samples.outputs, probabilities=samples.outputs["probabilities"] + 5e-5)
    assert pre_traffic.compare(manifest, samples, [_served(manifest, nudged)]) == []


def test_compare_flags_a_changed_model(cases):
    manifest, samples = cases
    labels = samples.outputs["label"].copy()
    labels[0] = (labels[0] + 1) % 3
    problems = pre_traffic.compare(manifest, samples, [_served(manifest, dict(samples.outputs, label=labels))])
    assert len(problems) == 1 and problems[0].startswith("output 'label': label agreement")
    off = dict(samples.outputs, probabilities=samples.outputs["probabilities"] + 0.01)
    (problem,) = pre_traffic.compare(manifest, samples, [_served(manifest, off)])
    assert problem.startswith("output 'probabilities': worst element")
    missing = _served(manifest, {"label": samples.outputs["label"]})
    assert pre_traffic.compare(manifest, samples, [missing]) == ["output 'probabilities' is missing from the outputs"]
    wrong = dict(_served(manifest, samples.outputs), probabilities=[["x"]])
    assert "do not have the manifest's types" in pre_traffic.compare(manifest, samples, [wrong])[0]


def test_batches_cover_every_row_under_the_payload_limit(cases):
    manifest, samples = cases
    (whole,) = pre_traffic.request_batches(manifest, samples)
    assert json.loads(whole["body"])["inputs"]["X"] == samples.inputs["X"].tolist()
    half = samples.count // 2
    limit = max(
        len(json.dumps(pre_traffic.predict_event("iris", {"X": rows})))
        for rows in (samples.inputs["X"][:half].tolist(), samples.inputs["X"][half:].tolist())
    )
    events = pre_traffic.request_batches(manifest, samples, limit=limit)
    assert len(events) == 2 and all(len(json.dumps(event)) <= limit for event in events)
    rows = [row for event in events for row in json.loads(event["body"])["inputs"]["X"]]
    assert rows == samples.inputs["X"].tolist()


class _Lambda:
    """A Lambda client answering each batch with the given samples' outputs (or a fixed payload)."""

    def __init__(self, manifest: Manifest, samples: Samples, payload: dict[str, Any] | None = None, error=False):
        self.manifest, self.samples, self.payload, self.error, self.calls = manifest, samples, payload, error, []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        payload = self.payload
        if payload is None:
            rows = json.loads(json.loads(kwargs["Payload"])["body"])["inputs"]["X"]
            start = self.samples.inputs["X"].tolist().index(rows[0])
            part = {name: value[start : start + len(rows)] for name, value in self.samples.outputs.items()}
            payload = {"statusCode": 200, "body": json.dumps({"outputs": _served(self.manifest, part)})}
        answer = {"Payload": io.BytesIO(json.dumps(payload).encode())}
        return {**answer, "FunctionError": "Unhandled"} if self.error else answer


def test_check_invokes_the_target_with_api_gateway_events(cases, monkeypatch):
    manifest, samples = cases
    client = _Lambda(manifest, samples)
    assert pre_traffic._check(client, "arn:aws:lambda:eu-west-1:123456789012:function:f:7", manifest, samples) == []
    (call,) = client.calls
    event = json.loads(call["Payload"])
    assert call["FunctionName"].endswith(":7")
    assert (event["httpMethod"], event["path"]) == ("POST", "/models/iris/predict")
    monkeypatch.setattr(pre_traffic, "MAX_EVENT_BYTES", len(call["Payload"]) // 2)
    batched = _Lambda(manifest, samples)
    assert pre_traffic._check(batched, "t", manifest, samples) == [] and len(batched.calls) > 1
    refused = _Lambda(manifest, samples, {"statusCode": 422, "body": "{}"})
    assert pre_traffic._check(refused, "t", manifest, samples)[0].startswith("the new version answered HTTP 422")
    failed = _Lambda(manifest, samples, {"errorMessage": "boom"}, error=True)
    assert pre_traffic._check(failed, "t", manifest, samples)[0].startswith("the new version failed")


def test_label_indices_served_as_string_labels_are_read_back(cases):
    """A classifier whose ONNX label output is a class index: the runtime answers with the label names."""
    manifest, samples = cases
    named = manifest.model_copy(update={"labels": ["setosa", "versicolor", "virginica"]})
    served = _served(named, samples.outputs)
    assert set(served["label"]) <= {"setosa", "versicolor", "virginica"}
    assert pre_traffic.compare(named, samples, [served]) == []
    served["label"][0] = "unknown"
    assert pre_traffic.compare(named, samples, [served])[0].startswith("output 'label': label agreement")
