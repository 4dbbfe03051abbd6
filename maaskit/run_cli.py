"""``maaskit serve`` (the runtime under uvicorn) and ``maaskit invoke`` (the client), registered by ``maaskit.cli``.

Heavy imports (numpy, onnxruntime, fastapi, uvicorn, httpx) happen inside the commands.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from bundle import names

__all__ = ["register"]

_BAD_INPUT = 2


def _fail(message: str, code: int = _BAD_INPUT) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def serve(  # noqa: PLR0917 (typer maps parameters to options)
    bundles: Annotated[list[Path], typer.Argument(help="Bundle directories or .tar.gz archives (or folders of them).")],
    host: Annotated[
        str | None,
        typer.Option(help=f"Address to bind (default 127.0.0.1, or {names.HOST}); 0.0.0.0 exposes the server."),
    ] = None,
    port: Annotated[int | None, typer.Option(help=f"TCP port (default 8000, or {names.PORT}).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help=f"Worker processes, each loading every bundle (default 1, or {names.WORKERS})."),
    ] = None,
    providers: Annotated[str | None, typer.Option(help="onnxruntime providers, e.g. 'cuda,cpu'.")] = None,
    threads: Annotated[int | None, typer.Option(help="onnxruntime intra-op threads (default: one per core).")] = None,
) -> None:
    """Serve bundles over HTTP in every protocol (maaskit JSON, OIP v2, TF Serving, TorchServe, SageMaker).

    Every other setting comes from its MAASKIT_* variable (handlers/settings.py).
    """
    import uvicorn

    from bundle import BundleError
    from handlers.observability import configure_logging
    from handlers.server import serve_settings
    from handlers.settings import ENV, SettingsError

    configure_logging()
    overrides: dict[str, Any] = {
        "bundles": tuple(str(path) for path in bundles),
        "providers": providers,
        "intra_op_threads": threads,
        "host": host,
        "port": port,
        "workers": workers,
    }
    try:
        settings = serve_settings(None, **overrides)
    except SettingsError as exc:
        raise _fail(str(exc)) from None
    from handlers.connections import uvicorn_options

    # Header/body timeouts, header limits, keep-alive and connections from MAASKIT_* (handlers/settings.py).
    options = {
        "host": settings.host,
        "port": settings.port,
        "access_log": False,
        "log_level": "info",
        **uvicorn_options(settings),
    }
    if settings.workers > 1:
        os.environ[ENV["bundles"]] = os.pathsep.join(settings.bundles)
        if providers:
            os.environ[ENV["providers"]] = providers
        if threads is not None:
            os.environ[ENV["intra_op_threads"]] = str(threads)
        uvicorn.run("handlers.server:create_from_env", factory=True, workers=settings.workers, **options)
        return
    from handlers.server import build_app

    try:
        app = build_app(settings)
    except BundleError as exc:
        raise _fail(str(exc)) from None
    repository = app.state.repository
    served = ", ".join(f"{runtime.name} {runtime.version}" for runtime in repository)
    url = f"http://{settings.host}:{settings.port}"
    typer.echo(f"serving {served} at {url} (routes: {url}/docs)", err=True)
    uvicorn.run(app, **options)


def _auth(api_key: str | None, token: str | None, sigv4: bool) -> Any:
    """The client-SDK auth for the options given (at most one), or None."""
    chosen = [flag for flag, on in (("--api-key", api_key), ("--token", token), ("--sigv4", sigv4)) if on]
    if len(chosen) > 1:
        raise _fail(f"choose one authentication option, not {' and '.join(chosen)}")
    if not chosen:
        return None
    from maaskit.client import ApiKeyAuth, BearerAuth, SigV4Auth

    if api_key:
        return ApiKeyAuth(api_key)
    if token:
        return BearerAuth(token)
    return SigV4Auth()


def invoke(  # noqa: PLR0917 (typer maps parameters to options)
    target: Annotated[str, typer.Argument(help="Server URL (http://...) or a bundle path to run in-process.")],
    model: Annotated[str | None, typer.Option(help="Model name (default: the only model).")] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Input file: .json, .npz (one array per input name), .csv, .npy or an image "
            "(default: the bundle's samples)."
        ),
    ] = None,
    version: Annotated[str | None, typer.Option(help="Pin a model version (semver).")] = None,
    api_key: Annotated[str | None, typer.Option(envvar=names.API_KEY, help="API Gateway API key (x-api-key).")] = None,
    token: Annotated[str | None, typer.Option(envvar=names.TOKEN, help="JWT sent as Authorization: Bearer.")] = None,
    sigv4: Annotated[
        bool, typer.Option("--sigv4", help="Sign with AWS SigV4 (IAM auth) using botocore's credentials.")
    ] = False,
) -> None:
    """Send one prediction request to a server or to a bundle in-process and print the JSON answer.

    URLs are called through the client SDK (``maaskit.client``): retries with backoff on 429/5xx,
    and IAM (``--sigv4``), API key or JWT authentication for a deployed API.
    """
    from maaskit.invoke import InvokeError, invoke_target

    try:
        status, answer = invoke_target(
            target, model=model, data=data, version=version, auth=_auth(api_key, token, sigv4)
        )
    except InvokeError as exc:
        raise _fail(str(exc)) from None
    if status >= 400:
        typer.echo(answer, err=True)
        raise typer.Exit(_BAD_INPUT if status < 500 else 1)
    typer.echo(answer)


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``invoke`` to the ``maaskit`` app."""
    app.command("serve")(serve)
    app.command("invoke")(invoke)
