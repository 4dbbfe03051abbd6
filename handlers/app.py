"""The application: every protocol's routes over one model repository, as a Starlette app.

``create_app(repository, settings)`` is the one constructor used by Lambda (Mangum), the SageMaker
container and ``maaskit serve``. Routes come from :mod:`handlers.protocols` route tables and are
served as plain Starlette routes; FastAPI builds ``/openapi.json`` and ``/docs`` on first request
only (see :mod:`handlers.routing` for why).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from importlib import import_module
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from handlers.capture import capture_writer
from handlers.engine import ModelRepository
from handlers.errors import InternalServerError, MethodNotAllowedError, RouteNotFoundError, ServingError
from handlers.http import json_response
from handlers.limits import RequestLimits, RequestLimitsMiddleware
from handlers.metrics import Metrics
from handlers.observability import ObservabilityMiddleware, cap
from handlers.routing import RouteErrors, RouteSpec, RouteTable
from handlers.settings import Settings

__all__ = ["create_app"]

_TITLE = "model server"
_DESCRIPTION = "Predictions from verified ONNX bundles in several wire protocols."
# Tried first: the routes that carry traffic (Starlette matches routes in order).
_HOT = ("/invocations", "/ping")


def _route_error(status: int, message: str) -> ServingError:
    if status == 404:
        return RouteNotFoundError(message + "; see /docs for the routes this server answers")
    if status == 405:
        return MethodNotAllowedError(message)
    if status == 500:
        return InternalServerError(message)
    error = ServingError(message)
    error.status = status
    return error


def _http_error_handler(errors: RouteErrors) -> Callable[[Request, Exception], Awaitable[Response]]:
    """Unknown routes and methods answered by the table that claims the longest prefix of the path."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = f"{cap(request.method, 16)} {cap(request.url.path, 256)}: {exc.detail}"  # never echo megabytes
        table = errors.by_path(request)
        return table.error(request, _route_error(exc.status_code, message), dict(exc.headers or {}))

    return http_error


def _renderer(errors: RouteErrors) -> Callable[[Request, int, str], Response]:
    """Answers raised outside the endpoints (limits, crashes) in the shape of the route's protocol."""

    def render(request: Request, status: int, message: str) -> Response:
        return errors.render(request, _route_error(status, message))

    return render


def _ordered(specs: list[RouteSpec]) -> list[RouteSpec]:
    """Hot routes first, then every POST, then GETs (paths never overlap across methods' meaning)."""
    return sorted(specs, key=lambda spec: (spec.path not in _HOT, spec.method != "POST"))


def _docs_routes(title: str, specs: list[RouteSpec]) -> list[Route]:
    cache: dict[str, Any] = {}

    async def openapi(request: Request) -> Response:
        if "document" not in cache:
            from bundle.version import maaskit_version
            from handlers.openapi import build_openapi

            cache["document"] = build_openapi(title, maaskit_version(), _DESCRIPTION, specs)
        return json_response(cache["document"])

    async def docs(request: Request) -> Response:
        from handlers.openapi import swagger_page

        return HTMLResponse(swagger_page(title, "/openapi.json"))

    return [Route("/openapi.json", openapi, methods=["GET"]), Route("/docs", docs, methods=["GET"])]


def create_app(
    repository: ModelRepository,
    settings: Settings | None = None,
    *,
    on_shutdown: Sequence[Callable[[], Awaitable[None]]] = (),
    protocols: Sequence[str] | None = None,
) -> Starlette:
    """An ASGI app serving ``repository`` in every protocol.

    maaskit JSON, Open Inference Protocol v2, TensorFlow Serving REST, TorchServe and SageMaker, or
    the ``protocols`` modules given (see :mod:`handlers.protocols`). ``on_shutdown`` coroutines run
    when the server stops (e.g. closing batchers' threads).
    """
    from handlers.protocols import PROTOCOL_MODULES

    settings = settings or Settings.load()
    title = f"{settings.service_name} {_TITLE}"
    tables: list[RouteTable] = [
        import_module(module).router(repository, settings) for module in protocols or PROTOCOL_MODULES
    ]
    specs = [spec for table in tables for spec in table.specs]
    metrics = Metrics() if settings.metrics == "prometheus" else None
    if metrics is not None:

        async def prometheus_metrics(request: Request) -> Response:
            """Request counts, errors and latency per model version in the Prometheus text format."""
            return PlainTextResponse(metrics.prometheus(), media_type="text/plain; version=0.0.4")

        specs.append(RouteSpec("/metrics", "GET", prometheus_metrics, ("operations",)))
    specs = _ordered(specs)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            for hook in on_shutdown:
                await hook()

    errors = RouteErrors(tables)
    observability = Middleware(
        ObservabilityMiddleware,
        render=_renderer(errors),
        metrics=metrics,
        metrics_mode=settings.metrics,
        access_log=settings.access_log,
        log_payload=settings.log_payload,
        namespace=settings.service_name,
        capture=capture_writer(settings),
    )
    middleware = [observability]
    limits = RequestLimits.from_settings(settings)
    if limits.active:  # inside observability, so its 408/413/504 answers are logged and counted
        middleware.append(
            Middleware(RequestLimitsMiddleware, limits=limits, render=_renderer(errors), advise=errors.advice)
        )
    if settings.page:
        from handlers.page import PageMiddleware

        middleware.append(
            Middleware(PageMiddleware, repository=repository, metrics=metrics, service=settings.service_name)
        )
    app = Starlette(
        routes=[spec.route() for spec in specs] + _docs_routes(title, specs),
        middleware=middleware,
        exception_handlers={HTTPException: _http_error_handler(errors)},
        lifespan=lifespan,
    )
    app.state.repository = repository
    app.state.settings = settings
    app.state.metrics = metrics
    return app
