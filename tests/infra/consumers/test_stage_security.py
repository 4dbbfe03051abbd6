"""One stage with every consumer-side option on, synthesized through the real app (cdk-nag on, cfn-lint):
a keys model beside an IAM model on one API, SageMaker data capture, customer-managed log encryption,
CloudTrail data events on the registry, and the scheduled drift check with its alarms."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import Synth, synthesize


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory, bundles: dict[str, Path]) -> Synth:
    config = {
        "endpoints": [
            {
                "name": "iris",
                "bundle": str(bundles["iris"]),
                "auth": "keys",
                "capture": {"sample": 0.05, "redact": ["email"], "drift_psi_threshold": 0.3},
            },
            {
                "name": "diabetes",
                "bundle": f"{bundles['diabetes']}.tar.gz",
                "target": "sagemaker",
                "capture": {"sample": 0.1},
            },
        ],
        "api": {"auth": {"type": "iam"}},
        "logs": {"kms": True},
        "audit": {"cloudtrail_data_events": True},
        "drift": {"schedule": "rate(12 hours)"},
    }
    return synthesize(tmp_path_factory.mktemp("secure"), config, stage="dev")


def _methods(synth: Synth) -> dict[str, dict[str, Any]]:
    resources = synth.resources("AWS::ApiGateway::Resource")

    def path(reference: Any) -> str:
        if isinstance(reference, dict) and "Ref" in reference:
            resource = resources[reference["Ref"]]["Properties"]
            return f"{path(resource['ParentId'])}/{resource['PathPart']}"
        return ""

    return {
        f"{m['Properties']['HttpMethod']} {path(m['Properties']['ResourceId']) or '/'}": m["Properties"]
        for m in synth.resources("AWS::ApiGateway::Method").values()
    }


def _policy_statements(synth: Synth, role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_a_keys_model_and_an_iam_model_share_one_api(synth: Synth) -> None:
    methods = _methods(synth)
    iris = {k: m for k, m in methods.items() if "/iris" in k}
    diabetes = {k: m for k, m in methods.items() if "/diabetes" in k}
    assert iris and all(m["AuthorizationType"] == "CUSTOM" and m["ApiKeyRequired"] for m in iris.values())
    assert diabetes and all(
        m["AuthorizationType"] == "AWS_IAM" and not m.get("ApiKeyRequired") for m in diabetes.values()
    )
    assert methods["GET /models"]["AuthorizationType"] == "AWS_IAM"  # the catalogue keeps the stage default
    assert synth.one("AWS::ApiGateway::RestApi")["Properties"]["ApiKeySourceType"] == "AUTHORIZER"
    assert [p["Properties"]["UsagePlanName"] for p in synth.resources("AWS::ApiGateway::UsagePlan").values()] == [
        "maaskit-dev-standard"
    ]


def test_sagemaker_capture_is_the_endpoints_own_data_capture(synth: Synth) -> None:
    (config,) = [c["Properties"] for c in synth.resources("AWS::SageMaker::EndpointConfig").values()]
    capture = config["DataCaptureConfig"]
    assert capture["EnableCapture"] and capture["InitialSamplingPercentage"] == 10
    assert {o["CaptureMode"] for o in capture["CaptureOptions"]} == {"Input", "Output"}
    assert capture["CaptureContentTypeHeader"]["JsonContentTypes"] == ["application/json", "application/jsonlines"]
    assert capture["CaptureContentTypeHeader"]["CsvContentTypes"] == ["text/csv"]
    assert "/capture/diabetes" in json.dumps(capture["DestinationS3Uri"]) and "KmsKeyId" in capture
    (role_id,) = [k for k, r in synth.resources("AWS::IAM::Role").items() if "sagemaker" in json.dumps(r)]
    writes = [s for s in _policy_statements(synth, role_id) if s["Action"] == "s3:PutObject"]
    assert len(writes) == 1 and json.dumps(writes[0]["Resource"]).endswith('"/capture/diabetes/*"]]}')
    alarms = {a["Properties"]["AlarmName"]: a["Properties"] for a in synth.resources("AWS::CloudWatch::Alarm").values()}
    assert alarms["maaskit-dev-diabetes-drift"]["Threshold"] == 0.2
    assert alarms["maaskit-dev-iris-drift"]["Threshold"] == 0.3


def test_every_log_group_uses_the_stage_logs_key(synth: Synth) -> None:
    groups = synth.resources("AWS::Logs::LogGroup")
    keys = {k: r for k, r in synth.resources("AWS::KMS::Key").items() if k.startswith("LogEncryption")}
    (key_id,) = keys
    assert len(groups) >= 6
    assert all(g["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]} for g in groups.values())
    statements = keys[key_id]["Properties"]["KeyPolicy"]["Statement"]
    (logs,) = [s for s in statements if s.get("Sid") == "CloudWatchLogsOfThisStage"]
    assert logs["Principal"]["Service"] == {"Fn::Join": ["", ["logs.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}
    context = json.dumps(logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"])
    assert "log-group:/aws/lambda/maaskit-dev-*" in context and "log-group:maaskit-dev-*" in context


def test_registry_data_events_go_to_an_encrypted_versioned_logged_bucket(synth: Synth) -> None:
    trail = synth.one("AWS::CloudTrail::Trail")["Properties"]
    assert trail["TrailName"] == "maaskit-dev-registry" and trail["EnableLogFileValidation"]
    assert trail["KMSKeyId"] and trail["IsLogging"]
    (selector,) = trail["EventSelectors"]
    assert selector["IncludeManagementEvents"] is False and selector["ReadWriteType"] == "All"
    (data,) = selector["DataResources"]
    assert data["Type"] == "AWS::S3::Object" and "RegistryBucket" in json.dumps(data["Values"])
    bucket_id = trail["S3BucketName"]["Ref"]
    bucket = synth.template["Resources"][bucket_id]["Properties"]
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    assert bucket["LoggingConfiguration"]["LogFilePrefix"] == "registry-trail/"
    encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert encryption["SSEAlgorithm"] == "aws:kms"


def test_the_drift_check_runs_on_a_schedule_with_a_scoped_role(synth: Synth) -> None:
    (rule,) = [r["Properties"] for r in synth.resources("AWS::Events::Rule").values()]
    assert rule["ScheduleExpression"] == "rate(12 hours)" and rule["State"] == "ENABLED"
    functions = {k: f["Properties"] for k, f in synth.resources("AWS::Lambda::Function").items()}
    (function_id,) = [k for k, f in functions.items() if f.get("FunctionName") == "maaskit-dev-drift"]
    function = functions[function_id]
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert function["Handler"] == "infra.ops.drift_job.handler" and function["Runtime"] == "python3.11"
    assert len(function["Layers"]) == 1  # numpy from the stack's dependency layer
    statements = _policy_statements(synth, function["Role"]["Fn::GetAtt"][0])
    by_action = {json.dumps(s["Action"]): s for s in statements}
    assert set(by_action) == {
        '["logs:CreateLogStream", "logs:PutLogEvents"]', '"s3:ListBucket"', '"s3:GetObject"', '"kms:Decrypt"',
        '"cloudwatch:PutMetricData"',
    }  # fmt: skip
    assert by_action['"s3:ListBucket"']["Condition"] == {
        "StringLike": {"s3:prefix": ["capture/iris/*", "capture/diabetes/*"]}
    }
    reads = json.dumps(by_action['"s3:GetObject"']["Resource"])
    assert "/capture/iris/*" in reads and "/capture/diabetes/*" in reads
    assert by_action['"cloudwatch:PutMetricData"']["Condition"] == {"StringEquals": {"cloudwatch:namespace": "maaskit"}}
    asset = synth.outdir / f"asset.{function['Code']['S3Key'].removesuffix('.zip')}"
    models = json.loads((asset / "drift_models.json").read_text())["models"]
    assert [(m["model"], m["version"], m["threshold"]) for m in models] == [
        ("iris", "1.0.0", 0.3),
        ("diabetes", None, 0.2),
    ]
    assert (asset / "references" / "iris.json").is_file() and (asset / "bundle" / "reference.py").is_file()


def test_nag_and_cfn_lint_are_clean(synth: Synth, tmp_path: Path) -> None:
    assert synth.violations() == []
    path = tmp_path / "template.json"
    path.write_text(json.dumps(synth.template))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", str(path)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    errors = [line for line in done.stdout.splitlines() if ":E" in line]
    assert errors == [], done.stdout
