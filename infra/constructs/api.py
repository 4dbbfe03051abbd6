"""The stage's REST API: one route set per model and protocol, authentication on by default,
throttling, access logs, request validation and X-Ray tracing.

``GET /models`` lists the stage's models and the bundle versions they serve (answered by API
Gateway itself, from what this synthesis deploys). Lambda models get their protocols' native paths
(``/models/<m>/...``, ``/v2/models/<m>/...``, ``/v1/models/<m>...``) proxied to the ``live`` alias, so
maaskit, KServe/Triton and TF Serving clients use the API URL as their base unchanged. SageMaker
models are reached through a direct AWS integration with the SageMaker runtime (InvokeEndpoint):
``POST /models/<m>/invocations`` is the container's own route, and ``GET /models/<m>`` and ``POST
/models/<m>/predict`` name the maaskit route in ``X-Amzn-SageMaker-Custom-Attributes``, which the
container dispatches to (``handlers.tunnel``), so they answer exactly as on Lambda.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from aws_cdk import Duration, Fn, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from bundle.names import SAGEMAKER_ATTRIBUTES_HEADER, route_attribute
from bundle.semver import semver_key
from infra.config import ApiConfig
from infra.constructs.api_auth import RouteAuth
from infra.constructs.audit import access_log_format
from infra.constructs.consumers import ConsumerKeys
from infra.constructs.logs import retention
from infra.consumers_config import auth_conflict
from infra.nag import acknowledge
from infra.names import stage_name

__all__ = [
    "BINARY_MEDIA_TYPES",
    "EMBEDDINGS",
    "ModelApi",
    "ModelApiProps",
    "SageMakerRoute",
    "lambda_integration",
    "openai_model",
]

#: The task whose Lambda model answers the OpenAI-compatible routes (POST /v1/embeddings, GET /v1/models).
EMBEDDINGS = "feature-extraction"

#: Bodies API Gateway passes through as bytes (base64 to Lambda): tensors, OIP binary, image files, and
#: speech uploads (raw ``audio/*`` bodies and OpenAI's multipart ``/v1/audio/transcriptions``). Anything
#: else is decoded as UTF-8 text on the way, which corrupts a WAV, FLAC or MP3 file.
BINARY_MEDIA_TYPES = [
    "application/x-npy",
    "application/octet-stream",
    "application/vnd.sagemaker-triton.binary+json",
    "image/*",
    "application/x-image",
    "audio/*",
    "audio/wav",
    "audio/x-wav",
    "audio/flac",
    "audio/mpeg",
    "audio/ogg",
    "audio/webm",
    "audio/mp4",
    "multipart/form-data",
]

_PREDICT_SCHEMA = apigw.JsonSchema(
    schema=apigw.JsonSchemaVersion.DRAFT4,
    title="PredictRequest",
    type=apigw.JsonSchemaType.OBJECT,
    properties={
        "inputs": apigw.JsonSchema(type=apigw.JsonSchemaType.OBJECT),
        "rows": apigw.JsonSchema(type=apigw.JsonSchemaType.ARRAY),
    },
    min_properties=1,
)


@dataclass(frozen=True)
class SageMakerRoute:
    """A SageMaker-served model: its endpoint name and ARN."""

    endpoint_name: str
    endpoint_arn: str


@dataclass(frozen=True)
class ModelApiProps:
    """- ``stage``: the stage name (also the API stage).
    - ``config``: auth (default IAM), throttling, log retention.
    - ``lambda_models``: model name -> ``live`` alias; ``sagemaker_models``: model name -> endpoint.
    - ``versions``: model name -> the bundle versions it serves (default: none listed), for ``GET /models``.
    - ``openai_model``: the Lambda embedding model that answers ``POST /v1/embeddings`` and ``GET /v1/models``
      (OpenAI's paths carry no model name, so one model owns them); default None: no bare OpenAI routes.
      Every Lambda embedding model also answers OpenAI clients at the base URL ``/models/<m>/v1``
      through its ``/models/<m>/{proxy+}`` route.
    - ``streaming_models``: Lambda models whose function runs the streaming loop -> their function timeout (s).
      Every route of such a model is integrated with ``ResponseTransferMode: STREAM`` (the
      ``2021-11-15/.../response-streaming-invocations`` URI; the loop answers every event streamed, which a
      buffered integration could not read) and an integration timeout equal to the function's (up to 15 min).
    - ``auth``: model -> its auth mode (``iam``, ``api_key``, ``jwt``, ``keys``) where it differs from
      ``config.auth.type``; every method of the model's routes (the OpenAI routes of ``openai_model`` too) gets
      that mode's authorization. ``GET /models`` keeps the stage's. Modes that cannot share an API are refused
      when the deploy file is read (:func:`infra.consumers_config.auth_conflict`).
    """

    stage: str
    config: ApiConfig = field(default_factory=ApiConfig)
    lambda_models: dict[str, lambda_.IFunction] = field(default_factory=dict)
    sagemaker_models: dict[str, SageMakerRoute] = field(default_factory=dict)
    versions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    openai_model: str | None = None
    streaming_models: dict[str, int] = field(default_factory=dict)
    auth: dict[str, str] = field(default_factory=dict)


class ModelApi(Construct):
    """Attributes: ``api``, ``access_logs``, ``execution_logs``, ``validator``, ``authorizer`` (when a route uses
    jwt), ``usage_plan`` and ``api_key`` (api_key), ``consumers`` (keys), ``sagemaker_role`` (when a SageMaker
    model is routed), ``methods`` (list of created methods)."""

    def __init__(self, scope: Construct, construct_id: str, props: ModelApiProps) -> None:
        super().__init__(scope, construct_id)
        config = props.config
        conflict = auth_conflict(config.auth.type, props.auth, config.auth.user_pool_arn)
        if conflict is not None:
            raise ValueError(conflict)
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=retention(config.log_retention_days), removal_policy=RemovalPolicy.RETAIN
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=stage_name(props.stage),
            description=f"maaskit models, stage {props.stage}",
            endpoint_configuration=apigw.EndpointConfiguration(
                types=[apigw.EndpointType.EDGE if config.endpoint_type == "edge" else apigw.EndpointType.REGIONAL]
            ),
            binary_media_types=BINARY_MEDIA_TYPES,
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=props.stage,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                throttling_rate_limit=config.throttling.rate_limit,
                throttling_burst_limit=config.throttling.burst_limit,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=access_log_format(),
            ),
        )
        # Execution logs (logging_level ERROR) go to a group API Gateway would create outside the template,
        # keeping logs forever: create it here, with retention, before the stage starts logging.
        self.execution_logs = logs.LogGroup(
            self,
            "ExecutionLogs",
            log_group_name=Fn.join("", ["API-Gateway-Execution-Logs_", self.api.rest_api_id, f"/{props.stage}"]),
            retention=retention(config.log_retention_days),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.api.deployment_stage.node.add_dependency(self.execution_logs)
        self.validator = apigw.RequestValidator(
            self, "Validator", rest_api=self.api, validate_request_body=True, validate_request_parameters=True
        )
        self._predict_model = self.api.add_model(
            "PredictRequest", content_type="application/json", schema=_PREDICT_SCHEMA
        )
        self.authorizer: apigw.CognitoUserPoolsAuthorizer | None = None
        self.usage_plan: apigw.UsagePlan | None = None
        self.api_key: apigw.IApiKey | None = None
        self.sagemaker_role: iam.Role | None = None
        self.consumers: ConsumerKeys | None = None
        self.methods: list[apigw.Method] = []
        self._config = config
        self._model_auth = props.auth
        self._auth = RouteAuth(self, self.api, config, props.stage)
        models = self.api.root.add_resource("models")
        self._catalogue(models, props)
        for name, alias in sorted(props.lambda_models.items()):
            self._lambda_routes(models, name, alias, props.streaming_models.get(name))
        for name, route in sorted(props.sagemaker_models.items()):
            self._sagemaker_routes(models, name, route)
        if props.openai_model is not None:
            self._openai_routes(props.openai_model, props.lambda_models)
        acknowledge(
            self.api,
            "AwsSolutions-APIG3",
            "No WAF web ACL by default: its rules depend on the callers and it bills per request; every route is "
            "authenticated and throttled. Associate a web ACL with the stage ARN where the API is public-facing.",
        )

    def _method_options(self, model: str | None) -> dict[str, object]:
        """The method options of ``model``'s routes (its ``auth``, else the stage's), made once per mode."""
        mode = self._model_auth.get(model, self._config.auth.type) if model else self._config.auth.type
        options = self._auth.options(mode)
        self.authorizer, self.usage_plan = self._auth.authorizer, self._auth.usage_plan
        self.api_key, self.consumers = self._auth.api_key, self._auth.consumers
        return options

    def _add(
        self,
        resource: apigw.IResource,
        verb: str,
        integration: apigw.Integration,
        model: str | None = None,
        **extra: object,
    ) -> None:
        """Add a method with ``model``'s auth (the stage's for ``model=None``, e.g. ``GET /models``)."""
        options = {**self._method_options(model), **extra}
        self.methods.append(resource.add_method(verb, integration, **options))  # type: ignore[arg-type]

    def _lambda_routes(
        self, models: apigw.Resource, name: str, alias: lambda_.IFunction, stream_timeout_s: int | None = None
    ) -> None:
        integration = lambda_integration(alias, stream_timeout_s)
        proxy = {"request_validator": self.validator, "request_parameters": {"method.request.path.proxy": True}}
        own = models.add_resource(name)
        self._add(own, "GET", integration, name, request_validator=self.validator)
        predict = own.add_resource("predict")
        self._add(predict, "POST", integration, name, request_validator=self.validator,
                  request_models={"application/json": self._predict_model})  # fmt: skip
        self._add(own.add_resource("{proxy+}"), "ANY", integration, name, **proxy)
        for version in ("v1", "v2"):
            parent = self.api.root.get_resource(version) or self.api.root.add_resource(version)
            parent_models = parent.get_resource("models") or parent.add_resource("models")
            model = parent_models.add_resource(name)
            self._add(model, "GET", integration, name, request_validator=self.validator)
            self._add(model.add_resource("{proxy+}"), "ANY", integration, name, **proxy)
            if version == "v1":  # TF Serving's verb suffix: POST /v1/models/<m>:predict
                self._add(
                    parent_models.add_resource(f"{name}:predict"),
                    "POST",
                    integration,
                    name,
                    request_validator=self.validator,
                )

    def _catalogue(self, models: apigw.Resource, props: ModelApiProps) -> None:
        """``GET /models`` in the runtime's shape, ``{"models": [{"name", "versions", "latest"}]}``."""
        entries = []
        for name in sorted({*props.lambda_models, *props.sagemaker_models}):
            versions = sorted(props.versions.get(name, ()), key=semver_key)
            entries.append({"name": name, "versions": versions, "latest": versions[-1] if versions else None})
        integration = apigw.MockIntegration(
            passthrough_behavior=apigw.PassthroughBehavior.NEVER,
            request_templates={"application/json": '{"statusCode": 200}'},
            integration_responses=[
                apigw.IntegrationResponse(
                    status_code="200", response_templates={"application/json": json.dumps({"models": entries})}
                )
            ],
        )
        self._add(
            models,
            "GET",
            integration,
            request_validator=self.validator,
            method_responses=[apigw.MethodResponse(status_code="200")],
        )

    def _openai_routes(self, name: str, lambda_models: dict[str, lambda_.IFunction]) -> None:
        if name not in lambda_models:
            raise ValueError(
                f"openai_model {name!r} is not one of the Lambda models ({', '.join(sorted(lambda_models))})"
            )
        integration = apigw.LambdaIntegration(lambda_models[name], proxy=True, scope_permission_to_method=False)
        v1 = self.api.root.get_resource("v1") or self.api.root.add_resource("v1")
        self._add(v1.add_resource("embeddings"), "POST", integration, name, request_validator=self.validator)
        listing = v1.get_resource("models") or v1.add_resource("models")
        self._add(listing, "GET", integration, name, request_validator=self.validator)

    def _sagemaker_routes(self, models: apigw.Resource, name: str, route: SageMakerRoute) -> None:
        if self.sagemaker_role is None:
            self.sagemaker_role = iam.Role(
                self,
                "SageMakerInvokeRole",
                assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
                description="API Gateway invokes the stage's SageMaker endpoints (each named, no wildcard)",
            )
        self.sagemaker_role.add_to_policy(
            iam.PolicyStatement(actions=["sagemaker:InvokeEndpoint"], resources=[route.endpoint_arn])
        )
        method_responses = [
            apigw.MethodResponse(status_code=code, response_parameters={"method.response.header.Content-Type": True})
            for code in ("200", "400", "502")
        ]
        own = models.get_resource(name) or models.add_resource(name)
        self._add(
            own,
            "GET",
            _sagemaker_integration(route, self.sagemaker_role, tunnel=f"GET /models/{name}"),
            name,
            request_validator=self.validator,
            method_responses=method_responses,
        )
        for leaf, tunnel in (("predict", f"POST /models/{name}/predict"), ("invocations", None)):
            self._add(
                own.add_resource(leaf),
                "POST",
                _sagemaker_integration(route, self.sagemaker_role, tunnel=tunnel),
                name,
                request_validator=self.validator,
                request_parameters={"method.request.header.Content-Type": True, "method.request.header.Accept": False},
                method_responses=method_responses,
                **({"request_models": {"application/json": self._predict_model}} if leaf == "predict" else {}),
            )


