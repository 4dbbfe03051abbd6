"""The synthesized REST API, run: an httpx transport that routes requests the way API Gateway would.

Routes come from the template (``AWS::ApiGateway::Resource`` paths and ``AWS::ApiGateway::Method``
integrations), matched most-specific first with ``{proxy+}`` greedy, ``ANY`` for every verb, and
API Gateway's own 403 ``Missing Authentication Token`` for what the API does not define:

- ``AWS_PROXY`` (a Lambda ``live`` alias): the request becomes a REST (v1) proxy event for the real
  Lambda handler (Mangum over the maaskit app), binary bodies base64-encoded as API Gateway does.
- ``AWS`` to ``runtime.sagemaker`` (InvokeEndpoint): the integration's request parameters and
  templates are applied (static ``'...'`` values, ``method.request.header.*`` mappings), the request
  goes to the container app as ``POST /invocations``, and a container 4xx/5xx comes back as
  InvokeEndpoint's ModelError mapped by the integration responses.
- ``MOCK``: the integration response template is the answer.

With ``iam_principals`` (access key id -> principal ARN) the ``AWS_IAM`` methods are enforced as API Gateway
does before any integration runs: no SigV4 ``Authorization`` header is a 403 ``Missing Authentication Token``,
an access key it does not know a 403 ``The security token included in the request is invalid.`` (the
signature itself is not checked), and a known one fills the Lambda event's ``requestContext.identity``.
Without it (the default) every method is open, as the protocol tests want.
"""

from __future__ import annotations

import asyncio
import base64
import fnmatch
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from infra.constructs.api import BINARY_MEDIA_TYPES
from tests.handlers.events import LambdaContext, load_event

MISSING_ROUTE = {"message": "Missing Authentication Token"}
INVALID_TOKEN = {"message": "The security token included in the request is invalid."}
_SIGV4 = re.compile(r"^AWS4-HMAC-SHA256 Credential=([A-Z0-9]+)/")


@dataclass(frozen=True)
class Route:
    """One method on one resource of the API."""

    method: str
    parts: tuple[str, ...]
    integration: dict[str, Any]
    authorization: str = "NONE"

    @property
    def path(self) -> str:
        return "/" + "/".join(self.parts)

    def score(self, method: str, segments: list[str]) -> int | None:
        """How specifically this route matches (literal segments), or None when it does not."""
        if self.method not in (method, "ANY"):
            return None
        literal = 0
        for index, part in enumerate(self.parts):
            if part.endswith("+}"):
                return literal if len(segments) > index else None
            if index >= len(segments):
                return None
            if part.startswith("{"):
                continue
            if part != segments[index]:
                return None
            literal += 1
        return literal * 2 + (self.method == method) if len(segments) == len(self.parts) else None


def routes_of(template: dict[str, Any]) -> list[Route]:
    """Every method of the template's REST API, with its full resource path."""
    resources = {
        key: value for key, value in template["Resources"].items() if value["Type"] == "AWS::ApiGateway::Resource"
    }

    def parts(reference: Any) -> tuple[str, ...]:
        if isinstance(reference, dict) and "Ref" in reference:
            resource = resources[reference["Ref"]]["Properties"]
            return (*parts(resource["ParentId"]), resource["PathPart"])
        return ()  # Fn::GetAtt [Api, RootResourceId]

    return [
        Route(
            value["Properties"]["HttpMethod"],
            parts(value["Properties"]["ResourceId"]),
            value["Properties"]["Integration"],
            value["Properties"].get("AuthorizationType", "NONE"),
        )
        for value in template["Resources"].values()
        if value["Type"] == "AWS::ApiGateway::Method"
    ]


@dataclass
class Call:
    method: str
    path: str
    route: str | None
    status: int


