"""Data capture: redaction, sampling, batches written off the request path, a bounded queue that drops
(and counts) instead of waiting, failures that never reach the answer, and SSE-KMS objects in S3 (moto)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import boto3
import pytest
from moto import mock_aws

from handlers.capture import CaptureWriter, S3Sink, capture_from_env, capture_writer, flush_all, redact
from handlers.settings import Settings, SettingsError
from tests.handlers.events import LambdaContext, load_event
from tests.infra.consumers.models import lambda_handler


class Memory:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def __call__(self, key: str, body: bytes) -> None:
        self.objects[key] = body

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for body in self.objects.values() for line in body.splitlines()]


def test_redact_removes_names_at_any_depth_and_dotted_paths() -> None:
    document = {
        "inputs": {"email": ["a@b"], "ssn": ["1"], "age": [3]},
        "rows": [{"email": "x", "ssn": "2", "k": 1}],
        "ssn": 5,
    }
    assert redact(document, ("email", "inputs.ssn")) == {
        "inputs": {"age": [3]},
        "rows": [{"ssn": "2", "k": 1}],
        "ssn": 5,
    }
    assert redact(document, ()) == document and redact(None, ("email",)) is None


def test_sampled_exchanges_are_written_in_batches_with_bodies_redacted() -> None:
    sink = Memory()
    writer = CaptureWriter(sink, sample=0.5, redact_fields=("email",), batch_size=2, rng=iter([0.1, 0.9]).__next__)
    assert writer.sampled() is True and writer.sampled() is False
    meta = {"model": "iris", "version": "1.0.0", "status": 200}
    for index in range(3):
        request = json.dumps({"rows": [[index, 1.0]], "email": "x@y"}).encode()
        assert writer.offer(meta, (request, "application/json"), (b'{"labels": ["a"]}', "application/json"))
    writer.offer(meta, (b"\x93NUMPY binary", "application/x-npy"), (None, ""))
    writer.flush()
    records = sink.records()
    assert len(records) == 4 and writer.written == 4 and len(sink.objects) == 2  # a batch of 2, then the flush
    assert records[0]["request"] == {"rows": [[0, 1.0]]} and records[0]["answer"] == {"labels": ["a"]}
    assert records[3]["request"] == {"omitted": "not JSON", "bytes": 13, "content_type": "application/x-npy"}
    assert all(key.startswith("capture/iris/1.0.0/") and key.endswith(".jsonl") for key in sink.objects)


def test_a_full_queue_drops_and_counts_instead_of_waiting() -> None:
    release = threading.Event()

    def slow(key: str, body: bytes) -> None:
        release.wait(10)

    writer = CaptureWriter(slow, sample=1.0, max_queue=2, batch_size=1)
    meta = {"model": "iris", "version": "1"}
    results, started = [], time.perf_counter()
    for _ in range(10):
        results.append(writer.offer(meta, (b"{}", "application/json"), (b"{}", "application/json")))
    elapsed = time.perf_counter() - started
    release.set()
    assert results.count(False) >= 6 and writer.take_dropped() == results.count(False) and writer.take_dropped() == 0
    assert elapsed < 0.5  # offering never waits for the sink


def test_a_failing_sink_is_counted_and_never_raises() -> None:
    def broken(key: str, body: bytes) -> None:
        raise ConnectionError("s3 unreachable")

    writer = CaptureWriter(broken, sample=1.0)
    assert writer.offer({"model": "m"}, (b"{}", "application/json"), (b"{}", "application/json"))
    writer.flush()
    assert writer.failed == 1 and writer.written == 0


def test_capture_is_off_without_a_bucket_or_sample() -> None:
    def writer_of(environ: dict[str, str]) -> CaptureWriter | None:
        return capture_writer(Settings.load(environ))

    assert writer_of({}) is None
    assert writer_of({"MAASKIT_CAPTURE_BUCKET": "b", "MAASKIT_CAPTURE_SAMPLE": "0"}) is None
    assert writer_of({"MAASKIT_CAPTURE_SAMPLE": "1"}) is None
    writer = writer_of(
        {"MAASKIT_CAPTURE_BUCKET": "b", "MAASKIT_CAPTURE_SAMPLE": "0.05", "MAASKIT_CAPTURE_REDACT": "email, inputs.ssn"}
    )
    assert writer is not None and writer.sample == 0.05 and writer.redact_fields == ("email", "inputs.ssn")
    assert writer.prefix == "capture/" and isinstance(writer.sink, S3Sink) and writer.sink.kms_key is None
    for bad in ("lots", "1.5", "-0.1", "nan"):
        with pytest.raises(SettingsError, match="MAASKIT_CAPTURE_SAMPLE=.* must be a number between 0 and 1"):
            writer_of({"MAASKIT_CAPTURE_BUCKET": "b", "MAASKIT_CAPTURE_SAMPLE": bad})


def test_capture_settings_come_from_arguments_too() -> None:
    settings = Settings.load(
        {}, capture_bucket="b", capture_sample=1, capture_redact=["email"], capture_kms_key="arn:k", capture_prefix="p/"
    )
    writer = capture_writer(settings)
    assert writer is not None and (writer.sample, writer.redact_fields, writer.prefix) == (1.0, ("email",), "p/")
    assert isinstance(writer.sink, S3Sink) and (writer.sink.bucket, writer.sink.kms_key) == ("b", "arn:k")
    assert capture_from_env({"MAASKIT_CAPTURE_BUCKET": "b", "MAASKIT_CAPTURE_SAMPLE": "0.5"}) is not None


@mock_aws
def test_the_lambda_handler_captures_to_kms_encrypted_s3(bundles, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="capture", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    key_arn = boto3.client("kms", region_name="eu-west-1").create_key()["KeyMetadata"]["Arn"]
    environ = {
        "MAASKIT_CAPTURE_BUCKET": "capture", "MAASKIT_CAPTURE_SAMPLE": "1", "MAASKIT_CAPTURE_KMS_KEY": key_arn,
        "MAASKIT_CAPTURE_REDACT": "probabilities",
    }  # fmt: skip
    for name, value in environ.items():  # read when the app first runs, as in a Lambda environment
        monkeypatch.setenv(name, value)
    handler = lambda_handler(bundles.iris)
    response = handler(load_event("apigw_v1_predict_consumer_key"), LambdaContext())
    assert response["statusCode"] == 200 and "probabilities" in response["body"]
    flush_all()
    (item,) = s3.list_objects_v2(Bucket="capture", Prefix="capture/iris/1.0.0/")["Contents"]
    stored = s3.get_object(Bucket="capture", Key=item["Key"])
    assert stored["ServerSideEncryption"] == "aws:kms" and stored["SSEKMSKeyId"] == key_arn
    (record,) = [json.loads(line) for line in stored["Body"].read().splitlines()]
    assert record["request"] == {"rows": [[5.1, 3.5, 1.4, 0.2], [6.8, 2.8, 4.8, 1.4], [5.8, 2.8, 5.1, 2.4]]}
    assert "probabilities" not in json.dumps(record["answer"]) and record["answer"]
    assert (record["consumer"], record["route"], record["status"]) == ("acme-analytics", "/models/iris/predict", 200)
    out = capsys.readouterr().out
    assert "payload" not in out  # captured bodies go to S3, not to the log
