"""The API Gateway REST (payload 1.0) events the pre-traffic hook sends to the new version.

One shape for every check: the deployed API routes a model's requests through a ``{proxy+}`` resource,
so the event names that resource, the path the client asked for and the ``proxy`` remainder, exactly
as API Gateway hands them to the function.
"""

from __future__ import annotations

from typing import Any

__all__ = ["proxy_event"]

#: Who the requests say they come from (the access log and the request id name the hook).
HOOK_AGENT = "maaskit-pre-traffic-hook"


def proxy_event(
    prefix: str, proxy: str, headers: dict[str, str], body: str, *, base64_body: bool = False
) -> dict[str, Any]:
    """``POST <prefix>/<proxy>`` through the resource ``<prefix>/{proxy+}``; ``body`` as API Gateway carries it."""
    path, resource = f"{prefix}/{proxy}", f"{prefix}/{{proxy+}}"
    return {
        "resource": resource,
        "path": path,
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {key: [value] for key, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": proxy},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": "POST",
            "path": path,
            "stage": "hook",
            "requestId": HOOK_AGENT,
            "identity": {"sourceIp": "127.0.0.1", "userAgent": HOOK_AGENT},
        },
        "body": body,
        "isBase64Encoded": base64_body,
    }
