"""The scheduled drift check: an EventBridge rule runs one small function over every captured model.

The function (``maaskit-<stage>-drift``, :mod:`infra.ops.drift_job`, asset from :mod:`infra.drift_asset`)
reads each model's newest captured records, compares them with the deployed bundle's reference and
publishes ``DriftPSI``, which the model's drift alarm (:class:`infra.constructs.capture.DataCapture`)
watches. Its role may list and read the captured models' prefixes only, decrypt with the capture key,
put metrics in the one namespace and write its own log group. Attributes: ``function``, ``role``,
``log_group``, ``rule``.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from bundle.names import CAPTURE_BUCKET
from infra.constructs.capture import DataCapture, capture_prefix
from infra.constructs.logs import function_log_group
from infra.drift_asset import DriftModel, drift_code
from infra.monitoring_config import DriftConfig
from infra.nag import acknowledge
from infra.names import DRIFT_HANDLER, DRIFT_NAMESPACE_ENV, DRIFT_RECORDS_ENV, drift_function_name
from infra.packaging import PYTHON_VERSION

__all__ = ["DriftSchedule", "DriftScheduleProps"]


@dataclass(frozen=True)
class DriftScheduleProps:
    """- ``stage``; ``capture``: the stage's capture bucket and key; ``models``: the captured models.
    - ``layer``: the stack's dependency layer (numpy) and its ``architecture``.
    - ``config``: the schedule; ``log_retention_days`` of the function's group; ``namespace`` of ``DriftPSI``.
    """

    stage: str
    capture: DataCapture
    models: list[DriftModel]
    layer: lambda_.ILayerVersion
    architecture: lambda_.Architecture
    config: DriftConfig
    log_retention_days: int = 30
    namespace: str = "maaskit"


class DriftSchedule(Construct):
    """Rule, function, role and log group of the scheduled drift check."""

    def __init__(self, scope: Construct, construct_id: str, props: DriftScheduleProps) -> None:
        super().__init__(scope, construct_id)
        if props.config.schedule is None:
            raise ValueError("drift.schedule is null: no scheduled drift check to build")
        name = drift_function_name(props.stage)
        bucket, key = props.capture.bucket, props.capture.key
        self.log_group = function_log_group(self, "Logs", name, props.log_retention_days)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"The {props.stage} drift check: reads captured inputs, publishes {props.namespace}/DriftPSI",
        )
        prefixes = [capture_prefix(m.model) for m in props.models]
        statements = [
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[self.log_group.log_group_arn]
            ),
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{p}*" for p in prefixes]}},
            ),
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{p}*") for p in prefixes]
            ),
            iam.PolicyStatement(actions=["kms:Decrypt"], resources=[key.key_arn]),
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": props.namespace}},
            ),
        ]
        for statement in statements:
            self.role.add_to_policy(statement)
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=name,
            description=f"maaskit {props.stage}: drift of {', '.join(m.model for m in props.models)} "
            f"({props.config.schedule})",
            runtime=lambda_.Runtime.PYTHON_3_11,  # the dependency layer's Python (numpy)
            architecture=props.architecture,
            handler=DRIFT_HANDLER,
            code=drift_code(props.models),
            layers=[props.layer],
            memory_size=1024,
            timeout=Duration.minutes(10),
            role=self.role,
            log_group=self.log_group,
            environment={
                CAPTURE_BUCKET: bucket.bucket_name,
                DRIFT_NAMESPACE_ENV: props.namespace,
                DRIFT_RECORDS_ENV: str(props.config.records),
            },
        )
        self.rule = events.Rule(
            self,
            "Schedule",
            rule_name=f"{name}-schedule",
            description=f"maaskit {props.stage}: run the drift check ({props.config.schedule})",
            schedule=events.Schedule.expression(props.config.schedule),
            targets=[targets.LambdaFunction(self.function, retry_attempts=2)],
        )
        self._acknowledge(bucket.node.default_child, prefixes)

    def _acknowledge(self, bucket: object, prefixes: list[str]) -> None:
        stack = Stack.of(self)
        bucket_id = stack.resolve(stack.get_logical_id(bucket))  # type: ignore[arg-type]
        for prefix in prefixes:
            acknowledge(
                self.role,
                f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{prefix}*]",
                f"The drift check reads the captured records under {prefix} (object names are made at run time).",
            )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "cloudwatch:PutMetricData supports no resource-level permission; it is limited to the drift "
            "metric's namespace by the cloudwatch:namespace condition.",
        )
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            f"Python {PYTHON_VERSION} on purpose: numpy comes from the stack's dependency layer (cp311 wheels), "
            "the one the model functions and hooks run on; move the layer and the runtime together.",
        )
