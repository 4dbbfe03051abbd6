"""SageMaker's own capture, read back: recorded DataCaptureConfig lines (``tests/events/sagemaker_capture_iris.json``:
JSON, CSV and base64 encodings) in moto S3 are read by ``read_captured`` and compared with the iris reference;
then the scheduled drift check runs from its staged asset and publishes ``DriftPSI``."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bundle import open_bundle
from bundle.reference import reference_from_bundle
from infra.drift_asset import DriftModel, stage_drift_asset
from infra.ops.capture_format import decode_sagemaker_body, normalize
from infra.ops.drift import drift_report, read_captured
from infra.ops.drift_job import check_all
from tests.infra.consumers.aws import REGION, session
from tests.infra.consumers.models import iris_bundle

pytestmark = pytest.mark.usefixtures("fake_credentials")
EVENTS = Path(__file__).resolve().parents[2] / "events"
BUCKET = "maaskit-dev-capture"
KEY = "capture/iris/maaskit-dev-iris/primary/2026/12/06/10/10-00-00-000-0b6b3f0e.jsonl"


def _lines() -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = json.loads((EVENTS / "sagemaker_capture_iris.json").read_text())["lines"]
    return lines


def _shifted(line: dict[str, Any], column: int, by: float) -> dict[str, Any]:
    """``line`` with ``by`` added to one column of its rows, re-encoded as SageMaker encoded it."""
    body = dict(line["captureData"]["endpointInput"])
    value = decode_sagemaker_body(body)
    rows = value["rows"] if "rows" in value else value["inputs"]["X"]
    for row in rows:
        row[column] += by
    if body["encoding"] == "CSV":
        body["data"] = "\n".join(",".join(f"{v:g}" for v in row) for row in rows)
    elif body["encoding"] == "JSON":
        body["data"] = json.dumps(value)
    else:
        body["data"] = base64.b64encode(json.dumps(value).encode()).decode()
    return {**line, "captureData": {**line["captureData"], "endpointInput": body}}


def _put(lines: list[dict[str, Any]]) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=BUCKET, Key=KEY, Body="\n".join(json.dumps(line) for line in lines).encode())


def test_the_three_encodings_read_as_rows() -> None:
    records = [normalize(line) for line in _lines()]
    assert [len(r["request"].get("rows") or r["request"]["inputs"]["X"]) for r in records] == [10] * 5
    assert all(len(row) == 4 and all(isinstance(v, float) for v in row) for row in records[2]["request"]["rows"])
    assert records[0]["source"] == "sagemaker" and records[0]["request_id"].startswith("0b6b3f0e")
    assert records[2]["answer"] == {"rows": [[0.0]] * 10} and records[0]["answer"]["model_name"] == "iris"
    assert (
        decode_sagemaker_body({"observedContentType": "image/jpeg", "data": "/9j/4AAQ", "encoding": "BASE64"}) is None
    )
    assert normalize({"request": {"rows": [[1]]}, "version": "1.0.0"})["version"] == "1.0.0"  # the capture writer's


def test_recorded_sagemaker_capture_drift_flags_only_the_shifted_feature() -> None:
    reference = reference_from_bundle(open_bundle(iris_bundle()))
    with mock_aws():
        _put(_lines())
        records = read_captured(session(), BUCKET, "iris")
    assert len(records) == 5
    assert drift_report(reference, records, ["X"], dtypes={"X": "float32"}).flagged == []
    with mock_aws():
        _put([_shifted(line, 2, 1.5) for line in _lines()])
        shifted = drift_report(reference, read_captured(session(), BUCKET, "iris"), ["X"], dtypes={"X": "float32"})
    assert shifted.flagged == ["X[2]"] and shifted.max_psi > 1.0


def test_the_scheduled_check_runs_from_its_asset_and_publishes(tmp_path: Path) -> None:
    models = [
        DriftModel("iris", iris_bundle(), "digest-unused-here", None, 0.2),
        DriftModel("quiet", iris_bundle(), "x", "1.0.0", 0.2),
    ]
    stage_drift_asset(tmp_path, models)
    with mock_aws():
        _put([_shifted(line, 2, 1.5) for line in _lines()])
        summaries = check_all(session(), tmp_path, BUCKET)
        now = dt.datetime.now(dt.UTC)
        stats = boto3.client("cloudwatch", region_name=REGION).get_metric_statistics(
            Namespace="maaskit", MetricName="DriftPSI", Dimensions=[{"Name": "model", "Value": "iris"}],
            StartTime=now - dt.timedelta(hours=1), EndTime=now + dt.timedelta(minutes=1), Period=60,
            Statistics=["Maximum"],
        )  # fmt: skip
    iris, quiet = summaries
    assert iris["published"] and iris["flagged"] == ["X[2]"] and iris["records"] == 5
    assert [p["Maximum"] for p in stats["Datapoints"]] == [pytest.approx(iris["max_psi"])]
    assert (
        not quiet["published"]
        and "no captured requests under s3://maaskit-dev-capture/capture/quiet/1.0.0/" in quiet["note"]
    )
    # the staged asset imports on its own (the repository's infra/ is not on the path ahead of it)
    code = "import infra.ops.drift_job as job, bundle.reference as ref; print(job.__file__); print(ref.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )  # fmt: skip
    assert all(line.startswith(str(tmp_path)) for line in done.stdout.split()), done.stdout
