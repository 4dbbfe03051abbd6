"""Schemathesis over the served OpenAPI document, in-process: the ASGI app directly, or through the Lambda handler.

Every operation of ``/openapi.json`` gets ``max_examples`` generated requests (schemathesis + hypothesis,
no shrinking, no example database). Half of them name a model that exists (``{name}`` and ``{version}``
drawn from the served models) so that the bodies reach the validation layer rather than a 404.
:func:`lambda_caller` turns each generated request into an API Gateway HTTP API (v2) event and answers
it with the real Mangum handler, so the same fuzzing covers the Lambda entry.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import Case as _Case
from schemathesis.core.result import Ok

#: a generated request for any operation
Case = _Case[Any]

__all__ = ["FuzzResult", "asgi_caller", "fuzz_app", "lambda_caller", "lambda_event"]

#: calls one generated request and returns its HTTP status
Caller = Callable[[Case], int]


@dataclass
class FuzzResult:
    """What one fuzzing run sent and got back."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    """One line per 5xx answer or exception (the first 20), with a curl command to replay it."""
    operations: int = 0

    @property
    def server_errors(self) -> int:
        """Answers with a 5xx status, plus calls that raised."""
        return sum(n for status, n in self.statuses.items() if status >= 500 or status < 0)

    def record(self, case: Case, status: int, detail: str = "") -> None:
        """Count one answer; keep a replayable line for a 5xx or a crash."""
        self.requests += 1
        self.statuses[status] += 1
        if (status >= 500 or status < 0) and len(self.failures) < 20:
            self.failures.append(f"{status} {case.method} {case.formatted_path} {detail}\n  {case.as_curl_command()}")


def asgi_caller(case: Case) -> int:
    """Send ``case`` to the ASGI app the schema was loaded from."""
    return int(case.call().status_code)


def _body_bytes(kwargs: Mapping[str, Any]) -> bytes:
    if "json" in kwargs:
        return json.dumps(kwargs["json"]).encode()
    data = kwargs.get("data", kwargs.get("content"))
    if data is None:
        return b""
    return data if isinstance(data, bytes) else str(data).encode()


def lambda_event(case: Case) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event carrying the request ``case`` describes."""
    kwargs = case.as_transport_kwargs()
    headers = {str(k).lower(): str(v) for k, v in (kwargs.get("headers") or {}).items()}
    body = _body_bytes(kwargs)
    if body and "content-type" not in headers:
        headers["content-type"] = "application/json"
    params = {str(k): v for k, v in (kwargs.get("params") or {}).items()}
    query = urlencode(params, doseq=True)
    try:
        text, encoded = body.decode(), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    path = case.formatted_path
    method = case.method.upper()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "queryStringParameters": {k: str(v) for k, v in params.items()} or None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "fuzz",
            "domainName": "fuzz.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "fuzz",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": ""},
            "requestId": "fuzz",
            "routeKey": "$default",
            "stage": "$default",
            "time": "28/Nov/2026:13:20:00 +0000",
            "timeEpoch": 1795872000000,
        },
        "body": text if body else None,
        "isBase64Encoded": encoded,
    }


class _Context:
    """The Lambda context attributes the runtime reads."""

    function_name = "maaskit-fuzz"
    function_version = "1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:maaskit-fuzz:live"
    memory_limit_in_mb = 1024
    aws_request_id = "fuzz"
    log_group_name = "/aws/lambda/maaskit-fuzz"
    log_stream_name = "fuzz"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def lambda_caller(handler: Callable[[dict[str, Any], Any], Mapping[str, Any]]) -> Caller:
    """A caller that answers each generated request with ``handler`` (``handlers.lambda_entry.handler``'s kind)."""

    def call(case: Case) -> int:
        answer = handler(lambda_event(case), _Context())
        return int(answer["statusCode"])

    return call


def _with_models(case: Case, name: str | None, version: str | None) -> Case:
    if name is not None and "name" in case.path_parameters:
        case.path_parameters["name"] = name
        if version is not None and "version" in case.path_parameters:
            case.path_parameters["version"] = version
    return case


def fuzz_app(
    app: Any,
    max_examples: int,
    models: Mapping[str, Sequence[str]],
    caller: Caller = asgi_caller,
) -> FuzzResult:
    """Run ``max_examples`` generated requests per operation of ``app``'s ``/openapi.json`` through ``caller``.

    ``models`` maps each served model name to its versions. Never raises for a bad answer: 5xx and
    exceptions are counted in the result (status -1 for an exception).
    """
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    result = FuzzResult()
    pairs = [(name, version) for name, versions in models.items() for version in versions]
    known = st.sampled_from(pairs) if pairs else st.just((None, None))
    chosen = st.one_of(st.just((None, None)), known)
    for operation_result in schema.get_all_operations():
        if not isinstance(operation_result, Ok):
            raise RuntimeError(f"the served OpenAPI document has an invalid operation: {operation_result.err()}")
        operation = operation_result.ok()
        result.operations += 1

        @settings(
            max_examples=max_examples,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(), model=chosen)
        def run(case: Case, model: tuple[str | None, str | None]) -> None:
            case = _with_models(case, *model)
            try:
                status = caller(case)
            except Exception as error:  # a crash is the finding; keep going
                result.record(case, -1, f"{type(error).__name__}: {error}")
            else:
                result.record(case, status)

        run()
    return result
