"""The API emulator with consumer keys: the Lambda authorizer runs in-process before each CUSTOM method.

Extends :class:`tests.infra.api_emulator.EmulatedApi` (not edited) the way API Gateway runs a REQUEST
authorizer with ``apiKeySource: AUTHORIZER``:

1. the authorizer gets the REQUEST event; ``Unauthorized`` -> gateway response UNAUTHORIZED (401), any
   other exception -> AUTHORIZER_FAILURE (500), a Deny -> ACCESS_DENIED (403);
2. the returned ``usageIdentifierKey`` must be an enabled API key in a usage plan (read from the
   AWS fake), else INVALID_API_KEY (403); a plan's quota counts requests per key -> QUOTA_EXCEEDED (429);
3. the Lambda event carries ``requestContext.authorizer`` (the context and ``principalId``) and
   ``identity.apiKeyId`` / ``identity.apiKey`` as API Gateway fills them.

Gateway responses come from the template (``AWS::ApiGateway::GatewayResponse``): ``$context.error.messageString``
and ``$context.requestId`` substituted, as API Gateway does. Rate throttling is not emulated.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.infra.api_emulator import Call, EmulatedApi, Route

#: API Gateway's own messages and default statuses for the refusals it makes.
MESSAGES = {
    "UNAUTHORIZED": ("Unauthorized", 401),
    "ACCESS_DENIED": ("User is not authorized to access this resource with an explicit deny", 403),
    "INVALID_API_KEY": ("Forbidden", 403),
    "QUOTA_EXCEEDED": ("Limit Exceeded", 429),
    "THROTTLED": ("Too Many Requests", 429),
    "AUTHORIZER_FAILURE": (None, 500),
}


def _methods(template: dict[str, Any]) -> dict[tuple[str, tuple[str, ...]], dict[str, Any]]:
    resources = {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::ApiGateway::Resource"}

    def parts(reference: Any) -> tuple[str, ...]:
        if isinstance(reference, dict) and "Ref" in reference:
            resource = resources[reference["Ref"]]["Properties"]
            return (*parts(resource["ParentId"]), resource["PathPart"])
        return ()

    return {
        (v["Properties"]["HttpMethod"], parts(v["Properties"]["ResourceId"])): v["Properties"]
        for v in template["Resources"].values()
        if v["Type"] == "AWS::ApiGateway::Method"
    }


@dataclass
class KeyedApi(EmulatedApi):
    """``template``: the synthesized stack; ``authorizer``: the Lambda handler; ``apigateway``: a boto3 client."""

    template: dict[str, Any] = field(default_factory=dict)
    authorizer: Callable[[dict[str, Any], Any], dict[str, Any]] | None = None
    apigateway: Any = None
    used: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._method_props = _methods(self.template)
        self._responses = {
            r["Properties"]["ResponseType"]: r["Properties"]
            for r in self.template["Resources"].values()
            if r["Type"] == "AWS::ApiGateway::GatewayResponse"
        }
        self._auth: dict[str, Any] | None = None
        self.lambdas = {name: self._with_auth(handler) for name, handler in self.lambdas.items()}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix(f"/{self.stage}")
        route = self.find(request.method, path)
        self._auth = None
        if route is not None and self._method_props[(route.method, route.parts)].get("AuthorizationType") == "CUSTOM":
            refusal = self._authorize(request, route, path)
            if refusal is not None:
                return refusal
        return super().handle_request(request)

    def _authorize(self, request: httpx.Request, route: Route, path: str) -> httpx.Response | None:
        assert self.authorizer is not None and self.apigateway is not None
        event = {
            "type": "REQUEST",
            "methodArn": f"arn:aws:execute-api:eu-west-1:123456789012:emulated/{self.stage}/{request.method}{path}",
            "resource": route.path,
            "path": path,
            "httpMethod": request.method,
            "headers": dict(request.headers),
            "queryStringParameters": dict(request.url.params) or None,
            "requestContext": {"stage": self.stage, "resourcePath": route.path, "httpMethod": request.method},
        }
        try:
            answer = self.authorizer(event, None)
        except Exception as exc:  # API Gateway: "Unauthorized" is a 401, anything else a 500
            return self._gateway("UNAUTHORIZED" if str(exc) == "Unauthorized" else "AUTHORIZER_FAILURE")
        effects = {s["Effect"] for s in answer["policyDocument"]["Statement"]}
        if effects != {"Allow"}:
            return self._gateway("ACCESS_DENIED")
        value = answer.get("usageIdentifierKey")
        props = self._method_props[(route.method, route.parts)]
        key = self._usage_key(value) if props.get("ApiKeyRequired") else None
        if props.get("ApiKeyRequired"):
            if key is None:
                return self._gateway("INVALID_API_KEY")
            item, quota = key
            self.used[item["id"]] = self.used.get(item["id"], 0) + 1
            if quota is not None and self.used[item["id"]] > quota:
                return self._gateway("QUOTA_EXCEEDED")
        self._auth = {
            "authorizer": {**answer.get("context", {}), "principalId": answer["principalId"]},
            "apiKeyId": key[0]["id"] if key else None,
            "apiKey": value,
        }
        return None

    def _usage_key(self, value: str | None) -> tuple[dict[str, Any], int | None] | None:
        """The enabled API key ``value`` and its plan's quota, when the key is in a usage plan."""
        if not value:
            return None
        items = self.apigateway.get_api_keys(includeValues=True)["items"]
        item = next((i for i in items if i.get("value") == value and i.get("enabled")), None)
        if item is None:
            return None
        for plan in self.apigateway.get_usage_plans()["items"]:
            keys = self.apigateway.get_usage_plan_keys(usagePlanId=plan["id"])["items"]
            if any(k["id"] == item["id"] for k in keys):
                return item, (plan.get("quota") or {}).get("limit")
        return None

    def _gateway(self, kind: str) -> httpx.Response:
        message, status = MESSAGES[kind]
        response = self._responses.get(kind)
        self.calls.append(Call("-", kind, None, status))
        if response is None:
            return httpx.Response(status, json={"message": message})
        body = response["ResponseTemplates"]["application/json"]
        body = body.replace("$context.error.messageString", json.dumps(message)).replace(
            "$context.requestId", str(uuid.uuid4())
        )
        return httpx.Response(int(response["StatusCode"]), headers={"content-type": "application/json"}, content=body)

    def _with_auth(
        self, handler: Callable[[dict[str, Any], Any], dict[str, Any]]
    ) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
        def call(event: dict[str, Any], context: Any) -> dict[str, Any]:
            if self._auth is not None:
                event["requestContext"]["authorizer"] = self._auth["authorizer"]
                event["requestContext"]["identity"].update(apiKeyId=self._auth["apiKeyId"], apiKey=self._auth["apiKey"])
            return handler(event, context)

        return call
