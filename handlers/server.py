"""``maaskit serve``'s app: the settings of a server people run themselves, and the app factory.

``maaskit serve`` (one process) and ``uvicorn handlers.server:create_from_env --factory`` (``--workers``
> 1, containers of your own) build the same app: bundles loaded, verified and warmed, and large bodies
decoded in worker processes (``MAASKIT_DECODE_PROCESSES``, default 2) so that ``/ping`` holds under them
as it does in the SageMaker container.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette

from handlers.app import create_app
from handlers.engine import ModelRepository
from handlers.observability import configure_logging
from handlers.offload import shutdown_processes, warm_processes
from handlers.settings import Settings, target_defaults

__all__ = ["DECODE_PROCESSES", "build_app", "create_from_env", "serve_settings"]

DECODE_PROCESSES = 2  # as the container: large bodies decode outside the GIL that /ping needs


def serve_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings of ``maaskit serve``: arguments > environment > serve's defaults > the settings' defaults."""
    env = os.environ if environ is None else environ
    defaults = target_defaults(env, decode_processes=DECODE_PROCESSES)
    given = {name: value for name, value in overrides.items() if value is not None}
    return Settings.load(env, **{**defaults, **given})


def build_app(settings: Settings, repository: ModelRepository | None = None) -> Starlette:
    """The app over ``repository`` (default: load ``settings.bundles``), decode processes started and stopped with it.

    Raises BundleError when a bundle is missing or cannot be trusted.
    """
    repository = repository or ModelRepository.load(settings)
    warm_processes(settings.decode_processes)

    async def shut_down() -> None:
        await repository.close()
        shutdown_processes()

    return create_app(repository, settings, on_shutdown=[shut_down])


def create_from_env() -> Starlette:
    """Load the bundles named by MAASKIT_BUNDLES (verified, warmed up) and return the app.

    Use as ``uvicorn handlers.server:create_from_env --factory``.
    """
    configure_logging()
    return build_app(serve_settings())
