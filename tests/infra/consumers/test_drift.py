"""Capture + drift on recorded traffic: iris rows go through the Lambda handler with capture on (moto S3,
KMS), then ``maaskit drift`` compares them with the bundle's reference: a shifted feature is flagged and
the others are not; the largest PSI is published as DriftPSI. Text: length, OOV rate and centroid."""

from __future__ import annotations

import json
from typing import Any

import boto3
import numpy as np
import pytest
import typer
from moto import mock_aws
from typer.testing import CliRunner

from bundle import open_bundle
from bundle.reference import reference_from_bundle, tokenizer_vocabulary
from handlers.capture import flush_all
from infra.ops import keys_cli
from infra.ops.drift import drift_report
from tests.handlers.events import LambdaContext, load_event
from tests.infra.consumers.aws import REGION
from tests.infra.consumers.models import embedder_bundle, iris_bundle, iris_traffic, lambda_handler

pytestmark = pytest.mark.usefixtures("fake_credentials")
BUCKET = "maaskit-dev-capture"


def _drift(*args: str) -> tuple[int, str, str]:
    app = typer.Typer()
    keys_cli.register(app)
    result = CliRunner().invoke(app, ["drift", *args])
    return result.exit_code, result.stdout, result.stderr


def _send(handler: Any, rows: np.ndarray) -> None:
    for start in range(0, len(rows), 10):
        event = load_event("apigw_v1_predict_consumer_key")
        event["body"] = json.dumps({"rows": rows[start : start + 10].tolist()})
        assert handler(event, LambdaContext())["statusCode"] == 200
    flush_all()


@pytest.fixture
def capturing(monkeypatch: pytest.MonkeyPatch) -> Any:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
        boto3.client("ssm", region_name=REGION).put_parameter(
            Name="/maaskit/dev/capture-bucket", Value=BUCKET, Type="String"
        )
        for name, value in {
            "MAASKIT_CAPTURE_BUCKET": BUCKET,
            "MAASKIT_CAPTURE_SAMPLE": "1",
            "MAASKIT_CAPTURE_KMS_KEY": key,
        }.items():
            monkeypatch.setenv(name, value)
        yield lambda_handler(iris_bundle())


def _drift_metric() -> list[float]:
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    stats = cloudwatch.get_metric_statistics(
        Namespace="maaskit", MetricName="DriftPSI", Dimensions=[{"Name": "model", "Value": "iris"}],
        StartTime=now - dt.timedelta(hours=1), EndTime=now + dt.timedelta(minutes=1), Period=60, Statistics=["Maximum"],
    )  # fmt: skip
    return [point["Maximum"] for point in stats["Datapoints"]]


def test_unshifted_traffic_flags_nothing(capturing: Any) -> None:
    _send(capturing, iris_traffic())
    code, out, err = _drift("iris", "--stage", "dev", "--bundle", str(iris_bundle()))
    assert code == 0, err
    assert "5 captured requests" in out and "no drift flagged" in out and "DRIFT" not in out
    assert len(_drift_metric()) == 1 and _drift_metric()[0] < 0.2


def test_a_shifted_feature_is_flagged_and_the_others_are_not(capturing: Any) -> None:
    traffic = iris_traffic().copy()
    traffic[:, 2] += 1.5  # petal length shifted by 1.5 cm
    _send(capturing, traffic)
    code, out, err = _drift("iris", "--stage", "dev", "--bundle", str(iris_bundle()), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["flagged"] == ["X[2]"] and report["records"] == 5
    measures = {(m["feature"], m["measure"]): m for m in report["measures"]}
    assert measures[("X[2]", "psi")]["flagged"] and measures[("X[2]", "psi")]["value"] > 1.0
    assert not any(measures[(f"X[{i}]", "psi")]["flagged"] for i in (0, 1, 3))
    assert _drift_metric() == [pytest.approx(report["max_psi"])]


def test_a_rising_missing_rate_is_flagged() -> None:
    reference = reference_from_bundle(open_bundle(iris_bundle()))
    rows = iris_traffic().tolist()
    for row in rows[::4]:
        row[1] = None  # JSON null: a missing sepal width in a quarter of the rows
    report = drift_report(reference, [{"request": {"rows": rows}}], ["X"])
    assert report.flagged == ["X[1]"]
    (missing,) = [m for m in report.measures if m.measure == "missing_rate" and m.feature == "X[1]"]
    assert missing.value == pytest.approx(13 / 50) and missing.reference == 0.0


def test_drift_refuses_without_captured_traffic(capturing: Any) -> None:
    code, _, err = _drift("iris", "--stage", "dev", "--bundle", str(iris_bundle()), "--no-publish")
    assert code == 2 and "no captured requests under s3://maaskit-dev-capture/capture/iris/" in err


def test_text_drift_length_oov_and_centroid() -> None:
    from tests.handlers.text.folders import CORPUS

    bundle = open_bundle(embedder_bundle())
    reference = reference_from_bundle(bundle)
    (text,) = reference.texts
    assert reference.kind == "text" and text.centroid is not None
    vocabulary = tokenizer_vocabulary(bundle.root / bundle.manifest.text.tokenizer_file)
    centroid = np.asarray(text.centroid)
    same = [
        {"request": {"input": CORPUS[i % len(CORPUS)]}, "answer": {"data": [{"embedding": list(centroid)}]}}
        for i in range(40)
    ]
    report = drift_report(reference, same, [spec.name for spec in bundle.manifest.inputs], vocabulary=vocabulary)
    assert report.flagged == [], report.measures
    odd = "zxqv wplk grrt " * 8
    other = [{"request": {"input": odd}, "answer": {"data": [{"embedding": list(-centroid)}]}} for _ in range(40)]
    shifted = drift_report(reference, other, [spec.name for spec in bundle.manifest.inputs], vocabulary=vocabulary)
    kinds = {m.measure for m in shifted.measures if m.flagged}
    assert kinds == {"psi", "oov_rate", "centroid_distance"}
