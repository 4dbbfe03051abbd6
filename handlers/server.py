"""Build the app from the environment: the factory that ASGI servers import (``--workers`` > 1, containers)."""

from __future__ import annotations

from starlette.applications import Starlette

from handlers.app import create_app
from handlers.engine import ModelRepository
from handlers.observability import configure_logging
from handlers.settings import Settings

__all__ = ["create_from_env"]


def create_from_env() -> Starlette:
    """Load the bundles named by MAASKIT_BUNDLES (verified, warmed up) and return the app.

    Use as ``uvicorn handlers.server:create_from_env --factory``.
    """
    configure_logging()
    settings = Settings.load()
    return create_app(ModelRepository.load(settings), settings)
