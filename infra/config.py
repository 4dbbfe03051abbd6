"""The deploy file: one declarative YAML document listing the endpoints of a stage.

Validated with pydantic (unknown keys refused); :func:`load_config` turns every validation
problem into a :class:`ConfigError` whose message names the key path and the allowed values.
The schema is documented field by field; ``docs/deploy.md`` shows a full example.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bundle.limits import API_GATEWAY_TIMEOUT_S
from infra.consumers_config import AuthType, CaptureConfig, ConsumersConfig, auth_conflict
from infra.monitoring_config import AuditConfig, DriftConfig, LogsConfig

__all__ = [
    "AlarmConfig",
    "ApiConfig",
    "AuthConfig",
    "ChallengerConfig",
    "ConfigError",
    "EDGE_STREAMING_REASON",
    "DeployConfig",
    "EndpointConfig",
    "LambdaConfig",
    "ProvisionedConcurrency",
    "RolloutConfig",
    "SageMakerAutoscaling",
    "SageMakerConfig",
    "STAGE_PATTERN",
    "StreamingConfig",
    "ThrottleConfig",
    "check_stage",
    "sagemaker_redact_reason",
    "load_config",
    "parse_config",
]

#: Same rule as the bundle's model name: it becomes part of function, endpoint and URL names.
ENDPOINT_NAME = r"^[a-z0-9](?:[a-z0-9-]{0,46}[a-z0-9])?$"
#: Stage names: they become part of stack, function, endpoint and parameter names.
STAGE_PATTERN = r"^[a-z][a-z0-9]{0,15}$"
#: Retention values CloudWatch Logs accepts.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922)


#: Why an edge-optimized API cannot carry a streaming model (also raised at synthesis for text-generation bundles).
EDGE_STREAMING_REASON = (
    "api.endpoint_type edge cannot carry the streaming routes of endpoint {name}: an edge-optimized API's "
    "streamed responses stop after 30 s without a byte (5 minutes on a regional one), shorter than a long "
    "prompt's time to first token; set api.endpoint_type: regional, or endpoints.{name}.lambda.streaming.api_routes: "
    "false (the Function URL still streams)"
)


class ConfigError(ValueError):
    """The deploy file is missing, unreadable or breaks the schema; the message says what to fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProvisionedConcurrency(_Strict):
    """Pre-initialized execution environments on the ``live`` alias (no cold start; billed per hour)."""

    min: int = Field(default=1, ge=1, description="Environments kept warm at all times.")
    max: int | None = Field(default=None, ge=1, description="Autoscaling ceiling; None keeps ``min`` fixed.")
    target_utilization: float = Field(default=0.7, gt=0, le=0.9, description="Scale out above this utilization.")

    @model_validator(mode="after")
    def _max_not_below_min(self) -> ProvisionedConcurrency:
        if self.max is not None and self.max < self.min:
            raise ValueError(f"max ({self.max}) must be at least min ({self.min})")
        return self


class StreamingConfig(_Strict):
    """How a streaming (text-generation) Lambda endpoint is reached; ignored for other bundles.

    Its function runs maaskit's streaming loop, so every route of the model streams (docs/streaming.md).
    """

    function_url: bool = Field(
        default=True, description="A Function URL on the live alias, InvokeMode RESPONSE_STREAM."
    )
    url_auth: Literal["iam", "none"] = Field(
        default="iam", description="iam: SigV4-signed callers (AWS_IAM); none: a public URL (anyone may call it)."
    )
    api_routes: bool = Field(
        default=True, description="The model's API routes, integrated with ResponseTransferMode STREAM."
    )

    @model_validator(mode="after")
    def _reachable(self) -> StreamingConfig:
        if not self.function_url and not self.api_routes:
            raise ValueError("function_url and api_routes are both false: the model would be unreachable; keep one")
        return self


