"""``maaskit chat URL|BUNDLE --model M``: talk to a generative model, its tokens streamed to the terminal.

``URL`` is a deployed API's stage URL, a streaming Function URL or a ``maaskit serve`` address (the
model's own base URL ``/models/<m>/v1`` is used on all of them); ``BUNDLE`` is a text-generation bundle
directory, served for the session on 127.0.0.1. ``--prompt`` asks once; without it every line read from
standard input is a turn of one conversation (the history is sent each time).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from bundle import names

__all__ = ["chat", "register", "served_bundle"]

_BAD_INPUT = 2
_FAILED = 1


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def served_bundle(path: Path) -> Iterator[tuple[str, str]]:
    """Serve the text-generation bundle at ``path`` on a free 127.0.0.1 port; yields (URL, model name)."""
    import socket

    import uvicorn

    from bundle import open_bundle
    from bundle.generation import GENERATION_TASK
    from handlers.app import create_app
    from handlers.engine import ModelRepository
    from handlers.generation.runtime import load_generative
    from handlers.settings import Settings

    bundle = open_bundle(path)
    if bundle.manifest.task != GENERATION_TASK:
        raise ValueError(f"{path} is a {bundle.manifest.task} bundle; maaskit chat talks to text-generation bundles")
    settings = Settings.load(access_log=False, metrics="none")
    runtime = load_generative(bundle, settings)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    config = uvicorn.Config(create_app(ModelRepository([runtime]), settings), host="127.0.0.1", port=port,
                            log_level="warning", access_log=False)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the local server did not start within 30 s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", bundle.manifest.name
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        runtime.close()


def _auth(kind: str, url: str, key: str | None) -> Any:
    from maaskit.client import ApiKeyAuth, BearerAuth, SigV4Auth

    if kind == "iam":  # a Function URL signs for service "lambda", an API for "execute-api"
        return SigV4Auth(service="lambda" if ".lambda-url." in url else "execute-api")
    if kind in ("api-key", "bearer") and not key:
        raise ValueError(f"--auth {kind} needs --key (or MAASKIT_API_KEY)")
    if kind == "api-key":
        return ApiKeyAuth(str(key))
    return BearerAuth(str(key)) if kind == "bearer" else None


def _turns(prompt: str | None) -> Iterator[str]:
    if prompt is not None:
        yield prompt
        return
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            typer.echo("> ", nl=False)
        line = sys.stdin.readline()
        if not line:
            return
        if line.strip():
            yield line.rstrip("\n")


def _converse(
    url: str, model: str, auth: Any, *, prompt: str | None, system: str | None, options: dict[str, Any]
) -> None:
    from maaskit.client import MaaskitClient

    history: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
    with MaaskitClient(url, auth=auth, timeout=options.pop("timeout")) as client:
        for turn in _turns(prompt):
            history.append({"role": "user", "content": turn})
            stream = client.chat(model, history, stream=True, **options)
            for token in stream:
                sys.stdout.write(token)
                sys.stdout.flush()
            sys.stdout.write("\n")
            sys.stdout.flush()
            history.append({"role": "assistant", "content": stream.text})


def chat(  # noqa: PLR0917 (typer maps parameters to options)
    target: Annotated[str, typer.Argument(help="Stage URL, Function URL or server address; or a bundle directory.")],
    model: Annotated[str | None, typer.Option(help="The model's name (default: the bundle's own).")] = None,
    prompt: Annotated[str | None, typer.Option(help="Ask once; without it each stdin line is a turn.")] = None,
    system: Annotated[str | None, typer.Option(help="A system message opening the conversation.")] = None,
    max_tokens: Annotated[int | None, typer.Option(min=1, help="Tokens per answer at most.")] = None,
    temperature: Annotated[float | None, typer.Option(min=0.0, help="0 is greedy (default: the model's).")] = None,
    auth: Annotated[str, typer.Option(help="none, iam (SigV4), api-key or bearer.")] = "none",
    key: Annotated[str | None, typer.Option(envvar=names.API_KEY, help="The API key or bearer token.")] = None,
    timeout: Annotated[float, typer.Option(min=1.0, help="Seconds to wait for the next token.")] = 300.0,
) -> None:
    """Chat with a generative model; its tokens are printed as they arrive."""
    from maaskit.client import ClientError

    options = {"max_tokens": max_tokens, "temperature": temperature, "timeout": timeout}
    try:
        if target.startswith(("http://", "https://")):
            if model is None:
                raise _fail("--model is required with a URL (the model's name, as in /models/<name>)", _BAD_INPUT)
            _converse(target, model, _auth(auth, target, key), prompt=prompt, system=system, options=options)
            return
        if not Path(target).exists():
            raise _fail(f"{target} is neither a URL nor a bundle directory", _BAD_INPUT)
        with served_bundle(Path(target)) as (url, name):
            _converse(url, model or name, None, prompt=prompt, system=system, options=options)
    except (ValueError, OSError) as exc:
        raise _fail(str(exc), _BAD_INPUT) from None
    except ClientError as exc:
        raise _fail(str(exc), _FAILED) from None


def register(app: typer.Typer) -> None:
    """Add ``maaskit chat`` to the CLI."""
    app.command("chat")(chat)
