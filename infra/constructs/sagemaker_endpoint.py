"""A model on a SageMaker real-time endpoint (GPU by default): bundle archive as model data, the
runtime's GPU image, blue/green updates with canary or linear traffic shifting and auto-rollback
alarms, an optional A/B challenger variant and autoscaling on invocations per instance."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aws_cdk import ArnFormat, CfnTag, Duration, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from bundle import names
from infra.bundles import BundleSource
from infra.config import AlarmConfig, RolloutConfig, SageMakerConfig
from infra.constructs.alarms import rollback_alarm
from infra.nag import acknowledge
from infra.names import CHALLENGER_VARIANT, MODEL_TAG, PRIMARY_VARIANT, VERSION_TAG
from infra.rollout import sagemaker_deployment_config

__all__ = ["INSTANCE_STORAGE_FAMILIES", "SageMakerEndpoint", "SageMakerEndpointProps"]

#: Instance families with local NVMe storage: SageMaker refuses a KMS key for their storage volume
#: (the instance store is encrypted by the hardware).
INSTANCE_STORAGE_FAMILIES = ("g4dn", "g5", "g6", "g6e", "p3dn", "p4d", "p4de", "p5", "m5d", "c5d", "r5d")


@dataclass(frozen=True)
class SageMakerEndpointProps:
    """Everything a SageMaker endpoint needs; built by ``infra.app`` from the deploy file.

    - ``endpoint_name``: ``maaskit-<stage>-<model>``.
    - ``bundle`` (and ``challenger`` for A/B): resolved bundles; their ``.tar.gz`` is the model data.
    - ``image_context``: a build context holding ``handlers/`` (the GPU Dockerfile's context).
    - ``sizing``, ``rollout``, ``alarms``: from the deploy file.
    """

    endpoint_name: str
    bundle: BundleSource
    image_context: Path
    sizing: SageMakerConfig = field(default_factory=SageMakerConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    alarms: AlarmConfig = field(default_factory=AlarmConfig)
    challenger: BundleSource | None = None


class SageMakerEndpoint(Construct):
    """Role, image, model(s), endpoint config, endpoint, rollback alarms and autoscaling.

    Attributes: ``role``, ``image``, ``models`` (variant -> CfnModel), ``endpoint_config``, ``endpoint``,
    ``endpoint_arn``, ``alarms`` (name -> alarm), ``scalable_targets`` (variant -> target).
    """

    def __init__(self, scope: Construct, construct_id: str, props: SageMakerEndpointProps) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        name = props.endpoint_name
        sizing = props.sizing
        self.endpoint_arn = stack.format_arn(service="sagemaker", resource="endpoint", resource_name=name)
        self.role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"SageMaker execution role of {name}: model data, image pull, logs and metrics only",
        )
        self.image = ecr_assets.DockerImageAsset(
            self,
            "Image",
            directory=str(props.image_context),
            file="handlers/docker/Dockerfile.gpu",
            platform=ecr_assets.Platform.LINUX_AMD64,
        )
        self.image.repository.grant_pull(self.role)
        _grant_logs_and_metrics(self.role, stack, name)
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken (image pull) and cloudwatch:PutMetricData support no resource-level "
            "permissions; PutMetricData is limited by a cloudwatch:namespace condition.",
        )
        acknowledge(
            self.role,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/Endpoints/{name}:*]",
            "Log streams of this endpoint's own log group (SageMaker creates one stream per instance).",
        )
        variants = [(PRIMARY_VARIANT, props.bundle, 1.0 - (sizing.challenger.weight if sizing.challenger else 0.0))]
        if props.challenger is not None and sizing.challenger is not None:
            variants.append((CHALLENGER_VARIANT, props.challenger, sizing.challenger.weight))
        self.models: dict[str, sagemaker.CfnModel] = {}
        production_variants = []
        for variant, bundle, weight in variants:
            model = sagemaker.CfnModel(
                self,
                f"Model{variant.capitalize()}{bundle.digest[:8]}",
                execution_role_arn=self.role.role_arn,
                enable_network_isolation=True,
                primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                    image=self.image.image_uri,
                    model_data_url=self._model_data(variant, bundle),
                    environment={names.SERVICE_NAME: name, names.METRICS: "emf"},
                ),
                # The release commands read the variant's bundle version from this tag (infra/ops).
                tags=[
                    CfnTag(key=VERSION_TAG, value=bundle.version),
                    CfnTag(key=MODEL_TAG, value=bundle.name),
                ],
            )
            model.node.add_dependency(self.role)
            self.models[variant] = model
            production_variants.append(
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=variant,
                    model_name=model.attr_model_name,
                    initial_instance_count=sizing.instance_count,
                    instance_type=sizing.instance_type,
                    initial_variant_weight=weight,
                )
            )
        self.endpoint_config = sagemaker.CfnEndpointConfig(self, "Config", production_variants=production_variants)
        self.alarms = _alarms(self, name, [variant for variant, _, _ in variants], props.alarms)
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
            deployment_config=sagemaker_deployment_config(props.rollout, [f"{name}-{key}" for key in self.alarms]),
        )
        for alarm in self.alarms.values():  # named by string above: keep the creation order explicit
            self.endpoint.node.add_dependency(alarm)
        self.scalable_targets: dict[str, appscaling.ScalableTarget] = {}
        scaling = sizing.autoscaling
        if scaling is not None:
            # Application Auto Scaling's service-linked role for SageMaker (created by AWS on first use);
            # without it CDK would create an empty role that cannot update the endpoint.
            scaling_role = iam.Role.from_role_arn(
                self,
                "ScalingRole",
                stack.format_arn(
                    service="iam",
                    region="",
                    resource="role",
                    resource_name="aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
                    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint",
                ),
                mutable=False,
            )
            for variant, _bundle, _weight in variants:
                target = appscaling.ScalableTarget(
                    self,
                    f"Scaling{variant.capitalize()}",
                    service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
                    resource_id=f"endpoint/{name}/variant/{variant}",
                    scalable_dimension="sagemaker:variant:DesiredInstanceCount",
                    role=scaling_role,
                    min_capacity=scaling.min,
                    max_capacity=scaling.max,
                )
                target.node.add_dependency(self.endpoint)
                target.scale_to_track_metric(
                    "InvocationsPerInstance",
                    target_value=scaling.invocations_per_instance,
                    predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
                    scale_in_cooldown=Duration.seconds(scaling.scale_in_cooldown_s),
                    scale_out_cooldown=Duration.seconds(scaling.scale_out_cooldown_s),
                )
                self.scalable_targets[variant] = target

    def _model_data(self, variant: str, bundle: BundleSource) -> str:
        """The S3 URL of the bundle archive; local archives become an S3 asset readable by the role only."""
        if bundle.s3_uri is not None:
            bucket, _, key = bundle.s3_uri.removeprefix("s3://").partition("/")
            self.role.add_to_policy(
                iam.PolicyStatement(
                    actions=["s3:GetObject"], resources=[f"arn:{Stack.of(self).partition}:s3:::{bucket}/{key}"]
                )
            )
            return bundle.s3_uri
        assert bundle.archive is not None
        asset = s3_assets.Asset(self, f"ModelData{variant.capitalize()}", path=str(bundle.archive))
        # The one object, not the asset bucket (grant_read would add s3:List* and s3:GetBucket* on it).
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[asset.bucket.arn_for_objects(asset.s3_object_key)])
        )
        return asset.s3_object_url


def _grant_logs_and_metrics(role: iam.Role, stack: Stack, name: str) -> None:
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            resources=[
                stack.format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=f"/aws/sagemaker/Endpoints/{name}:*",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": ["/aws/sagemaker/Endpoints", name]}},
        )
    )


def _alarms(scope: Construct, name: str, variants: list[str], config: AlarmConfig) -> dict[str, cloudwatch.Alarm]:
    """5xx and p99 latency alarms per variant (SageMaker publishes these per EndpointName + VariantName)."""
    alarms = {}
    for variant in variants:
        dimensions = {"EndpointName": name, "VariantName": variant}
        # ModelLatency is reported in microseconds.
        checks = {
            "errors": ("Invocation5XXErrors", "Sum", config.errors, "5xx answers per minute"),
            "p99": ("ModelLatency", "p99", config.p99_latency_ms * 1000, "p99 model latency (microseconds)"),
        }
        for key, (metric_name, statistic, threshold, what) in checks.items():
            metric = cloudwatch.Metric(
                namespace="AWS/SageMaker",
                metric_name=metric_name,
                dimensions_map=dimensions,
                statistic=statistic,
                period=Duration.minutes(1),
            )
            alarms[f"{variant}-{key}"] = rollback_alarm(
                scope,
                f"{variant.capitalize()}{key.capitalize()}Alarm",
                alarm_name=f"{name}-{variant}-{key}",
                description=f"{name}/{variant} {what} at or above {threshold}; rolls back a blue/green update",
                metric=metric,
                threshold=threshold,
                evaluation_periods=config.evaluation_periods,
            )
    return alarms
