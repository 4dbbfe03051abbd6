"""AWS Lambda entry point: ``handlers.lambda_entry.handler`` (Mangum over the maaskit app).

Bundles are opened, verified and warmed up at import, inside Lambda's init phase, from
``MAASKIT_BUNDLES`` (default ``${LAMBDA_TASK_ROOT}/bundles/*``). Serves API Gateway REST (v1),
HTTP API (v2), Function URL and ALB events, base64 bodies included; binary answers (.npy, OIP
binary) go back base64-encoded. Metrics default to CloudWatch embedded metric format.

Each event source puts the largest answer it carries in the request's scope (:data:`handlers.limits.RESPONSE_CAP`):
6 MB through API Gateway and Function URLs, 1 MB through an Application Load Balancer; a larger answer is a
413 in the route's protocol shape that says what to do, not the platform's opaque 502.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from functools import cached_property

from mangum import Mangum
from mangum.handlers import ALB, APIGateway, HTTPGateway
from mangum.types import LambdaHandler, Scope

from bundle.limits import lambda_response_limit, response_limit
from handlers.app import create_app
from handlers.engine import ModelRepository
from handlers.limits import RESPONSE_CAP
from handlers.observability import configure_logging
from handlers.settings import Settings, target_defaults

__all__ = ["build_handler", "default_settings", "handler"]

logger = logging.getLogger("maaskit.lambda")


def default_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Lambda settings: the environment (:class:`~handlers.settings.Settings`), with Lambda's defaults.

    Raises SettingsError naming the variable when one holds an unusable value.
    """
    env = os.environ if environ is None else environ
    root = env.get("LAMBDA_TASK_ROOT", os.getcwd())
    defaults = target_defaults(
        env,
        bundles=(os.path.join(root, "bundles", "*"),),
        metrics="emf",
        page=False,  # the model page is opt-in on Lambda (the deploy file's `page: true`)
        # No socket to guard (the platform delivers whole requests); answers must fit the invocation response.
        body_timeout_s=0.0,
        request_timeout_s=0.0,
        max_response_bytes=response_limit("lambda"),
    )
    return Settings.load(env, **defaults)


_GATEWAY_CAP = (lambda_response_limit("api_gateway"), "Lambda")
_FUNCTION_URL_CAP = (lambda_response_limit("function_url"), "Lambda")
_ALB_CAP = (lambda_response_limit("alb"), "an Application Load Balancer's Lambda target")


class _HTTPGateway(HTTPGateway):
    """HTTP API v2 / Function URL (and REST v1 events in that shape), ASGI scope built once per event."""

    @cached_property
    def scope(self) -> Scope:  # mangum rebuilds it when answering otherwise
        scope = super().scope
        scope[RESPONSE_CAP] = _FUNCTION_URL_CAP
        return scope


class _APIGateway(APIGateway):
    """API Gateway REST v1, ASGI scope built once per event."""

    @cached_property
    def scope(self) -> Scope:
        scope = super().scope
        scope[RESPONSE_CAP] = _GATEWAY_CAP
        return scope


class _ALB(ALB):
    """Application Load Balancer, ASGI scope built once per event: answers stop at 1 MB, not 6."""

    @cached_property
    def scope(self) -> Scope:
        scope = super().scope
        scope[RESPONSE_CAP] = _ALB_CAP
        return scope


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