class LambdaConfig(_Strict):
    """Sizing of a Lambda target. Memory also buys CPU: 1769 MB is one full vCPU."""

    memory_mb: int | None = Field(
        default=None,
        ge=128,
        le=10240,
        description="None: the resident memory measured at packaging plus headroom (2048 when not measured).",
    )
    package: Literal["auto", "zip", "image"] = Field(
        default="auto",
        description="auto: a zip while code, layers and bundle fit 250 MB unzipped, else a container image (10 GB).",
    )
    architecture: Literal["arm64", "x86_64"] = "arm64"
    timeout_s: int = Field(
        default=API_GATEWAY_TIMEOUT_S,
        ge=1,
        le=900,
        description="API Gateway stops waiting at 29 s; a streaming endpoint left at the default gets 900 s "
        "(the function's and the streaming integration's timeout).",
    )
    ephemeral_storage_mb: int | None = Field(
        default=None, ge=512, le=10240, description="/tmp size; None: Lambda's 512 MB (the model ships in the code)."
    )
    snapstart: bool = Field(
        default=False,
        description="SnapStart on published versions (Python 3.12+ zip functions: no provisioned concurrency, "
        "no ephemeral storage over 512 MB, no container image).",
    )
    streaming: StreamingConfig = Field(default_factory=StreamingConfig)
    reserved_concurrency: int | None = Field(default=None, ge=1)
    provisioned_concurrency: ProvisionedConcurrency | None = None
    log_retention_days: int = 30
    page: bool = Field(
        default=False,
        description="Serve the HTML model page to browsers at GET /models/<name> (behind the API's own auth).",
    )

    @model_validator(mode="after")
    def _retention_allowed(self) -> LambdaConfig:
        _check_retention(self.log_retention_days)
        return self

    @model_validator(mode="after")
    def _snapstart_limits(self) -> LambdaConfig:
        if not self.snapstart:
            return self
        conflicts = {
            "provisioned_concurrency": self.provisioned_concurrency is not None,
            "ephemeral_storage_mb": (self.ephemeral_storage_mb or 512) > 512,
            "package": self.package == "image",
        }
        for key, conflict in conflicts.items():
            if conflict:
                raise ValueError(
                    f"snapstart cannot go with {key} ({getattr(self, key)!r}): SnapStart allows no provisioned "
                    "concurrency, no ephemeral storage over 512 MB and no container image; remove snapstart or "
                    f"{key}"
                )
        return self

    @model_validator(mode="after")
    def _reserved_covers_provisioned(self) -> LambdaConfig:
        pc = self.provisioned_concurrency
        if self.reserved_concurrency is not None and pc is not None:
            ceiling = pc.max or pc.min
            if ceiling > self.reserved_concurrency:
                raise ValueError(
                    f"reserved_concurrency ({self.reserved_concurrency}) is below the provisioned concurrency "
                    f"({ceiling}); Lambda refuses that: raise reserved_concurrency or lower provisioned_concurrency"
                )
        return self


class SageMakerAutoscaling(_Strict):
    """Target tracking on ``SageMakerVariantInvocationsPerInstance`` (invocations per instance per minute)."""

    min: int = Field(default=1, ge=1)
    max: int = Field(default=2, ge=1)
    invocations_per_instance: int = Field(default=600, ge=1)
    scale_in_cooldown_s: int = Field(default=300, ge=0)
    scale_out_cooldown_s: int = Field(default=60, ge=0)

    @model_validator(mode="after")
    def _max_not_below_min(self) -> SageMakerAutoscaling:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be at least min ({self.min})")
        return self


class ChallengerConfig(_Strict):
    """A second production variant for A/B tests: another bundle taking ``weight`` of the traffic."""

    bundle: str = Field(min_length=1)
    weight: float = Field(gt=0, lt=1, description="Share of requests routed to the challenger.")


