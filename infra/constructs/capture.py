"""Data capture: a KMS-encrypted bucket, each captured model's write grant, a drift alarm per model.

``endpoints[].capture`` in the deploy file. One bucket per stage (created on the first captured
model); each model writes only under ``capture/<model>/`` with the stage's key: a Lambda model through
the runtime's capture writer (:meth:`DataCapture.attach`), a SageMaker model through the endpoint's own
``DataCaptureConfig`` (:meth:`DataCapture.attach_sagemaker`; no redaction there). The drift alarm
watches the ``DriftPSI`` metric that the scheduled drift check and ``maaskit drift`` publish (largest
population stability index of the model's features).
Attributes: ``key``, ``bucket``, ``parameter`` (SSM ``/maaskit/<stage>/capture-bucket``), ``alarms``
(model -> alarm).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
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
from infra.config import sagemaker_redact_reason
from infra.constructs.sealed_bucket import sealed_bucket
from infra.consumers_config import CaptureConfig
from infra.nag import acknowledge

__all__ = [
    "CAPTURE_CSV_TYPES",
    "CAPTURE_JSON_TYPES",
    "CAPTURE_PREFIX",
    "DataCapture",
    "DataCaptureProps",
    "capture_parameter",
    "capture_prefix",
    "sagemaker_sampling_percentage",
]

CAPTURE_PREFIX = "capture/"
#: Content types SageMaker's capture stores as text (``encoding`` JSON or CSV) instead of base64.
CAPTURE_JSON_TYPES = ("application/json", "application/jsonlines")
CAPTURE_CSV_TYPES = ("text/csv",)


def sagemaker_sampling_percentage(sample: float) -> int:
    """SageMaker's ``InitialSamplingPercentage`` for ``sample``: whole percents, at least 1."""
    return max(1, min(100, round(sample * 100)))


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
        self.key, self.bucket = sealed_bucket(
            self,
            alias=f"alias/maaskit-{props.stage}-capture",
            description=f"maaskit {props.stage}: captured requests and answers",
            access_logs=props.access_logs,
            access_log_prefix="capture-bucket/",
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
        self._grant_writes(model, function.role, config)
        environment = {
            CAPTURE_BUCKET_ENV: self.bucket.bucket_name,
            CAPTURE_PREFIX_ENV: CAPTURE_PREFIX,
            CAPTURE_KMS_KEY_ENV: self.key.key_arn,
            CAPTURE_SAMPLE_ENV: repr(config.sample),
            CAPTURE_REDACT_ENV: ",".join(config.redact),
        }
        for name, value in environment.items():
            function.add_environment(name, value)
        return self._alarm(model, config)

    def attach_sagemaker(
        self, model: str, role: iam.IRole, endpoint_config: sagemaker.CfnEndpointConfig, config: CaptureConfig
    ) -> cloudwatch.Alarm:
        """SageMaker's own data capture on ``endpoint_config``: requests and answers of every variant, sampled at
        ``config.sample`` (whole percents, at least 1), SSE-KMS with the stage's key, under ``capture/<model>/``
        (SageMaker adds ``<endpoint>/<variant>/<yyyy>/<mm>/<dd>/<hh>/``); JSON and CSV bodies stored as text.
        ``role`` (the endpoint's execution role, which SageMaker writes with) may write that prefix only."""
        if config.redact:
            raise ValueError(sagemaker_redact_reason(model))
        self._grant_writes(model, role, config)
        endpoint_config.data_capture_config = sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
            enable_capture=True,
            initial_sampling_percentage=sagemaker_sampling_percentage(config.sample),
            destination_s3_uri=f"s3://{self.bucket.bucket_name}/{capture_prefix(model).rstrip('/')}",
            kms_key_id=self.key.key_arn,
            capture_options=[
                sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode=mode) for mode in ("Input", "Output")
            ],
            capture_content_type_header=sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
                json_content_types=list(CAPTURE_JSON_TYPES), csv_content_types=list(CAPTURE_CSV_TYPES)
            ),
        )
        return self._alarm(model, config)

    def _grant_writes(self, model: str, role: iam.IRole | None, config: CaptureConfig) -> None:
        """``s3:PutObject`` on the model's prefix and the key's encrypt actions; the prefix's expiration."""
        prefix = capture_prefix(model)
        self.bucket.add_lifecycle_rule(prefix=prefix, expiration=Duration.days(config.retention_days))
        if role is None:
            raise ValueError(f"{model}: a captured model needs a role to grant the capture writes to")
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[self.bucket.arn_for_objects(f"{prefix}*")])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["kms:GenerateDataKey", "kms:Encrypt"], resources=[self.key.key_arn])
        )
        stack = Stack.of(self)
        bucket_id = stack.resolve(stack.get_logical_id(self.bucket.node.default_child))  # type: ignore[arg-type]
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{prefix}*]",
            f"{model} writes captured exchanges as new objects under its own prefix {prefix} "
            "(object names are made at run time).",
        )

    def _alarm(self, model: str, config: CaptureConfig) -> cloudwatch.Alarm:
        """``maaskit-<stage>-<model>-drift``: the day's largest ``DriftPSI`` at or above the model's threshold."""
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
