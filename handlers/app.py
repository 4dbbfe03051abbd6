"""The FastAPI application: every protocol's router over one model repository.

``create_app(repository, settings)`` is the one constructor used by Lambda (Mangum), the SageMaker
container and ``maaskit serve``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from importlib import import_module
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from handlers.engine import ModelRepository
from handlers.http import json_response
from handlers.metrics import Metrics
from handlers.observability import ObservabilityMiddleware
from handlers.settings import Settings

__all__ = ["create_app"]

_VERSION = "0.1.0"


def _route_error(request: Request, status: int, message: str) -> Response:
    """Unknown route or method, in the shape of the protocol the path belongs to."""
    path = request.url.path
    if path.startswith("/predictions") or path == "/ping":
        kind = "ResourceNotFoundException" if status == 404 else "MethodNotAllowedException"
        return json_response({"code": status, "type": kind, "message": message}, status)
    if path.startswith(("/v1/", "/v2", "/invocations")):
        return json_response({"error": message}, status)
    return json_response({"error": {"status": status, "type": "HTTPException", "message": message}}, status)


def _add_error_handlers(app: FastAPI) -> None:
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = f"{request.method} {request.url.path}: {exc.detail}"
        if exc.status_code == 404:
            message += "; see /docs for the routes this server answers"
        return _route_error(request, exc.status_code, message)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        return _route_error(request, 400, f"invalid request: {details}")

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)


def _mount_plain(app: FastAPI, api: APIRouter, documented: list[BaseRoute]) -> None:
    """Serve ``api``'s routes as plain Starlette routes and keep the FastAPI ones for the OpenAPI document.

    The endpoints take only the request and parse it themselves, so FastAPI's per-request dependency
    solving (and an included router's nested matching) would cost latency for nothing.
    """
    for route in api.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"protocol routers hold APIRoutes only, got {route!r}")
        app.router.routes.append(
            Route(route.path, route.endpoint, methods=sorted(route.methods or ()), name=route.name)
        )
        documented.append(route)


def create_app(
    repository: ModelRepository,
    settings: Settings | None = None,
    *,
    on_shutdown: Sequence[Callable[[], Awaitable[None]]] = (),
) -> FastAPI:
    """A FastAPI app serving ``repository`` in every protocol.

    maaskit JSON, Open Inference Protocol v2, TensorFlow Serving REST, TorchServe and SageMaker.
    ``on_shutdown`` coroutines run when the server stops (e.g. closing batchers' threads).
    """
    from handlers.protocols import PROTOCOL_MODULES

    settings = settings or Settings.load()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            for hook in on_shutdown:
                await hook()

    app = FastAPI(
        lifespan=lifespan,
        # FastAPI's native OpenTelemetry hooks are off: the server logs and counts requests itself.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        title=f"{settings.service_name} model server",
        version=_VERSION,
        description="Predictions from verified ONNX bundles in several wire protocols.",
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.repository = repository
    app.state.settings = settings
    metrics = Metrics() if settings.metrics == "prometheus" else None
    app.state.metrics = metrics
    app.add_middleware(
        ObservabilityMiddleware,
        metrics=metrics,
        metrics_mode=settings.metrics,
        access_log=settings.access_log,
        log_payload=settings.log_payload,
        namespace=settings.service_name,
    )
    _add_error_handlers(app)
    documented: list[BaseRoute] = []
    for module in PROTOCOL_MODULES:
        _mount_plain(app, import_module(module).router(repository, settings), documented)

    if metrics is not None:

        @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
        async def prometheus_metrics() -> Response:
            """Request counts, errors and latency per model version in the Prometheus text format."""
            return PlainTextResponse(metrics.prometheus(), media_type="text/plain; version=0.0.4")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from handlers.openapi import build_openapi

            app.openapi_schema = build_openapi(app, [*app.routes, *documented])
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
