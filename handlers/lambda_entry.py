"""AWS Lambda entry point: ``handlers.lambda_entry.handler`` (Mangum over the maaskit app).

Bundles are opened, verified and warmed up at import, inside Lambda's init phase, from
``MAASKIT_BUNDLES`` (default ``${LAMBDA_TASK_ROOT}/bundles/*``). Serves API Gateway REST (v1),
HTTP API (v2), Function URL and ALB events, base64 bodies included; binary answers (.npy, OIP
binary) go back base64-encoded. Metrics default to CloudWatch embedded metric format.
"""

from __future__ import annotations

import logging
import os
from functools import cached_property
from typing import Any

from mangum import Mangum
from mangum.handlers import ALB, APIGateway, HTTPGateway
from mangum.types import LambdaHandler, Scope

from handlers.app import create_app
from handlers.engine import ModelRepository
from handlers.observability import configure_logging
from handlers.settings import ENV, Settings

__all__ = ["build_handler", "default_settings", "handler"]

logger = logging.getLogger("maaskit.lambda")


def default_settings(environ: dict[str, str] | None = None) -> Settings:
    """Lambda settings: the environment, with Lambda defaults for bundles and metrics."""
    env = dict(os.environ if environ is None else environ)
    overrides: dict[str, Any] = {}
    if ENV["bundles"] not in env:
        root = env.get("LAMBDA_TASK_ROOT", os.getcwd())
        overrides["bundles"] = (os.path.join(root, "bundles", "*"),)
    if ENV["metrics"] not in env:
        overrides["metrics"] = "emf"
    if ENV["page"] not in env:
        overrides["page"] = False  # the model page is opt-in on Lambda (the deploy file's `page: true`)
    return Settings.load(env, **overrides)


class _HTTPGateway(HTTPGateway):
    """HTTP API v2 / Function URL (and REST v1 events in that shape), ASGI scope built once per event."""

    @cached_property
    def scope(self) -> Scope:  # mangum rebuilds it when answering otherwise
        return super().scope


class _APIGateway(APIGateway):
    """API Gateway REST v1, ASGI scope built once per event."""

    @cached_property
    def scope(self) -> Scope:
        return super().scope


class _ALB(ALB):
    """Application Load Balancer, ASGI scope built once per event."""

    @cached_property
    def scope(self) -> Scope:
        return super().scope


_HANDLERS: list[type[LambdaHandler]] = [_ALB, _HTTPGateway, _APIGateway]


def build_handler(settings: Settings | None = None) -> Mangum:
    """Load every bundle (verified, warmed up) and wrap the app for Lambda events."""
    configure_logging()
    settings = settings or default_settings()
    try:
        repository = ModelRepository.load(settings)
    except Exception:
        logger.exception("no model can be served: loading the bundles failed (%s)", ", ".join(settings.bundles))
        raise
    return Mangum(
        create_app(repository, settings),
        lifespan="off",
        api_gateway_base_path=settings.base_path,
        custom_handlers=_HANDLERS,
    )


handler = build_handler()