@dataclass
class EmulatedApi(httpx.BaseTransport):
    """``lambdas``: model name -> Lambda handler; ``endpoints``: SageMaker endpoint name -> ASGI app;
    ``stage``: the stage name that leads every URL path (API Gateway strips it)."""

    stage: str
    routes: list[Route]
    lambdas: dict[str, Callable[[dict[str, Any], Any], dict[str, Any]]]
    endpoints: dict[str, Any]
    calls: list[Call] = field(default_factory=list)
    iam_principals: dict[str, str] | None = None
    _lambda_loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _principal: tuple[str, str] | None = None

    def find(self, method: str, path: str) -> Route | None:
        segments = [part for part in path.split("/") if part]
        scored = [(route.score(method, segments), route) for route in self.routes]
        matching = [(score, route) for score, route in scored if score is not None]
        return max(matching, key=lambda item: item[0])[1] if matching else None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix(f"/{self.stage}")
        route = self.find(request.method, path)
        refusal = self._iam(request, route)
        if route is None:
            response = httpx.Response(403, json=MISSING_ROUTE)
        elif refusal is not None:
            response = refusal
        elif route.integration["Type"] == "AWS_PROXY":
            response = self._lambda(route, request, path)
        elif route.integration["Type"] == "AWS":
            response = self._sagemaker(route, request)
        else:
            response = self._mock(route)
        self.calls.append(Call(request.method, path, route.path if route else None, response.status_code))
        return response

    def _iam(self, request: httpx.Request, route: Route | None) -> httpx.Response | None:
        """API Gateway's SigV4 check of an ``AWS_IAM`` method (when ``iam_principals`` is set)."""
        self._principal = None
        if self.iam_principals is None or route is None or route.authorization != "AWS_IAM":
            return None
        signed = _SIGV4.match(request.headers.get("authorization", ""))
        if signed is None:
            return httpx.Response(403, json=MISSING_ROUTE)
        if signed[1] not in self.iam_principals:
            return httpx.Response(403, json=INVALID_TOKEN)
        self._principal = (signed[1], self.iam_principals[signed[1]])
        return None

    def _lambda(self, route: Route, request: httpx.Request, path: str) -> httpx.Response:
        segments = [part for part in path.split("/") if part]
        model = segments[segments.index("models") + 1].split(":")[0]
        body = request.read()
        content_type = request.headers.get("content-type", "").split(";")[0]
        binary = any(fnmatch.fnmatchcase(content_type, media) for media in BINARY_MEDIA_TYPES)  # "image/*" too
        event = load_event("apigw_v1_predict")
        headers = dict(request.headers)
        event.update(
            resource=route.path,
            path=path,
            httpMethod=request.method,
            headers=headers,
            multiValueHeaders={key: [value] for key, value in headers.items()},
            queryStringParameters=None,
            multiValueQueryStringParameters=None,
            body=(base64.b64encode(body).decode() if binary else body.decode()) if body else None,
            isBase64Encoded=bool(body) and binary,
        )
        event["requestContext"].update(resourcePath=route.path, httpMethod=request.method, path=request.url.path)
        event["requestContext"]["stage"] = self.stage
        if self._principal is not None:
            access_key, arn = self._principal
            caller = arn.rsplit("/", 1)[-1]
            event["requestContext"]["identity"].update(
                accessKey=access_key, userArn=arn, caller=caller, user=caller, accountId=arn.split(":")[4]
            )
        asyncio.set_event_loop(self._lambda_loop)  # Mangum runs each event on the thread's loop
        answer = self.lambdas[model](event, LambdaContext())
        raw = answer.get("body") or ""
        content = base64.b64decode(raw) if answer.get("isBase64Encoded") else raw.encode()
        return httpx.Response(answer["statusCode"], headers=answer.get("headers") or {}, content=content)

    def _sagemaker(self, route: Route, request: httpx.Request) -> httpx.Response:
        integration = route.integration
        endpoint = re.search(r"endpoints/([^/\"]+)/invocations", json.dumps(integration["Uri"]))
        assert endpoint is not None, integration["Uri"]
        headers: dict[str, str] = {}
        for key, source in integration.get("RequestParameters", {}).items():
            name = key.removeprefix("integration.request.header.")
            if source.startswith("'"):
                headers[name] = source.strip("'")
            elif request.headers.get(source.removeprefix("method.request.header.")) is not None:
                headers[name] = request.headers[source.removeprefix("method.request.header.")]
        body = request.read()
        templates = integration.get("RequestTemplates") or {}
        if templates:  # WHEN_NO_TEMPLATES: a template replaces the body
            body = templates.get(request.headers.get("content-type", "application/json"), body).encode()
        loop = asyncio.new_event_loop()
        try:
            status, answer_headers, content = loop.run_until_complete(
                self._invoke(self.endpoints[endpoint[1]], headers, body)
            )
        finally:
            loop.close()
        if status >= 400:  # InvokeEndpoint wraps a container error in a ModelError (424)
            message = content.decode("utf-8", "replace")
            content = json.dumps(
                {
                    "ErrorCode": "CLIENT_ERROR_FROM_MODEL" if status < 500 else "SERVER_ERROR_FROM_MODEL",
                    "OriginalStatusCode": status,
                    "OriginalMessage": message,
                    "Message": f'Received client error ({status}) from primary with message "{message}".',
                }
            ).encode()
            status, answer_headers = 424, {"content-type": "application/json"}
        for response in integration.get("IntegrationResponses", []):
            pattern = response.get("SelectionPattern")
            if pattern and re.fullmatch(pattern, str(status)):
                status = int(response["StatusCode"])
                break
        else:
            status = 200 if status < 300 else status
        return httpx.Response(status, headers={"content-type": answer_headers.get("content-type", "")}, content=content)

    @staticmethod
    async def _invoke(app: Any, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://container:8080") as client:
            response = await client.post("/invocations", content=body, headers=headers)
        return response.status_code, dict(response.headers), response.content

    @staticmethod
    def _mock(route: Route) -> httpx.Response:
        response = route.integration["IntegrationResponses"][0]
        body = response["ResponseTemplates"]["application/json"]
        return httpx.Response(int(response["StatusCode"]), headers={"content-type": "application/json"}, content=body)
