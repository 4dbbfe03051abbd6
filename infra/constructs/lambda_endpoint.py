"""A model on AWS Lambda: versioned function, ``live`` alias, CodeDeploy traffic shifting guarded by
a pre-traffic hook and CloudWatch alarms that roll back automatically."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aws_cdk import Annotations, Duration, RemovalPolicy, Size, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from bundle import names
from infra.bundles import BundleSource
from infra.config import AlarmConfig, LambdaConfig, RolloutConfig
from infra.constructs.alarms import rollback_alarm
from infra.constructs.assets import hook_code, image_code, zip_code
from infra.constructs.logs import function_log_group
from infra.constructs.stream_url import add_stream_url, stream_environment
from infra.nag import acknowledge
from infra.names import CODEDEPLOY_GROUP, LIVE_ALIAS, format_version_description
from infra.packaging import LAMBDA_UNZIPPED_LIMIT, PYTHON_VERSION, runtime_sources, tree_size
from infra.rollout import lambda_deployment_config
from infra.samples import HOOK_HANDLER
from infra.sizing import lambda_memory, lambda_package, ready_warning
from infra.streaming import STREAM_PYTHON_VERSION, check_snapstart, generative_memory_mb, is_streaming, stream_timeout_s

__all__ = ["LambdaEndpoint", "LambdaEndpointProps"]

TASK_ROOT_BUNDLES = "/var/task/bundles"


@dataclass(frozen=True)
class LambdaEndpointProps:
    """Everything a Lambda endpoint needs; built by ``infra.app`` from the deploy file.

    - ``function_name``: ``maaskit-<stage>-<model>``.
    - ``bundle``: the resolved, verified bundle (a local directory is required).
    - ``source_root``: the checkout whose runtime sources (``handlers/``, ``bundle/``, ``pyproject.toml``)
      go into the artifact.
    - ``deps_layer`` / ``deps_size``: the stack's dependency layer for this architecture and its unzipped size.
    - ``sizing``, ``rollout``, ``alarms``: from the deploy file (defaults documented there).
    - ``build_root``: where a container build context is staged when the zip would be too large.
    - A ``text-generation`` bundle streams: Python 3.12, the streaming loop, a Function URL (see
      :mod:`infra.constructs.stream_url`); ``deps_layer`` must then be the onnxruntime-genai cp312 layer.
    """

    function_name: str
    bundle: BundleSource
    source_root: Path
    deps_layer: lambda_.ILayerVersion
    deps_size: int
    build_root: Path
    sizing: LambdaConfig = field(default_factory=LambdaConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    alarms: AlarmConfig = field(default_factory=AlarmConfig)


class LambdaEndpoint(Construct):
    """Function + version + ``live`` alias + deployment group + hook + rollback alarms.

    Attributes: ``function``, ``version``, ``alias``, ``application``, ``deployment_group``, ``hook``, ``alarms``
    (name -> alarm), ``unzipped_size`` (bytes of code and layer), ``package`` (``zip``, or ``image`` when
    asked or when the bundle is too large for a zip), ``uses_image``, ``memory_mb`` (configured, else
    the resident memory measured at packaging plus headroom; see ``infra.sizing`` and ``infra.streaming``),
    ``streaming`` (the bundle generates text: the function runs the streaming loop), ``function_url``
    (the streaming Function URL on the alias, or None), ``timeout_s``.
    """

    def __init__(self, scope: Construct, construct_id: str, props: LambdaEndpointProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        bundle = props.bundle
        if bundle.directory is None:
            raise ValueError(f"{props.function_name}: a Lambda target needs a local bundle, got {bundle.s3_uri}")
        self._size(props, bundle.directory)
        slow_start = ready_warning(bundle.name, bundle.resources)
        if slow_start:
            Annotations.of(self).add_warning_v2("maaskit:slow-init", slow_start)
            print(f"maaskit: warning: {slow_start}", file=sys.stderr)
        architecture = (
            lambda_.Architecture.ARM_64 if props.sizing.architecture == "arm64" else lambda_.Architecture.X86_64
        )
        sizing = props.sizing
        log_group = function_log_group(self, "Logs", props.function_name, sizing.log_retention_days)
        common: dict[str, Any] = {
            "function_name": props.function_name,
            "architecture": architecture,
            "memory_size": self.memory_mb,
            "timeout": Duration.seconds(self.timeout_s),
            "tracing": lambda_.Tracing.ACTIVE,
            "log_group": log_group,
            "role": _role(self, "Role", log_group, f"Runs {props.function_name}"),
            "reserved_concurrent_executions": sizing.reserved_concurrency,
            "environment": {
                names.BUNDLES: TASK_ROOT_BUNDLES,
                names.METRICS: "emf",
                names.PAGE: "true" if sizing.page else "false",
                **(stream_environment(zip_package=not self.uses_image) if self.streaming else {}),
            },
            "ephemeral_storage_size": (
                Size.mebibytes(sizing.ephemeral_storage_mb) if sizing.ephemeral_storage_mb else None
            ),
            "description": f"maaskit model {bundle.label}",
            "current_version_options": lambda_.VersionOptions(
                # Read back by the release commands (infra.names.parse_version_description).
                description=format_version_description(bundle.name, bundle.version, bundle.digest),
                removal_policy=RemovalPolicy.RETAIN,
            ),
        }
        if self.uses_image:
            why = (
                "as configured"
                if sizing.package == "image"
                else (
                    f"the zip package would be {self.unzipped_size / 2**20:.0f} MB unzipped "
                    f"(limit {LAMBDA_UNZIPPED_LIMIT / 2**20:.0f} MB)"
                )
            )
            print(
                f"maaskit: {props.function_name}: {why}: deploying a container image built "
                "from handlers/docker/Dockerfile.lambda instead (cdk deploy builds it; Docker needed then)."
            )
            self.function: lambda_.Function = lambda_.DockerImageFunction(
                self,
                "Function",
                code=image_code(
                    props.source_root,
                    bundle,
                    props.build_root,
                    props.function_name,
                    _platform(architecture),
                    streaming=self.streaming,
                ),
                **common,
            )
        else:
            self.function = lambda_.Function(
                self,
                "Function",
                runtime=_runtime(self.streaming),
                handler="handlers.lambda_entry.handler",  # the buffered entry; a streaming one runs the loop
                code=zip_code(props.source_root, bundle, streaming=self.streaming),
                layers=[props.deps_layer],
                snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if sizing.snapstart else None,
                **common,
            )
        self.version = self.function.current_version
        self.alias = lambda_.Alias(
            self,
            "Live",
            alias_name=LIVE_ALIAS,
            version=self.version,
            provisioned_concurrent_executions=(
                sizing.provisioned_concurrency.min if sizing.provisioned_concurrency else None
            ),
        )
        self.function_url = (
            add_stream_url(self, self.alias, sizing.streaming, bundle.name)
            if self.streaming and sizing.streaming.function_url
            else None
        )
        pc = sizing.provisioned_concurrency
        if pc is not None and pc.max is not None and pc.max > pc.min:
            scaling = self.alias.add_auto_scaling(min_capacity=pc.min, max_capacity=pc.max)
            scaling.scale_on_utilization(utilization_target=pc.target_utilization)
        self.alarms = _alarms(self, props.function_name, self.alias, props.alarms)
        self.hook = _hook(self, props, self.version.function_arn, architecture, streaming=self.streaming)
        self.version.grant_invoke(self.hook)
        self._acknowledge()
        # Application = function name, group CODEDEPLOY_GROUP: the names the release commands look up.
        self.application = codedeploy.LambdaApplication(self, "Application", application_name=props.function_name)
        self.deployment_group = codedeploy.LambdaDeploymentGroup(
            self,
            "Deployment",
            application=self.application,
            deployment_group_name=CODEDEPLOY_GROUP,
            alias=self.alias,
            deployment_config=lambda_deployment_config(self, props.rollout),
            alarms=list(self.alarms.values()),
            pre_hook=self.hook,
            auto_rollback=codedeploy.AutoRollbackConfig(failed_deployment=True, deployment_in_alarm=True),
        )
        acknowledge(
            self.deployment_group,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited]",
            "The AWS-maintained policy CodeDeploy documents for Lambda deployments: it can only update aliases "
            "and invoke hook functions whose names start with CodeDeployHook_ or that the group names.",
        )
        stack = Stack.of(self)
        hook_id = stack.resolve(stack.get_logical_id(self.hook.node.default_child))  # type: ignore[arg-type]
        acknowledge(
            self.deployment_group,
            f"AwsSolutions-IAM5[Resource::<{hook_id}.Arn>:*]",
            "CDK grants CodeDeploy lambda:InvokeFunction on '<hook ARN>:*' so it can call the hook's qualified "
            "ARN; the wildcard covers versions of this one hook function only.",
        )

    def _size(self, props: LambdaEndpointProps, bundle_dir: Path) -> None:
        """Package, memory and timeout by size and task (``infra.sizing``, ``infra.streaming``)."""
        bundle = props.bundle
        bundle_size = max(tree_size(bundle_dir), bundle.size)  # the manifest's figure for external weights too
        sources = sum(tree_size(path) for path in runtime_sources(props.source_root).values())
        code_size = sources * 2 + bundle_size  # sources + their .pyc
        self.unzipped_size = code_size + props.deps_size
        self.package = lambda_package(bundle.name, props.sizing, self.unzipped_size, bundle_size)
        self.uses_image = self.package == "image"
        self.streaming = is_streaming(bundle.task)
        check_snapstart(bundle.name, props.sizing, package=self.package, streaming=self.streaming)
        if self.streaming:
            self.memory_mb = generative_memory_mb(bundle.name, props.sizing, bundle_dir, bundle.resources)
            self.timeout_s = stream_timeout_s(props.sizing)
        else:
            self.memory_mb = lambda_memory(bundle.name, props.sizing, bundle.resources)
            self.timeout_s = props.sizing.timeout_s

    def _acknowledge(self) -> None:
        python = STREAM_PYTHON_VERSION if self.streaming else PYTHON_VERSION
        acknowledge(
            self.hook,
            "AwsSolutions-L1",
            f"Python {python} on purpose: the hook judges answers with the bundle package and the "
            f"endpoint's dependency layer (cp{python.replace('.', '')} wheels), the same code and libraries the "
            "runtime checks with.",
        )
        for role in (self.function.role, self.hook.role):
            assert role is not None
            acknowledge(
                role,
                "AwsSolutions-IAM5[Resource::*]",
                "Active X-Ray tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords, which support no "
                "resource-level permissions; every other statement of this role names one ARN.",
            )
        if self.streaming and not self.uses_image:
            acknowledge(
                self.function,
                "AwsSolutions-L1",
                f"Python {STREAM_PYTHON_VERSION} on purpose: the dependency layer holds cp312 wheels "
                "(onnxruntime-genai's manylinux_2_28 builds need AL2023's glibc, which Python 3.12+ runtimes run "
                "on) installed with --python-version 3.12; move the layer and the runtime together when upgrading.",
            )
        elif not self.uses_image:
            acknowledge(
                self.function,
                "AwsSolutions-L1",
                f"Python {PYTHON_VERSION} on purpose: the dependency layer holds cp311 wheels from the pinned lock "
                "(handlers/docker/requirements-lambda.txt), the container fallback uses the python:3.11 Lambda base, "
                "and .pyc files are compiled for 3.11. Move all three together when upgrading.",
            )


def _runtime(streaming: bool) -> lambda_.Runtime:
    """Python 3.12 (AL2023) for streaming functions, 3.11 (the cp311 lock) for the others."""
    return lambda_.Runtime.PYTHON_3_12 if streaming else lambda_.Runtime.PYTHON_3_11


def _platform(architecture: lambda_.Architecture) -> ecr_assets.Platform:
    return ecr_assets.Platform.LINUX_ARM64 if architecture.name == "arm64" else ecr_assets.Platform.LINUX_AMD64


def _role(scope: Construct, construct_id: str, log_group: logs.LogGroup, description: str) -> iam.Role:
    """A function role that may write to its own log group only (instead of AWSLambdaBasicExecutionRole's
    account-wide logs permissions); CDK adds X-Ray and the grants made later."""
    role = iam.Role(
        scope, construct_id, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description
    )
    role.add_to_policy(
        iam.PolicyStatement(actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn])
    )
    return role


def _alarms(scope: Construct, name: str, alias: lambda_.Alias, config: AlarmConfig) -> dict[str, cloudwatch.Alarm]:
    period = Duration.minutes(1)
    metrics = {
        "errors": (alias.metric_errors(period=period, statistic="Sum"), config.errors, "function errors"),
        "throttles": (alias.metric_throttles(period=period, statistic="Sum"), config.throttles, "throttled calls"),
        "p99": (alias.metric_duration(period=period, statistic="p99"), config.p99_latency_ms, "p99 duration (ms)"),
    }
    alarms = {}
    for key, (metric, threshold, what) in metrics.items():
        alarms[key] = rollback_alarm(
            scope,
            f"{key.capitalize()}Alarm",
            alarm_name=f"{name}-live-{key}",
            description=f"{name}:{LIVE_ALIAS} {what} at or above {threshold}; rolls back a deployment in progress",
            metric=metric,
            threshold=threshold,
            evaluation_periods=config.evaluation_periods,
        )
    return alarms


def _hook(
    scope: Construct,
    props: LambdaEndpointProps,
    target_arn: str,
    architecture: lambda_.Architecture,
    *,
    streaming: bool = False,
) -> lambda_.Function:
    """The pre-traffic hook: its own small function, judging with the bundle package on the endpoint's layer."""
    name = f"{props.function_name}-pre-traffic"
    hook_logs = function_log_group(scope, "HookLogs", name, props.sizing.log_retention_days, keep=False)
    hook = lambda_.Function(
        scope,
        "PreTrafficHook",
        role=_role(scope, "HookRole", hook_logs, f"Runs {name}"),
        function_name=name,
        description=f"Runs the samples of {props.bundle.label} against the new version before traffic shifts",
        runtime=_runtime(streaming),  # the dependency layer's Python (numpy, pydantic, orjson, tokenizers)
        architecture=architecture,  # the layer is built for the endpoint's architecture
        handler=HOOK_HANDLER,
        code=hook_code(props.bundle),  # keyed by the bundle: each hook holds its own model's samples
        layers=[props.deps_layer],
        timeout=Duration.minutes(15 if streaming else 5),  # replaying golden continuations takes longer
        memory_size=512,
        tracing=lambda_.Tracing.ACTIVE,
        log_group=hook_logs,
        environment={"TARGET_VERSION_ARN": target_arn},
    )
    return hook
