"""A light route table: protocol modules declare routes once; they are served as plain Starlette routes.

FastAPI is only imported to build the OpenAPI document and /docs (see :mod:`handlers.openapi`):
importing it costs about a third of a Lambda cold start, and its per-request dependency machinery is
not needed by endpoints that take the raw request and answer a ready Response.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["Endpoint", "RouteSpec", "RouteTable"]

Endpoint = Callable[[Request], Awaitable[Response]]


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


class RouteTable:
    """Collects routes with ``@table.get(path)`` / ``@table.post(path)`` (FastAPI-style decorators)."""

    def __init__(self, prefix: str = "", tags: list[str] | None = None) -> None:
        self.prefix = prefix
        self.tags = tuple(tags or ())
        self.specs: list[RouteSpec] = []

    def _add(self, method: str, path: str, openapi_extra: dict[str, Any] | None) -> Callable[[Endpoint], Endpoint]:
        def decorator(endpoint: Endpoint) -> Endpoint:
            self.specs.append(RouteSpec(self.prefix + path, method, endpoint, self.tags, dict(openapi_extra or {})))
            return endpoint

        return decorator

    def get(self, path: str, openapi_extra: dict[str, Any] | None = None) -> Callable[[Endpoint], Endpoint]:
        """Register a GET endpoint."""
        return self._add("GET", path, openapi_extra)

    def post(self, path: str, openapi_extra: dict[str, Any] | None = None) -> Callable[[Endpoint], Endpoint]:
        """Register a POST endpoint."""
        return self._add("POST", path, openapi_extra)
