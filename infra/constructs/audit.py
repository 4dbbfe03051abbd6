"""The API's access log: who called which route of which model, from where, with what outcome.

One JSON object per request, with no payload and never the key itself (``$context.identity.apiKey``
is deliberately absent: only its id, ``$context.identity.apiKeyId``). The model is in the resource
path (``/models/<m>/...``, ``/v2/models/<m>/...``); the version that answered and the units
(tokens, audio seconds) are in the function's request log, joined on ``request_id``
(API Gateway's ``$context.requestId`` is the Lambda event's ``requestContext.requestId``).

In ``ModelApi``: ``access_log_format=access_log_format()`` in the stage's deploy options.
"""

from __future__ import annotations

import json

from aws_cdk import aws_apigateway as apigw

__all__ = ["ACCESS_LOG_FIELDS", "FORBIDDEN_VARIABLES", "access_log_format"]

#: Field -> API Gateway ``$context`` variable. Strings are quoted in the JSON line, numbers are not.
ACCESS_LOG_FIELDS: dict[str, str] = {
    "request_id": "$context.requestId",
    "extended_request_id": "$context.extendedRequestId",
    "time": "$context.requestTime",
    "time_epoch_ms": "$context.requestTimeEpoch",
    "source_ip": "$context.identity.sourceIp",
    "user_agent": "$context.identity.userAgent",
    # caller identity: IAM (SigV4) principal, or the consumer key's id and the consumer the authorizer named
    "caller": "$context.identity.caller",
    "user_arn": "$context.identity.userArn",
    "account_id": "$context.identity.accountId",
    "api_key_id": "$context.identity.apiKeyId",
    "consumer": "$context.authorizer.consumer",
    "plan": "$context.authorizer.plan",
    "principal_id": "$context.authorizer.principalId",
    # what was asked and how it went
    "method": "$context.httpMethod",
    "route": "$context.resourcePath",
    "path": "$context.path",
    "status": "$context.status",
    "error_type": "$context.error.responseType",
    "latency_ms": "$context.responseLatency",
    "integration_latency_ms": "$context.integration.latency",
    "integration_status": "$context.integration.status",
    "response_bytes": "$context.responseLength",
    "authorizer_status": "$context.authorizer.status",
    "stage": "$context.stage",
}
_NUMBERS = {"time_epoch_ms", "status", "latency_ms", "response_bytes"}
#: Variables that would put a secret or a payload in the log: never in the format.
FORBIDDEN_VARIABLES = (
    '$context.identity.apiKey"',
    "$input.body",
    "$context.requestOverride",
    "$context.authorizer.claims",
)


def access_log_format() -> apigw.AccessLogFormat:
    """The stage's access-log format (JSON, one line per request)."""
    return apigw.AccessLogFormat.custom(access_log_line())


def access_log_line() -> str:
    """The format string itself: ``{"request_id":"$context.requestId",...}``."""
    parts = []
    for name, variable in ACCESS_LOG_FIELDS.items():
        value = variable if name in _NUMBERS else json.dumps(variable)
        parts.append(f"{json.dumps(name)}:{value}")
    return "{" + ",".join(parts) + "}"
