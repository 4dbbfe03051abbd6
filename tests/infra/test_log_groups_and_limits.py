"""Template hardening: no log group left for AWS to create without retention, registry puts must be SSE-S3,
reserved concurrency settable per Lambda endpoint (and checked against provisioned concurrency)."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, LambdaConfig
from tests.infra.conftest import Synth


def _groups(synth: Synth) -> list[dict]:
    return [group["Properties"] for group in synth.resources("AWS::Logs::LogGroup").values()]


def test_sagemaker_endpoint_log_group_is_in_the_template_with_retention(default_synth: Synth):
    groups = {
        group["LogGroupName"]: group for group in _groups(default_synth) if isinstance(group.get("LogGroupName"), str)
    }
    endpoint = groups["/aws/sagemaker/Endpoints/maaskit-dev-diabetes"]
    assert endpoint["RetentionInDays"] == 30
    name = next(k for k, v in default_synth.resources("AWS::SageMaker::Endpoint").items())
    logs = next(
        k
        for k, v in default_synth.resources("AWS::Logs::LogGroup").items()
        if v["Properties"].get("LogGroupName") == "/aws/sagemaker/Endpoints/maaskit-dev-diabetes"
    )
    assert logs in default_synth.template["Resources"][name]["DependsOn"]  # exists before the endpoint logs


def test_api_execution_log_group_is_in_the_template_before_the_stage(default_synth: Synth):
    api_id = next(iter(default_synth.resources("AWS::ApiGateway::RestApi")))
    found = {
        key: group
        for key, group in default_synth.resources("AWS::Logs::LogGroup").items()
        if "Fn::Join" in str(group["Properties"].get("LogGroupName"))
    }
    assert len(found) == 1
    key, group = next(iter(found.items()))
    parts = group["Properties"]["LogGroupName"]["Fn::Join"][1]
    assert parts == ["API-Gateway-Execution-Logs_", {"Ref": api_id}, "/dev"]
    assert group["Properties"]["RetentionInDays"] == 90
    stage = next(v for v in default_synth.resources("AWS::ApiGateway::Stage").values())
    assert key in stage["DependsOn"]
    assert stage["Properties"]["MethodSettings"][0]["LoggingLevel"] == "ERROR"


def test_registry_denies_puts_asking_for_other_encryption(default_synth: Synth):
    statements = [
        statement
        for policy in default_synth.resources("AWS::S3::BucketPolicy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement.get("Sid") == "DenyUnencryptedPuts"
    ]
    assert len(statements) == 1
    statement = statements[0]
    assert statement["Effect"] == "Deny" and statement["Action"] == "s3:PutObject"
    assert statement["Condition"]["StringNotEquals"] == {"s3:x-amz-server-side-encryption": "AES256"}


def test_reserved_concurrency_per_lambda_endpoint(default_synth: Synth, custom_synth: Synth):
    def reserved(synth: Synth) -> dict[str, object]:
        functions = synth.resources("AWS::Lambda::Function").values()
        return {
            str(f["Properties"].get("FunctionName")): f["Properties"].get("ReservedConcurrentExecutions")
            for f in functions
        }

    assert reserved(custom_synth)["maaskit-prod-iris"] == 50  # the deploy file's lambda.reserved_concurrency
    assert reserved(default_synth)["maaskit-dev-iris"] is None  # unset: the account's unreserved pool


def test_reserved_concurrency_below_provisioned_is_refused():
    with pytest.raises((ValueError, ConfigError), match="reserved_concurrency \\(4\\) is below the provisioned"):
        LambdaConfig(reserved_concurrency=4, provisioned_concurrency={"min": 2, "max": 6})
    assert LambdaConfig(reserved_concurrency=6, provisioned_concurrency={"min": 2, "max": 6}).reserved_concurrency == 6
