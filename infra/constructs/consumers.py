"""Consumer keys on the stage's REST API: usage plans, ``apiKeySource: AUTHORIZER`` and the authorizer.

``auth: keys`` in the deploy file. Each plan of ``api.consumers.plans`` becomes a usage plan
``maaskit-<stage>-<plan>`` (rate, burst, quota) on the stage; ``maaskit keys create`` adds keys to it.
A REQUEST authorizer (``infra/authorizer``) accepts ``Authorization: Bearer <key>`` (what OpenAI SDKs
send) or ``x-api-key`` and returns the key as the usage identifier, so API Gateway meters, throttles
and holds each consumer to its plan. Gateway responses give API Gateway's own refusals (401, 403,
429, authorizer failures) a body that OpenAI clients and the maaskit client both read (see
:data:`ERROR_TEMPLATE`). Attributes: ``function``, ``role``, ``log_group``, ``authorizer``, ``plans``
(plan name -> UsagePlan), ``method_options`` (pass to ``add_method``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aws_cdk import Duration, Stack, Tags
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.authorizer.names import CACHE_TTL_ENV, KEY_PREFIX_ENV, STAGE_ENV, TAG_DEFAULT_PLAN, key_prefix
from infra.constructs.logs import function_log_group
from infra.consumers_config import ConsumersConfig, plan_resource_name
from infra.nag import acknowledge

__all__ = ["AUTHORIZER_CODE", "ERROR_RESPONSES", "ConsumerKeys", "ConsumerKeysProps", "error_template"]

#: The authorizer's code: this directory alone is the asset.
AUTHORIZER_CODE = Path(__file__).resolve().parents[1] / "authorizer"

_PERIODS = {"day": apigw.Period.DAY, "week": apigw.Period.WEEK, "month": apigw.Period.MONTH}

#: API Gateway's own refusals: response type -> (status, OpenAI error type, OpenAI error code).
ERROR_RESPONSES: dict[str, tuple[str, str, str]] = {
    "UNAUTHORIZED": ("401", "authentication_error", "invalid_api_key"),
    "ACCESS_DENIED": ("403", "permission_error", "key_revoked"),
    "INVALID_API_KEY": ("403", "permission_error", "invalid_api_key"),
    "QUOTA_EXCEEDED": ("429", "rate_limit_error", "insufficient_quota"),
    "THROTTLED": ("429", "rate_limit_error", "rate_limit_exceeded"),
    "AUTHORIZER_FAILURE": ("500", "server_error", "authorizer_failure"),
    "AUTHORIZER_CONFIGURATION_ERROR": ("500", "server_error", "authorizer_failure"),
}


def error_template(status: str, kind: str, code: str) -> str:
    """A gateway response body both OpenAI's error shape and maaskit's (``{"error": {message, type, ...}}``).

    Gateway response templates take ``$context`` substitution only (no VTL, so no per-path branch): one
    body serves every route. ``$context.error.messageString`` is already a quoted JSON string.
    """
    return (
        '{"error": {"message": $context.error.messageString, "type": "' + kind + '", "param": null, '
        '"code": "' + code + '", "status": ' + status + ', "request_id": "$context.requestId"}}'
    )


@dataclass(frozen=True)
class ConsumerKeysProps:
    """- ``api``: the stage's REST API; its key source becomes AUTHORIZER.
    - ``stage``: the stage name (usage plan and key names, the authorizer's key prefix).
    - ``consumers``: plans and the authorizer's cache TTL (default: one ``standard`` plan, 60 s).
    - ``log_retention_days``: the authorizer's log group (default 90).
    """

    api: apigw.RestApi
    stage: str
    consumers: ConsumersConfig = field(default_factory=ConsumersConfig)
    log_retention_days: int = 90


class ConsumerKeys(Construct):
    """Usage plans, the key authorizer and the gateway responses of ``auth: keys``."""

    def __init__(self, scope: Construct, construct_id: str, props: ConsumerKeysProps) -> None:
        super().__init__(scope, construct_id)
        api, config = props.api, props.consumers
        cfn_api = api.node.default_child
        assert isinstance(cfn_api, apigw.CfnRestApi)
        cfn_api.api_key_source_type = "AUTHORIZER"
        function_name = f"maaskit-{props.stage}-key-authorizer"
        self.log_group = function_log_group(self, "Logs", function_name, props.log_retention_days)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"The {props.stage} key authorizer: reads the stage's API keys, writes its own logs",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[self.log_group.log_group_arn]
            )
        )
        # GetApiKeys is authorized on the /apikeys collection alone (no wildcard).
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["apigateway:GET"],
                resources=[f"arn:{Stack.of(self).partition}:apigateway:{Stack.of(self).region}::/apikeys"],
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            description=f"maaskit {props.stage}: Bearer or x-api-key -> the consumer's usage-plan key",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(AUTHORIZER_CODE), exclude=["__pycache__", "*.pyc"]),
            memory_size=256,
            timeout=Duration.seconds(10),
            role=self.role,
            log_group=self.log_group,
            environment={
                STAGE_ENV: props.stage,
                KEY_PREFIX_ENV: key_prefix(props.stage),
                CACHE_TTL_ENV: str(config.key_cache_ttl_s),
            },
        )
        # Every request reaches the authorizer (no identity source: either of two headers may carry the key,
        # and a missing one must be answered by it); the function caches the key list itself.
        self.authorizer = apigw.RequestAuthorizer(
            self,
            "Authorizer",
            handler=self.function,
            identity_sources=[],
            results_cache_ttl=Duration.seconds(0),
            authorizer_name=f"maaskit-{props.stage}-keys",
        )
        self.plans: dict[str, apigw.UsagePlan] = {}
        for name, plan in sorted(config.plans.items()):
            usage_plan = api.add_usage_plan(
                f"Plan{_camel(name)}",
                name=plan_resource_name(props.stage, name),
                description=plan.description or f"maaskit {props.stage} consumers on plan {name}",
                throttle=apigw.ThrottleSettings(rate_limit=plan.rate_limit, burst_limit=plan.burst_limit),
                quota=(
                    apigw.QuotaSettings(limit=plan.quota.limit, period=_PERIODS[plan.quota.period])
                    if plan.quota
                    else None
                ),
            )
            usage_plan.add_api_stage(stage=api.deployment_stage)
            if name == config.default_plan:
                Tags.of(usage_plan).add(TAG_DEFAULT_PLAN, "true")
            self.plans[name] = usage_plan
        for response_type, (status, kind, code) in ERROR_RESPONSES.items():
            api.add_gateway_response(
                f"{_camel(response_type.lower().replace('_', '-'))}Response",
                type=getattr(apigw.ResponseType, response_type),
                status_code=status,
                templates={"application/json": error_template(status, kind, code)},
                response_headers={"Content-Type": "'application/json'"},
            )
        self.method_options: dict[str, object] = {
            "authorization_type": apigw.AuthorizationType.CUSTOM,
            "authorizer": self.authorizer,
            "api_key_required": True,
        }
        for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
            acknowledge(
                api,
                rule,
                "auth keys: these methods run the consumer-key Lambda authorizer and require the consumer's API "
                "key on a throttled usage plan (callers are applications outside AWS).",
            )


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-"))
