"""Data capture for Lambda models: a KMS-encrypted bucket, each function's write grant, a drift alarm.

``endpoints[].capture`` in the deploy file. One bucket per stage (created on the first captured
model); each model writes only under ``capture/<model>/`` with the stage's key. The drift alarm
watches the ``DriftPSI`` metric that ``maaskit drift`` publishes (largest population stability index
of the model's features). SageMaker endpoints use SageMaker's own ``DataCaptureConfig`` instead.
Attributes: ``key``, ``bucket``, ``parameter`` (SSM ``/maaskit/<stage>/capture-bucket``), ``alarms``
(model -> alarm).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from bundle.reference import (
    CAPTURE_BUCKET_ENV,
    CAPTURE_KMS_KEY_ENV,
    CAPTURE_PREFIX_ENV,
    CAPTURE_REDACT_ENV,
    CAPTURE_SAMPLE_ENV,
    DRIFT_METRIC,
)
from infra.consumers_config import CaptureConfig
from infra.nag import acknowledge

__all__ = ["CAPTURE_PREFIX", "DataCapture", "DataCaptureProps", "capture_parameter", "capture_prefix"]

CAPTURE_PREFIX = "capture/"


def capture_parameter(stage: str) -> str:
    """The SSM parameter holding the stage's capture bucket name."""
    return f"/maaskit/{stage}/capture-bucket"


def capture_prefix(model: str) -> str:
    """Where a model's captured exchanges go: ``capture/<model>/``."""
    return f"{CAPTURE_PREFIX}{model}/"


@dataclass(frozen=True)
class DataCaptureProps:
    """- ``stage``: the stage name (key alias, bucket description).
    - ``access_logs``: the bucket receiving S3 server access logs (the registry's log bucket); required.
    - ``namespace``: the metrics namespace of ``DriftPSI`` (default ``maaskit``).
    """

    stage: str
    access_logs: s3.IBucket
    namespace: str = "maaskit"


class DataCapture(Construct):
    """The stage's capture bucket and key; :meth:`attach` gives one Lambda model its grant and settings."""

    def __init__(self, scope: Construct, construct_id: str, props: DataCaptureProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/maaskit-{props.stage}-capture",
            description=f"maaskit {props.stage}: captured requests and answers",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            versioned=True,
            server_access_logs_bucket=props.access_logs,
            server_access_logs_prefix="capture-bucket/",
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(1))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.parameter = ssm.StringParameter(
            self,
            "BucketParameter",
            parameter_name=capture_parameter(props.stage),
            string_value=self.bucket.bucket_name,
            description=f"maaskit {props.stage}: the data-capture bucket (read by maaskit drift)",
        )
        self.alarms: dict[str, cloudwatch.Alarm] = {}

    def attach(self, model: str, function: lambda_.Function, config: CaptureConfig) -> cloudwatch.Alarm:
        """Let ``function`` write ``capture/<model>/*`` (and only that), set its capture settings, expire its objects
        after ``config.retention_days``, add the drift alarm."""
        prefix = capture_prefix(model)
        self.bucket.add_lifecycle_rule(prefix=prefix, expiration=Duration.days(config.retention_days))
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[self.bucket.arn_for_objects(f"{prefix}*")])
        )
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["kms:GenerateDataKey", "kms:Encrypt"], resources=[self.key.key_arn])
        )
        if function.role is not None:
            stack = Stack.of(self)
            bucket_id = stack.resolve(stack.get_logical_id(self.bucket.node.default_child))  # type: ignore[arg-type]
            acknowledge(
                function.role,
                f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{prefix}*]",
                f"{model} writes captured exchanges as new objects under its own prefix {prefix} "
                "(object names are made at run time).",
            )
        environment = {
            CAPTURE_BUCKET_ENV: self.bucket.bucket_name,
            CAPTURE_PREFIX_ENV: CAPTURE_PREFIX,
            CAPTURE_KMS_KEY_ENV: self.key.key_arn,
            CAPTURE_SAMPLE_ENV: repr(config.sample),
            CAPTURE_REDACT_ENV: ",".join(config.redact),
        }
        for name, value in environment.items():
            function.add_environment(name, value)
        alarm = cloudwatch.Alarm(
            self,
            f"Drift{''.join(part.capitalize() for part in model.split('-'))}",
            alarm_name=f"maaskit-{self.props.stage}-{model}-drift",
            alarm_description=f"{model}: a feature's population stability index reached {config.drift_psi_threshold} "
            f"(maaskit drift --stage {self.props.stage} {model} shows which)",
            metric=cloudwatch.Metric(
                namespace=self.props.namespace,
                metric_name=DRIFT_METRIC,
                dimensions_map={"model": model},
                statistic="Maximum",
                period=Duration.days(1),
            ),
            threshold=config.drift_psi_threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarms[model] = alarm
        return alarm
