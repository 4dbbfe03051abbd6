"""The authorization of the REST API's methods, one set of method options per auth mode in use.

A stage has a default mode (``api.auth.type``) and each endpoint may pick its own (``endpoints[].auth``),
so one API can hold IAM-only models beside consumer-key models. Each mode's pieces (the key authorizer
and usage plans, the Cognito authorizer, the default usage plan and key) are made the first time a route
asks for that mode, under the API construct (stable logical ids), with the cdk-nag acknowledgment the
mode needs.
"""

from __future__ import annotations

from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from infra.config import ApiConfig
from infra.constructs.consumers import ConsumerKeys, ConsumerKeysProps
from infra.nag import acknowledge

__all__ = ["RouteAuth"]


class RouteAuth:
    """Method options per auth mode for ``api``. Attributes, set once their mode is used: ``consumers`` (keys),
    ``authorizer`` (jwt), ``usage_plan`` and ``api_key`` (api_key)."""

    def __init__(self, scope: Construct, api: apigw.RestApi, config: ApiConfig, stage: str) -> None:
        self._scope, self._api, self._config, self._stage = scope, api, config, stage
        self._options: dict[str, dict[str, object]] = {}
        self.consumers: ConsumerKeys | None = None
        self.authorizer: apigw.CognitoUserPoolsAuthorizer | None = None
        self.usage_plan: apigw.UsagePlan | None = None
        self.api_key: apigw.IApiKey | None = None

    def options(self, mode: str) -> dict[str, object]:
        """``add_method`` options for ``mode`` (``iam``, ``api_key``, ``jwt`` or ``keys``)."""
        if mode not in self._options:
            makers = {"keys": self._keys, "iam": self._iam, "jwt": self._jwt, "api_key": self._api_key}
            if mode not in makers:
                raise ValueError(f"auth {mode!r} is not one of {', '.join(makers)}")
            self._options[mode] = makers[mode]()
        return self._options[mode]

    def _keys(self) -> dict[str, object]:
        config = self._config
        self.consumers = ConsumerKeys(
            self._scope,
            "Consumers",
            ConsumerKeysProps(
                api=self._api,
                stage=self._stage,
                consumers=config.consumers,
                log_retention_days=config.log_retention_days,
            ),
        )
        return self.consumers.method_options

    def _iam(self) -> dict[str, object]:
        acknowledge(
            self._api,
            "AwsSolutions-COG4",
            "Callers authenticate with IAM (SigV4): they are AWS principals, so no Cognito user pool is involved.",
        )
        return {"authorization_type": apigw.AuthorizationType.IAM}

    def _jwt(self) -> dict[str, object]:
        pool_arn = self._config.auth.user_pool_arn
        if pool_arn is None:
            raise ValueError("auth jwt needs api.auth.user_pool_arn (the Cognito user pool that issues the tokens)")
        pool = cognito.UserPool.from_user_pool_arn(self._scope, "UserPool", pool_arn)
        self.authorizer = apigw.CognitoUserPoolsAuthorizer(self._scope, "JwtAuthorizer", cognito_user_pools=[pool])
        return {"authorization_type": apigw.AuthorizationType.COGNITO, "authorizer": self.authorizer}

    def _api_key(self) -> dict[str, object]:
        config, api = self._config, self._api
        quota = config.auth.quota_per_day
        self.usage_plan = api.add_usage_plan(
            "UsagePlan",
            name=f"{api.rest_api_name}-default",
            throttle=apigw.ThrottleSettings(
                rate_limit=config.throttling.rate_limit, burst_limit=config.throttling.burst_limit
            ),
            quota=apigw.QuotaSettings(limit=quota, period=apigw.Period.DAY) if quota else None,
        )
        self.usage_plan.add_api_stage(stage=api.deployment_stage)
        self.api_key = api.add_api_key("ApiKey", description="maaskit default key (rotate in the console)")
        self.usage_plan.add_api_key(self.api_key)
        for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
            acknowledge(
                api,
                rule,
                "auth api_key: these methods require an API key bound to a throttled usage plan "
                "(chosen in the deploy file for machine-to-machine callers outside AWS).",
            )
        return {"authorization_type": apigw.AuthorizationType.NONE, "api_key_required": True}
