"""Reach the app's own routes through SageMaker's one route, ``POST /invocations``.

A SageMaker endpoint forwards only ``POST /invocations`` to the container, but callers of the
deployed API expect the maaskit routes for every model (``GET /models/<m>``, ``POST
/models/<m>/predict``, answered in the same shape as on Lambda). The API's SageMaker integration
therefore names the route in the ``X-Amzn-SageMaker-Custom-Attributes`` header, which SageMaker
passes to the container verbatim::

    X-Amzn-SageMaker-Custom-Attributes: maaskit-route=GET /models/iris

(``bundle.names.route_attribute``) and this middleware dispatches the request to that route.
Requests without the attribute are plain ``/invocations`` calls. Only the maaskit JSON routes
(:data:`TUNNELED_PREFIX`) can be named, with GET or POST; anything else is a 400 that says so.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from bundle.names import ROUTE_ATTRIBUTE, SAGEMAKER_ATTRIBUTES_HEADER

__all__ = ["TUNNELED_PREFIX", "InvocationsTunnel"]

_HEADER = SAGEMAKER_ATTRIBUTES_HEADER.lower().encode()
#: The routes that may be reached through the tunnel: the maaskit JSON protocol.
TUNNELED_PREFIX = "/models"
_ROUTE = re.compile(r"(?P<method>GET|POST) (?P<path>/models(?:/[A-Za-z0-9._-]+)*)")
_MAX_ROUTE = 256


def _named_route(headers: list[tuple[bytes, bytes]]) -> str | None:
    raw = next((value for key, value in headers if key == _HEADER), None)
    if raw is None:
        return None
    for item in raw.decode("latin-1").replace(";", ",").split(","):
        key, _, value = item.partition("=")
        if key.strip().lower() == ROUTE_ATTRIBUTE:
            return value.strip()
    return None


async def _refuse(send: Send, message: str) -> None:
    body = orjson.dumps({"error": message})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 400, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class InvocationsTunnel:
    """ASGI middleware: ``POST /invocations`` carrying ``maaskit-route=METHOD PATH`` runs ``METHOD PATH``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/invocations":
            await self.app(scope, receive, send)
            return
        route = _named_route(scope["headers"])
        if route is None:
            await self.app(scope, receive, send)
            return
        match = _ROUTE.fullmatch(route[:_MAX_ROUTE])
        if match is None or ".." in route:
            await _refuse(
                send,
                f"{ROUTE_ATTRIBUTE} must be 'GET|POST {TUNNELED_PREFIX}/...' (a maaskit JSON route), "
                f"got {route[:80]!r}",
            )
            return
        tunneled: dict[str, Any] = dict(scope)
        tunneled["method"] = match["method"]
        tunneled["path"] = match["path"]
        tunneled["raw_path"] = match["path"].encode()
        tunneled["query_string"] = b""
        await self.app(tunneled, receive, send)
