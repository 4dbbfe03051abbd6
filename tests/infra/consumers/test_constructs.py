"""The consumer constructs synthesized on a small stage: template facts, and cdk-nag finds nothing."""

from __future__ import annotations

import json
import re

import pytest

from infra.constructs.audit import ACCESS_LOG_FIELDS, access_log_line
from infra.constructs.consumers import ERROR_RESPONSES
from infra.consumers_config import CaptureConfig, ConsumersConfig, PlanConfig, QuotaConfig
from tests.infra.consumers.stage import KeyedStage, synthesize_keyed_stage

PLANS = ConsumersConfig(
    plans={
        "standard": PlanConfig(rate_limit=5, burst_limit=10, quota=QuotaConfig(limit=1000, period="day")),
        "partner": PlanConfig(rate_limit=50, burst_limit=100, quota=QuotaConfig(limit=100000, period="month")),
        "internal": PlanConfig(rate_limit=100, burst_limit=200),
    },
    key_cache_ttl_s=30,
)


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> KeyedStage:
    capture = CaptureConfig(sample=0.1, redact=["email", "inputs.ssn"], drift_psi_threshold=0.25)
    return synthesize_keyed_stage(tmp_path_factory.mktemp("keyed"), PLANS, capture=capture)


def test_api_takes_usage_keys_from_the_authorizer(stage: KeyedStage) -> None:
    (api,) = stage.resources("AWS::ApiGateway::RestApi")
    assert api["ApiKeySourceType"] == "AUTHORIZER"
    (authorizer,) = stage.resources("AWS::ApiGateway::Authorizer")
    assert authorizer["Type"] == "REQUEST"
    assert authorizer["AuthorizerResultTtlInSeconds"] == 0 and not authorizer.get("IdentitySource")
    methods = stage.resources("AWS::ApiGateway::Method")
    assert methods and all(m["AuthorizationType"] == "CUSTOM" and m["ApiKeyRequired"] is True for m in methods)


def test_one_usage_plan_per_configured_plan(stage: KeyedStage) -> None:
    plans = {p["UsagePlanName"]: p for p in stage.resources("AWS::ApiGateway::UsagePlan")}
    assert set(plans) == {"maaskit-dev-standard", "maaskit-dev-partner", "maaskit-dev-internal"}
    assert plans["maaskit-dev-standard"]["Throttle"] == {"RateLimit": 5, "BurstLimit": 10}
    assert plans["maaskit-dev-standard"]["Quota"] == {"Limit": 1000, "Period": "DAY"}
    assert plans["maaskit-dev-partner"]["Quota"] == {"Limit": 100000, "Period": "MONTH"}
    assert "Quota" not in plans["maaskit-dev-internal"]
    assert {"Key": "maaskit:default-plan", "Value": "true"} in plans["maaskit-dev-standard"]["Tags"]
    assert "Tags" not in plans["maaskit-dev-partner"]
    assert all(p["ApiStages"][0]["Stage"] for p in plans.values())
    assert not stage.resources("AWS::ApiGateway::ApiKey")  # keys are made by `maaskit keys`, never in the template


