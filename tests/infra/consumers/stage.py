"""A small stage for the consumer tests: a REST API with Lambda routes behind ConsumerKeys, the audit
access-log format and data capture, synthesized with cdk-nag (no packaging: inline function code)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3

from infra.constructs.audit import access_log_format
from infra.constructs.capture import DataCapture, DataCaptureProps
from infra.constructs.consumers import ConsumerKeys, ConsumerKeysProps
from infra.consumers_config import CaptureConfig, ConsumersConfig
from infra.nag import acknowledge, enable_nag
from tests.infra.conftest import cdk_context

STAGE = "dev"


@dataclass
class KeyedStage:
    template: dict[str, Any]
    keys: ConsumerKeys
    capture: DataCapture
    nag_report: dict[str, Any]

    def resources(self, kind: str) -> list[dict[str, Any]]:
        return [r["Properties"] for r in self.template["Resources"].values() if r["Type"] == kind]


def _scaffold_function(stack: Stack, name: str) -> lambda_.Function:
    """A stand-in model function (the test's scaffolding, not the constructs under test)."""
    group = logs.LogGroup(stack, f"{name}Logs", removal_policy=RemovalPolicy.DESTROY)
    role = iam.Role(stack, f"{name}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["logs:PutLogEvents"], resources=[group.log_group_arn]))
    return lambda_.Function(
        stack, name, runtime=lambda_.Runtime.PYTHON_3_14, handler="index.handler", role=role, log_group=group,
        code=lambda_.Code.from_inline("def handler(event, context):\n    return {}\n"),
    )  # fmt: skip


def synthesize_keyed_stage(
    outdir: Path,
    consumers: ConsumersConfig,
    models: tuple[str, ...] = ("embedder",),
    capture: CaptureConfig | None = None,
) -> KeyedStage:
    app = App(context=cdk_context(), outdir=str(outdir))
    stack = Stack(app, "Keyed", env={"account": "123456789012", "region": "eu-west-1"})
    access = logs.LogGroup(stack, "AccessLogs", removal_policy=RemovalPolicy.DESTROY)
    api = apigw.RestApi(
        stack, "Api", rest_api_name=f"maaskit-{STAGE}", cloud_watch_role=False,
        deploy_options=apigw.StageOptions(
            stage_name=STAGE, tracing_enabled=True, logging_level=apigw.MethodLoggingLevel.ERROR,
            access_log_destination=apigw.LogGroupLogDestination(access), access_log_format=access_log_format(),
        ),
    )  # fmt: skip
    keys = ConsumerKeys(stack, "Consumers", ConsumerKeysProps(api=api, stage=STAGE, consumers=consumers))
    validator = apigw.RequestValidator(
        stack, "Validator", rest_api=api, validate_request_body=True, validate_request_parameters=True
    )
    models_resource = api.root.add_resource("models")
    functions = {}
    for model in models:
        function = functions[model] = _scaffold_function(stack, f"Model{model.capitalize()}")
        integration = apigw.LambdaIntegration(function, proxy=True)
        own = models_resource.add_resource(model)
        own.add_method("GET", integration, request_validator=validator, **keys.method_options)  # type: ignore[arg-type]
        own.add_resource("{proxy+}").add_method(
            "ANY",
            integration,
            request_validator=validator,
            **keys.method_options,  # type: ignore[arg-type]
        )
    logs_bucket = s3.Bucket(
        stack, "ServerAccessLogs", enforce_ssl=True, block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        encryption=s3.BucketEncryption.S3_MANAGED,
    )  # fmt: skip
    data_capture = DataCapture(stack, "Capture", DataCaptureProps(stage=STAGE, access_logs=logs_bucket))
    for model, function in functions.items():
        data_capture.attach(model, function, capture or CaptureConfig(sample=0.05, redact=["email"]))
    # The scaffolding's own findings (not the constructs under test):
    acknowledge(api, "AwsSolutions-APIG3", "test stage: no WAF")
    acknowledge(logs_bucket, "AwsSolutions-S1", "test scaffolding: the access-log bucket itself")
    for function in functions.values():
        acknowledge(function, "AwsSolutions-IAM5", "test scaffolding: inline stand-in model function")
    enable_nag(app)
    assembly = app.synth()
    template = assembly.get_stack_by_name(stack.stack_name).template
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    return KeyedStage(template, keys, data_capture, report)