def _sagemaker_integration(route: SageMakerRoute, role: iam.IRole, *, tunnel: str | None) -> apigw.AwsIntegration:
    """InvokeEndpoint on the model's endpoint; ``tunnel`` (``"METHOD /path"``) names the maaskit route the
    container runs (``handlers.tunnel``), None for the container's own ``/invocations``."""
    parameters = {"integration.request.header.Accept": "method.request.header.Accept"}
    templates: dict[str, str] = {}
    if tunnel is None or tunnel.startswith("POST "):
        parameters["integration.request.header.Content-Type"] = "method.request.header.Content-Type"
    else:  # a GET has no body: InvokeEndpoint gets an empty JSON object
        parameters["integration.request.header.Content-Type"] = "'application/json'"
        templates = {"application/json": "{}"}
    if tunnel is not None:
        method, path = tunnel.split(" ", 1)
        parameters[f"integration.request.header.{SAGEMAKER_ATTRIBUTES_HEADER}"] = f"'{route_attribute(method, path)}'"
    return apigw.AwsIntegration(
        service="runtime.sagemaker",
        path=f"endpoints/{route.endpoint_name}/invocations",
        integration_http_method="POST",
        options=apigw.IntegrationOptions(
            credentials_role=role,
            passthrough_behavior=apigw.PassthroughBehavior.WHEN_NO_TEMPLATES,
            request_parameters=parameters,
            request_templates=templates or None,
            integration_responses=[
                _response("200", None),
                _response("400", r"4\d{2}"),
                _response("502", r"5\d{2}"),
            ],
        ),
    )


def _response(status: str, pattern: str | None) -> apigw.IntegrationResponse:
    return apigw.IntegrationResponse(
        status_code=status,
        selection_pattern=pattern,
        response_parameters={"method.response.header.Content-Type": "integration.response.header.Content-Type"},
    )


def lambda_integration(alias: lambda_.IFunction, stream_timeout_s: int | None = None) -> apigw.LambdaIntegration:
    """A Lambda proxy integration on ``alias``; with ``stream_timeout_s`` a streaming one (STREAM transfer mode,
    InvokeWithResponseStream, which ``lambda:InvokeFunction`` permits) timing out with the function."""
    if stream_timeout_s is None:
        return apigw.LambdaIntegration(alias, proxy=True, scope_permission_to_method=False)
    return apigw.LambdaIntegration(
        alias,
        proxy=True,
        scope_permission_to_method=False,
        response_transfer_mode=apigw.ResponseTransferMode.STREAM,
        timeout=Duration.seconds(stream_timeout_s),
    )


def openai_model(embedding_models: list[str]) -> str | None:
    """The model that owns the OpenAI routes: the stage's one Lambda embedding model (None with none or several)."""
    return embedding_models[0] if len(embedding_models) == 1 else None
