"""One stack per stage: registry, dependency layers, the models on their targets, the API and a dashboard."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aws_cdk import Annotations, AssetHashType, CfnOutput, Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.bundles import BundleSource
from infra.config import ConfigError, DeployConfig, sagemaker_redact_reason
from infra.constructs.api import EMBEDDINGS, ModelApi, ModelApiProps, SageMakerRoute, openai_model
from infra.constructs.capture import DataCapture, DataCaptureProps
from infra.constructs.dashboard import ModelDashboard, ModelDashboardProps
from infra.constructs.drift_schedule import DriftSchedule, DriftScheduleProps
from infra.constructs.lambda_endpoint import LambdaEndpoint, LambdaEndpointProps
from infra.constructs.log_encryption import LogEncryption
from infra.constructs.registry import Registry
from infra.constructs.registry_trail import RegistryTrail
from infra.constructs.sagemaker_endpoint import SageMakerEndpoint, SageMakerEndpointProps
from infra.drift_asset import DriftModel
from infra.nag import acknowledge
from infra.names import resource_name, stage_name
from infra.packaging import (
    dependency_dir,
    genai_requirements,
    lambda_requirements,
    runtime_sources,
    staged_context,
    tree_size,
)
from infra.sizing import check_deployable, check_sagemaker, choose_target
from infra.streaming import STREAM_PYTHON_VERSION, check_edge, is_streaming

__all__ = ["MaaskitStack", "MaaskitStackProps"]


@dataclass(frozen=True)
class MaaskitStackProps:
    """- ``stage``: dev, prod, ...; ``config``: the validated deploy file (stage overrides applied).
    - ``bundles``: endpoint -> resolved bundle; ``challengers``: endpoint -> A/B challenger bundle.
    - ``repo_root``: the checkout holding the runtime sources (``handlers/``, ``bundle/``, ``pyproject.toml``).
    - ``build_root`` / ``cache_root``: staging and pip cache directories (default ``.maaskit/build`` and
      ``.maaskit/cache`` under ``repo_root``).
    """

    stage: str
    config: DeployConfig
    bundles: dict[str, BundleSource]
    repo_root: Path
    challengers: dict[str, BundleSource] = field(default_factory=dict)
    build_root: Path | None = None
    cache_root: Path | None = None


class MaaskitStack(Stack):
    """Attributes: ``registry``, ``layers`` (``<arch>`` or ``<arch>-genai`` -> layer), ``lambda_endpoints`` and
    ``sagemaker_endpoints`` (model -> construct), ``capture`` (with a captured model), ``drift`` (the scheduled
    drift check), ``log_encryption`` (``logs.kms``), ``registry_trail`` (``audit.cloudtrail_data_events``),
    ``api`` and ``dashboard``."""

    def __init__(self, scope: Construct, construct_id: str, props: MaaskitStackProps, **kwargs: object) -> None:
        super().__init__(scope, construct_id, description=f"maaskit models, stage {props.stage}", **kwargs)  # type: ignore[arg-type]
        build_root = props.build_root or props.repo_root / ".maaskit" / "build"
        cache_root = props.cache_root or props.repo_root / ".maaskit" / "cache"
        self.registry = Registry(self, "Registry", stage=props.stage)
        self.layers: dict[str, lambda_.LayerVersion] = {}
        self.lambda_endpoints: dict[str, LambdaEndpoint] = {}
        self.sagemaker_endpoints: dict[str, SageMakerEndpoint] = {}
        gpu_context: Path | None = None
        for endpoint in props.config.endpoints:
            name = resource_name(props.stage, endpoint.name)
            bundle = props.bundles[endpoint.name]
            check_deployable(endpoint.name, bundle.task)
            target = choose_target(endpoint, bundle.resources, bundle.size)
            if target == "lambda" and endpoint.sagemaker.challenger is not None and endpoint.target == "auto":
                raise ConfigError(
                    f"endpoints.{endpoint.name}: target auto chose Lambda, which has no A/B variants for "
                    "sagemaker.challenger; set target: sagemaker or remove the challenger"
                )
            if target == "lambda":
                arch = endpoint.lambda_.architecture
                streaming = is_streaming(bundle.task)
                if streaming:
                    check_edge(endpoint.name, props.config.api, endpoint.lambda_)
                layer, deps_size = self._layer(arch, props.repo_root, cache_root, genai=streaming)
                self.lambda_endpoints[endpoint.name] = LambdaEndpoint(
                    self,
                    f"Lambda-{endpoint.name}",
                    LambdaEndpointProps(
                        function_name=name, bundle=bundle, source_root=props.repo_root, deps_layer=layer,
                        deps_size=deps_size, build_root=build_root, sizing=endpoint.lambda_,
                        rollout=endpoint.rollout, alarms=endpoint.alarms,
                    ),
                )  # fmt: skip
            else:
                check_sagemaker(endpoint, bundle.resources)
                gpu_context = gpu_context or staged_context(build_root, "gpu", runtime_sources(props.repo_root))
                self.sagemaker_endpoints[endpoint.name] = SageMakerEndpoint(
                    self,
                    f"SageMaker-{endpoint.name}",
                    SageMakerEndpointProps(
                        endpoint_name=name, bundle=bundle, image_context=gpu_context, sizing=endpoint.sagemaker,
                        rollout=endpoint.rollout, alarms=endpoint.alarms,
                        challenger=props.challengers.get(endpoint.name),
                    ),
                )  # fmt: skip
        self.capture = self._capture(props)
        self.drift = self._drift_schedule(props, cache_root)
        self.log_encryption = (
            LogEncryption(self, "LogEncryption", stage=props.stage, key=props.config.logs.kms)
            if props.config.logs.kms
            else None
        )
        self.registry_trail = None
        if props.config.audit.cloudtrail_data_events:
            self.registry_trail = RegistryTrail(
                self,
                "RegistryTrail",
                stage=props.stage,
                registry=self.registry.bucket,
                access_logs=self.registry.access_logs,
                retention_days=props.config.audit.retention_days,
            )
        self.api = ModelApi(
            self,
            "Api",
            ModelApiProps(
                stage=props.stage,
                config=props.config.api,
                lambda_models={
                    model: ep.alias
                    for model, ep in self.lambda_endpoints.items()
                    if not ep.streaming or ep.props.sizing.streaming.api_routes
                },
                streaming_models={model: ep.timeout_s for model, ep in self.lambda_endpoints.items() if ep.streaming},
                openai_model=openai_model([m for m in self.lambda_endpoints if props.bundles[m].task == EMBEDDINGS]),
                sagemaker_models={
                    model: SageMakerRoute(ep.endpoint.endpoint_name or "", ep.endpoint_arn)
                    for model, ep in self.sagemaker_endpoints.items()
                },
                versions={
                    endpoint.name: tuple(
                        {
                            source.version
                            for source in (props.bundles[endpoint.name], props.challengers.get(endpoint.name))
                            if source is not None
                        }
                    )
                    for endpoint in props.config.endpoints
                },
                auth={endpoint.name: endpoint.auth for endpoint in props.config.endpoints if endpoint.auth},
            ),
        )
        self.dashboard = ModelDashboard(
            self,
            "Dashboard",
            ModelDashboardProps(
                stage=props.stage,
                api_name=stage_name(props.stage),
                lambda_functions={m: resource_name(props.stage, m) for m in self.lambda_endpoints},
                sagemaker_endpoints={m: resource_name(props.stage, m) for m in self.sagemaker_endpoints},
            ),
        )
        CfnOutput(self, "ApiUrl", value=self.api.api.url, description="Base URL of the models' routes")
        self._acknowledge_service_roles()

    def _capture(self, props: MaaskitStackProps) -> DataCapture | None:
        """The stage's capture bucket (when a model captures) and each captured model's capture path."""
        captured = [endpoint for endpoint in props.config.endpoints if endpoint.capture is not None]
        if not captured:
            return None
        capture = DataCapture(
            self, "Capture", DataCaptureProps(stage=props.stage, access_logs=self.registry.access_logs)
        )
        for endpoint in captured:
            assert endpoint.capture is not None
            if endpoint.name in self.lambda_endpoints:
                capture.attach(endpoint.name, self.lambda_endpoints[endpoint.name].function, endpoint.capture)
                continue
            if endpoint.capture.redact:  # target auto chose SageMaker
                raise ConfigError(sagemaker_redact_reason(endpoint.name))
            sagemaker_endpoint = self.sagemaker_endpoints[endpoint.name]
            capture.attach_sagemaker(
                endpoint.name, sagemaker_endpoint.role, sagemaker_endpoint.endpoint_config, endpoint.capture
            )
        return capture

    def _drift_schedule(self, props: MaaskitStackProps, cache_root: Path) -> DriftSchedule | None:
        """The scheduled drift check over the captured models whose bundle is local (not ``s3://``)."""
        if self.capture is None or props.config.drift.schedule is None:
            return None
        models = []
        for endpoint in props.config.endpoints:
            bundle = props.bundles[endpoint.name]
            if endpoint.capture is None:
                continue
            if bundle.directory is None:
                note = (
                    f"{endpoint.name}: the scheduled drift check skips this model: its bundle is an s3:// reference "
                    "whose reference statistics cannot be read at synthesis (run maaskit drift --bundle instead)"
                )
                Annotations.of(self).add_warning_v2("maaskit:drift-skipped", note)
                continue
            on_lambda = endpoint.name in self.lambda_endpoints
            models.append(
                DriftModel(
                    endpoint.name,
                    bundle.directory,
                    bundle.digest,
                    bundle.version if on_lambda else None,  # SageMaker's capture files by endpoint, not version
                    endpoint.capture.drift_psi_threshold,
                )
            )
        if not models:
            return None
        arch = next((e.props.sizing.architecture for e in self.lambda_endpoints.values() if not e.streaming), "arm64")
        layer, _ = self._layer(arch, props.repo_root, cache_root)
        return DriftSchedule(
            self,
            "Drift",
            DriftScheduleProps(
                stage=props.stage,
                capture=self.capture,
                models=models,
                layer=layer,
                architecture=lambda_.Architecture.ARM_64 if arch == "arm64" else lambda_.Architecture.X86_64,
                config=props.config.drift,
            ),
        )

    def _layer(
        self, arch: str, repo_root: Path, cache_root: Path, *, genai: bool = False
    ) -> tuple[lambda_.LayerVersion, int]:
        """The stack's dependency layer for ``arch`` (created once) and its unzipped size; ``genai``: the
        streaming functions' layer (CPython 3.12, manylinux_2_28 wheels, onnxruntime-genai added)."""
        requirements, extra = genai_requirements(repo_root) if genai else (lambda_requirements(repo_root), ())
        python = STREAM_PYTHON_VERSION if genai else "3.11"
        deps = dependency_dir(
            requirements, arch, cache_root,  # type: ignore[arg-type]
            python_version=python, extra=extra,
        )  # fmt: skip
        size = tree_size(deps / "python")
        key = f"{arch}-genai" if genai else arch
        if key not in self.layers:
            self.layers[key] = lambda_.LayerVersion(
                self,
                f"Deps-{key}",
                code=lambda_.Code.from_asset(
                    str(deps), exclude=[".complete"], asset_hash=deps.name, asset_hash_type=AssetHashType.CUSTOM
                ),
                compatible_runtimes=[lambda_.Runtime.PYTHON_3_12 if genai else lambda_.Runtime.PYTHON_3_11],
                compatible_architectures=[
                    lambda_.Architecture.ARM_64 if arch == "arm64" else lambda_.Architecture.X86_64
                ],
                description=f"maaskit runtime deps ({requirements.name}{' + onnxruntime-genai' if extra else ''}, "
                f"{arch}, CPython {python})",
            )
        return self.layers[key], size

    def _acknowledge_service_roles(self) -> None:
        """Findings that CDK's own service roles raise, each right by design (reasons below)."""
        acknowledge(
            self,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-level CloudWatch role needs exactly this AWS-maintained policy to write the "
            "execution and access logs required by APIG1/APIG6.",
        )