def test_authorizer_role_reads_api_keys_and_its_own_logs_only(stage: KeyedStage) -> None:
    (function,) = [f for f in stage.resources("AWS::Lambda::Function") if f.get("Handler") == "handler.handler"]
    assert function["Environment"]["Variables"] == {
        "MAASKIT_STAGE": "dev", "MAASKIT_KEY_PREFIX": "maaskit-dev-", "MAASKIT_KEY_CACHE_TTL_S": "30",
    }  # fmt: skip
    role_id = function["Role"]["Fn::GetAtt"][0]
    statements = [
        s
        for key, r in stage.template["Resources"].items()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"]["Roles"]
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = sorted(json.dumps(s["Action"]) for s in statements)
    assert actions == ['"apigateway:GET"', '["logs:CreateLogStream", "logs:PutLogEvents"]']
    (get,) = [s for s in statements if s["Action"] == "apigateway:GET"]
    assert json.dumps(get["Resource"]).endswith('::/apikeys"]]}')


def test_gateway_refusals_answer_in_the_openai_and_maaskit_error_shape(stage: KeyedStage) -> None:
    responses = {r["ResponseType"]: r for r in stage.resources("AWS::ApiGateway::GatewayResponse")}
    assert set(responses) == set(ERROR_RESPONSES)
    for kind, (status, _type, code) in ERROR_RESPONSES.items():
        template = responses[kind]["ResponseTemplates"]["application/json"]
        assert "#if" not in template  # gateway responses take $context substitution only, no VTL
        body = json.loads(
            template.replace("$context.error.messageString", '"Unauthorized"').replace("$context.requestId", "r-1")
        )
        assert body["error"]["code"] == code and body["error"]["status"] == int(status)
        assert body["error"]["message"] == "Unauthorized" and "type" in body["error"] and "param" in body["error"]
        assert responses[kind]["StatusCode"] == status


def test_access_log_names_the_caller_and_never_the_key(stage: KeyedStage) -> None:
    (api_stage,) = stage.resources("AWS::ApiGateway::Stage")
    line = api_stage["AccessLogSetting"]["Format"]
    assert line == access_log_line()
    substituted = re.sub(r"\$context\.[A-Za-z.]+", "1", line)
    assert set(json.loads(substituted)) == set(ACCESS_LOG_FIELDS)
    assert "$context.identity.apiKeyId" in line and "$context.identity.sourceIp" in line
    assert '$context.identity.apiKey"' not in line and "$context.identity.apiKey," not in line
    assert "$input" not in line and "body" not in line


def test_capture_bucket_is_kms_encrypted_and_each_model_writes_its_prefix(stage: KeyedStage) -> None:
    buckets = stage.resources("AWS::S3::Bucket")
    (capture,) = [b for b in buckets if "LifecycleConfiguration" in b]
    rule = capture["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    rules = capture["LifecycleConfiguration"]["Rules"]
    assert {"ExpirationInDays": 90, "Prefix": "capture/embedder/", "Status": "Enabled"} in rules
    (model,) = [f for f in stage.resources("AWS::Lambda::Function") if f.get("Handler") == "index.handler"]
    env = model["Environment"]["Variables"]
    assert env["MAASKIT_CAPTURE_SAMPLE"] == "0.1" and env["MAASKIT_CAPTURE_REDACT"] == "email,inputs.ssn"
    puts = [
        s
        for r in stage.resources("AWS::IAM::Policy")
        for s in r["PolicyDocument"]["Statement"]
        if s["Action"] == "s3:PutObject"
    ]
    assert len(puts) == 1 and "/capture/embedder/*" in json.dumps(puts[0]["Resource"])
    (alarm,) = stage.resources("AWS::CloudWatch::Alarm")
    assert alarm["MetricName"] == "DriftPSI" and alarm["Threshold"] == 0.25
    (parameter,) = stage.resources("AWS::SSM::Parameter")
    assert parameter["Name"] == "/maaskit/dev/capture-bucket"


def test_cdk_nag_finds_nothing_unacknowledged(stage: KeyedStage) -> None:
    violations = [
        f"{v['ruleName']} at {c['constructPath']}"
        for report in stage.nag_report.get("pluginReports", [])
        for v in report.get("violations", [])
        for c in v.get("violatingConstructs", [])
    ]
    assert violations == []


def test_cfn_lint_and_checkov_find_nothing_new(stage: KeyedStage, tmp_path) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.isolated_venv import isolated_venv
    from tests.reliability.test_infra_security import ACKNOWLEDGED_CHECKOV, CHECKOV

    path = tmp_path / "keyed.template.json"
    path.write_text(json.dumps(stage.template))
    lint = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert [line for line in lint.stdout.splitlines() if ":E" in line] == [], lint.stdout
    checkov = isolated_venv("checkov", CHECKOV, ["-c", "import checkov"]) / "checkov"
    command = [str(checkov), "-f", str(path), "--framework", "cloudformation", "--quiet", "--compact", "-o", "json"]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_GUIDE": "1"}
    done = subprocess.run(
        [*command, "--skip-download"], capture_output=True, text=True, timeout=300, check=False, env=env
    )
    report = json.loads(done.stdout)
    report = report[0] if isinstance(report, list) else report
    assert report["summary"]["parsing_errors"] == 0 and report["summary"]["passed"] > 50
    unexplained = [
        f"{f['check_id']} {f['resource']}"
        for f in report["results"]["failed_checks"]
        if f["check_id"] not in ACKNOWLEDGED_CHECKOV
    ]
    assert unexplained == []
