"""A light route table: a protocol declares its routes, prefixes and error shape; served as plain Starlette routes.

FastAPI is only imported to build the OpenAPI document and /docs (see :mod:`handlers.openapi`):
importing it costs about a third of a Lambda cold start, and its per-request dependency machinery is
not needed by endpoints that take the raw request and answer a ready Response.

Every endpoint registered on a :class:`RouteTable` is wrapped once: the access log learns the
protocol, and a :class:`~handlers.errors.ServingError` raised anywhere inside becomes the table's
error shape with the error's status. Endpoints therefore raise, they never catch. Errors raised
outside an endpoint (request limits, a crash, an unknown route) are answered by :class:`RouteErrors`
in the shape of the table whose endpoint the request reached, else of the table whose ``prefixes``
claim the path.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from handlers.errors import ServingError
from handlers.http import describe, error_response

__all__ = [
    "ANSWER_ADVICE",
    "BODY_SCHEMA",
    "ERROR_SCHEMA",
    "Endpoint",
    "ErrorShape",
    "RESPONSE_SCHEMA",
    "RouteErrors",
    "RouteSpec",
    "RouteTable",
]

Endpoint = Callable[[Request], Awaitable[Response]]
ErrorShape = Callable[[ServingError], Any]
"""A protocol's error body for an error (the status is the error's own)."""

#: Path parameters every protocol uses, documented once (endpoints read ``request.path_params``:
#: declaring them as typed arguments would make FastAPI build a pydantic field per parameter).
PATH_PARAMETERS = {"name": "model name", "version": "model version (semver)"}
_PLACEHOLDER = re.compile(r"{(\w+)}")
#: OpenAPI extension keys naming the pydantic schemas (handlers/schemas.py) of an operation.
BODY_SCHEMA = "x-maaskit-body"
RESPONSE_SCHEMA = "x-maaskit-response"
ERROR_SCHEMA = "x-maaskit-error"

#: What a client of each protocol can do about an answer over the platform's limit (a 413).
ANSWER_ADVICE: dict[str, str] = {
    "oip": 'ask for binary outputs ("parameters": {"binary_data_output": true}) or send fewer rows per request',
    "sagemaker": "ask for a binary answer (Accept: application/x-npy) or send fewer rows per request",
    "torchserve": "ask for a binary answer (Accept: application/x-npy) or send fewer rows per request",
    "openai": 'send fewer inputs per request, or ask for "encoding_format": "base64" (or fewer "dimensions")',
    "tfserving": "send fewer instances per request (OIP's /v2/models/{name}/infer answers in binary on request)",
    "maaskit": "send fewer rows per request (OIP's /v2/models/{name}/infer answers in binary on request)",
}
_DEFAULT_ADVICE = "send fewer rows per request"


@dataclass(frozen=True)
class RouteSpec:
    """One route: what Starlette serves and what the OpenAPI document says about it."""

    path: str
    method: str
    endpoint: Endpoint
    tags: tuple[str, ...] = ()
    openapi_extra: dict[str, Any] = field(default_factory=dict)

    def route(self) -> Route:
        """The Starlette route serving this spec (GET routes answer HEAD too)."""
        return Route(self.path, self.endpoint, methods=[self.method], name=self.endpoint.__name__)


def _documented(path: str, schemas: dict[str, str | None]) -> dict[str, Any]:
    extra: dict[str, Any] = {key: name for key, name in schemas.items() if name}
    names = _PLACEHOLDER.findall(path)
    if names:
        extra["parameters"] = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
                "description": PATH_PARAMETERS.get(name, name),
            }
            for name in names
        ]
    return extra


class RouteTable:
    """One protocol's routes, collected with ``@table.get(path)`` / ``@table.post(path, ...)``.

    ``protocol`` names it in the access log and metrics; ``error_shape`` renders every ServingError
    its endpoints raise; ``prefixes`` are the paths it owns (matched by whole segments, the longest
    claim across tables wins: ``"/"`` is the fallback) for unknown-route answers; ``error_schema``
    names the error body's schema in the OpenAPI document; ``answer_advice`` tells a client what to
    do about an answer too large for the platform (default: :data:`ANSWER_ADVICE` of the protocol).
    """

    def __init__(
        self,
        protocol: str,
        error_shape: ErrorShape,
        *,
        prefixes: tuple[str, ...],
        prefix: str = "",
        tags: list[str] | None = None,
        error_schema: str = "MaaskitError",
        answer_advice: str | None = None,
    ) -> None:
        self.protocol = protocol
        self.error_shape = error_shape
        self.prefixes = prefixes
        self.prefix = prefix
        self.tags = tuple(tags or ())
        self.error_schema = error_schema
        self.answer_advice = answer_advice or ANSWER_ADVICE.get(protocol, _DEFAULT_ADVICE)
        self.specs: list[RouteSpec] = []

    def error(self, request: Request, error: ServingError, headers: dict[str, str] | None = None) -> Response:
        """``error`` as this protocol's answer (its message goes to the access log)."""
        return error_response(request, error, self.error_shape(error), headers)

    def claim(self, path: str) -> int:
        """How long a prefix of this table covers ``path`` (-1: none)."""
        best = -1
        for owned in self.prefixes:
            stem = owned.rstrip("/")
            if path == stem or path.startswith(stem + "/"):
                best = max(best, len(stem))
        return best

    def _wrap(self, endpoint: Endpoint) -> Endpoint:
        protocol = self.protocol

        @wraps(endpoint)
        async def served(request: Request) -> Response:
            describe(request, protocol)
            try:
                return await endpoint(request)
            except ServingError as error:
                return self.error(request, error)

        return served

    def _add(
        self, method: str, paths: tuple[str, ...], body: str | None, response: str | None
    ) -> Callable[[Endpoint], Endpoint]:
        schemas = {BODY_SCHEMA: body, RESPONSE_SCHEMA: response, ERROR_SCHEMA: self.error_schema}

        def decorator(endpoint: Endpoint) -> Endpoint:
            served = self._wrap(endpoint)
            for path in paths:
                full = self.prefix + path
                self.specs.append(RouteSpec(full, method, served, self.tags, _documented(full, schemas)))
            return served

        return decorator

    def get(self, *paths: str, response: str | None = None) -> Callable[[Endpoint], Endpoint]:
        """Register a GET endpoint on one or more paths (e.g. with and without ``/versions/{version}``).

        ``response`` names its answer's schema in :mod:`handlers.schemas` for the OpenAPI document.
        """
        return self._add("GET", paths, None, response)

    def post(self, *paths: str, body: str | None = None, response: str | None = None) -> Callable[[Endpoint], Endpoint]:
        """Register a POST endpoint on one or more paths; ``body`` and ``response`` name schemas."""
        return self._add("POST", paths, body, response)


class RouteErrors:
    """Errors raised outside an endpoint, answered in the shape of the route's protocol.

    The table is the one whose endpoint the request reached (Starlette puts it in the scope), else the
    one whose prefixes claim the longest part of the path (unknown routes, errors before routing).
    """

    def __init__(self, tables: list[RouteTable]) -> None:
        self.tables = tables
        self._owners = {id(spec.endpoint): table for table in tables for spec in table.specs}

    def table(self, request: Request) -> RouteTable:
        """The table whose shape ``request``'s errors take."""
        owner = self._owners.get(id(request.scope.get("endpoint")))
        return owner if owner is not None else self.by_path(request)

    def by_path(self, request: Request) -> RouteTable:
        """The table whose prefixes claim the longest part of the path (unknown routes and methods)."""
        path = request.url.path
        return max(self.tables, key=lambda candidate: candidate.claim(path))

    def render(self, request: Request, error: ServingError, headers: dict[str, str] | None = None) -> Response:
        """``error`` as the route's protocol answers it."""
        return self.table(request).error(request, error, headers)

    def advice(self, request: Request) -> str:
        """What the route's client can do about an answer over the platform's limit."""
        return self.table(request).answer_advice