class SageMakerConfig(_Strict):
    """Sizing of a SageMaker real-time endpoint (GPU by default)."""

    instance_type: str = Field(default="ml.g5.xlarge", pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    instance_count: int = Field(default=1, ge=1)
    autoscaling: SageMakerAutoscaling | None = Field(default_factory=SageMakerAutoscaling)
    challenger: ChallengerConfig | None = None
    log_retention_days: int = Field(default=30, description="Retention of /aws/sagemaker/Endpoints/<name>.")

    @model_validator(mode="after")
    def _retention_allowed(self) -> SageMakerConfig:
        _check_retention(self.log_retention_days)
        return self


class RolloutConfig(_Strict):
    """How traffic moves to a new version: ``canary`` (percentage, then the rest after interval),
    ``linear`` (percentage more every interval) or ``all_at_once``."""

    strategy: Literal["canary", "linear", "all_at_once"] = "canary"
    percentage: int = Field(default=10, ge=1, le=99)
    interval_minutes: int = Field(default=5, ge=1, le=2880)


class AlarmConfig(_Strict):
    """Thresholds of the alarms that roll a deployment back (per minute, over ``evaluation_periods``)."""

    errors: int = Field(default=5, ge=1, description="Function errors (or 5xx) per minute.")
    throttles: int = Field(default=5, ge=1, description="Throttled invocations per minute (Lambda).")
    p99_latency_ms: int = Field(default=2000, ge=1)
    evaluation_periods: int = Field(default=2, ge=1, le=60)


class EndpointConfig(_Strict):
    """One model served by one target."""

    name: str = Field(pattern=ENDPOINT_NAME, description="The model name (routes, function and endpoint names).")
    bundle: str = Field(
        min_length=1,
        description="Bundle directory or .tar.gz (relative to the deploy file), s3://bucket/key.tar.gz "
        "(SageMaker only), or registry:name@version (pulled from the stage's model registry at synth and verified).",
    )
    target: Literal["lambda", "sagemaker", "auto"] = Field(
        default="lambda",
        description="auto: Lambda (zip or image) while the model fits its memory and image limits, else SageMaker.",
    )
    lambda_: LambdaConfig = Field(default_factory=LambdaConfig, alias="lambda")
    sagemaker: SageMakerConfig = Field(default_factory=SageMakerConfig)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    alarms: AlarmConfig = Field(default_factory=AlarmConfig)
    capture: CaptureConfig | None = None  # opt-in (Lambda: the capture writer; SageMaker: DataCaptureConfig)
    auth: AuthType | None = Field(
        default=None, description="This model's routes' auth; None: api.auth.type (the stage default)."
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _bundle_form(self) -> EndpointConfig:
        if self.bundle.startswith("registry:") and not re.fullmatch(
            r"registry:[a-z0-9-]+@[0-9A-Za-z.+-]+", self.bundle
        ):
            raise ValueError(f"bundle {self.bundle!r} must look like registry:<name>@<version>")
        if self.target in {"lambda", "auto"} and self.bundle.startswith("s3://"):
            raise ValueError(
                f"{'a Lambda target' if self.target == 'lambda' else 'target: auto'} needs a local bundle (a directory "
                "or .tar.gz) or registry:<name>@<version>: an s3:// reference cannot be sized or shipped in a function"
            )
        if self.target == "sagemaker" and self.capture is not None and self.capture.redact:
            raise ValueError(sagemaker_redact_reason(self.name))
        return self


class AuthConfig(_Strict):
    """Who may call the API. ``iam``: SigV4-signed requests (default); ``api_key``: an x-api-key header
    bound to a usage plan; ``jwt``: bearer tokens issued by a Cognito user pool."""

    type: AuthType = "iam"
    user_pool_arn: str | None = Field(
        default=None, pattern=r"^arn:aws[a-z-]*:cognito-idp:[a-z0-9-]+:\d{12}:userpool/.+$"
    )
    quota_per_day: int | None = Field(default=None, ge=1, description="api_key: requests per key per day.")

    @model_validator(mode="after")
    def _jwt_needs_pool(self) -> AuthConfig:
        if self.type == "jwt" and self.user_pool_arn is None:
            raise ValueError("type jwt needs user_pool_arn (the Cognito user pool that issues the tokens)")
        return self


class ThrottleConfig(_Strict):
    """Steady-state requests per second and burst, for the whole stage."""

    rate_limit: float = Field(default=100, gt=0)
    burst_limit: int = Field(default=200, ge=1)


class ApiConfig(_Strict):
    """The stage's REST API."""

    endpoint_type: Literal["regional", "edge"] = Field(
        default="regional",
        description="edge: edge-optimized (CloudFront); refused with a streaming model: its idle timeout is 30 s.",
    )
    auth: AuthConfig = Field(default_factory=AuthConfig)
    throttling: ThrottleConfig = Field(default_factory=ThrottleConfig)
    log_retention_days: int = 90
    consumers: ConsumersConfig = Field(default_factory=ConsumersConfig)  # auth: keys (usage plans, key cache)

    @model_validator(mode="after")
    def _retention_allowed(self) -> ApiConfig:
        _check_retention(self.log_retention_days)
        return self


class DeployConfig(_Strict):
    """The whole deploy file."""

    endpoints: list[EndpointConfig] = Field(min_length=1)
    api: ApiConfig = Field(default_factory=ApiConfig)
    logs: LogsConfig = Field(default_factory=LogsConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    stages: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per-stage overrides, merged over the top level (e.g. prod: {api: ...})."
    )

    @model_validator(mode="after")
    def _unique_names(self) -> DeployConfig:
        names = [endpoint.name for endpoint in self.endpoints]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"endpoint names must be unique; repeated: {', '.join(duplicates)}")
        return self

    @model_validator(mode="after")
    def _auth_modes_fit_one_api(self) -> DeployConfig:
        auth = self.api.auth
        conflict = auth_conflict(
            auth.type, {e.name: e.auth for e in self.endpoints if e.auth is not None}, auth.user_pool_arn
        )
        if conflict is not None:
            raise ValueError(conflict)
        return self

    @model_validator(mode="after")
    def _streaming_needs_regional(self) -> DeployConfig:
        if self.api.endpoint_type != "edge":
            return self
        for endpoint in self.endpoints:
            if "streaming" in endpoint.lambda_.model_fields_set and endpoint.lambda_.streaming.api_routes:
                raise ValueError(EDGE_STREAMING_REASON.format(name=endpoint.name))
        return self

    def endpoint(self, name: str) -> EndpointConfig:
        """The endpoint called ``name`` (KeyError when absent)."""
        for item in self.endpoints:
            if item.name == name:
                return item
        raise KeyError(name)


def sagemaker_redact_reason(name: str) -> str:
    """Why ``capture.redact`` is refused on a SageMaker endpoint (at read time, or at synthesis for target auto)."""
    return (
        f"endpoints.{name}.capture.redact: SageMaker's DataCaptureConfig stores whole request and answer bodies and "
        "cannot remove fields; remove redact (and send no field you may not store), or serve the model on Lambda, "
        "whose capture writer redacts"
    )


def _check_retention(days: int) -> None:
    if days not in LOG_RETENTION_DAYS:
        raise ValueError(f"log retention {days} is not one CloudWatch accepts; use one of {LOG_RETENTION_DAYS}")


def _describe(item: Any) -> str:
    location = ".".join(str(part) for part in item["loc"]) or "(root)"
    message = str(item["msg"])
    if item["type"] == "extra_forbidden":
        message = "unknown key (check its spelling and indentation)"
    elif item["type"] == "literal_error":
        expected = item.get("ctx", {}).get("expected", "")
        message = f"got {item.get('input')!r}; allowed values: {expected}"
    elif item["type"] == "missing":
        message = "required key is missing"
    return f"  {location}: {message}"


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_config(data: Any, source: str = "deploy config", stage: str | None = None) -> DeployConfig:
    """Validate already-parsed YAML; apply ``stages[stage]`` overrides; raise ConfigError naming the keys."""
    try:
        config = DeployConfig.model_validate(data)
        if stage is not None and stage in config.stages:
            raw = {k: v for k, v in data.items() if k != "stages"}
            config = DeployConfig.model_validate(_merge(raw, config.stages[stage]))
    except ValidationError as exc:
        lines = [_describe(item) for item in exc.errors()[:10]]
        raise ConfigError(f"{source} is invalid:\n" + "\n".join(lines)) from None
    return config


def check_stage(stage: str) -> None:
    """Raise ConfigError unless ``stage`` is a valid stage name."""
    if not re.fullmatch(STAGE_PATTERN, stage):
        raise ConfigError(
            f"stage {stage!r} must be 1-16 lowercase letters and digits, starting with a letter (e.g. dev)"
        )


def load_config(path: Path, stage: str | None = None) -> DeployConfig:
    """Read and validate the YAML deploy file at ``path`` (with ``stages[stage]`` overrides applied)."""
    import yaml

    if stage is not None:
        check_stage(stage)
    if not path.is_file():
        raise ConfigError(f"deploy config {path} not found; pass --config or set the 'maaskit:config' context")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping with an 'endpoints' list")
    return parse_config(data, str(path), stage)
