"""One generation run for the protocols beside OpenAI's (SageMaker's LLM-container shape, the OIP generate extension).

:func:`start` applies the per-request time budget (``MAASKIT_INFERENCE_TIMEOUT_MS``) and admits the
request (:class:`~handlers.generation.errors.QueueFullError` past the admission queue: answer it with
:func:`busy`, 429 with ``Retry-After``); :func:`collect` waits for a whole answer while watching for the
client going away (the OpenAI routes' own rule, :mod:`handlers.protocols.openai_chat`) and records the
token usage (:func:`handlers.metering.record_usage`). Event-stream bodies record it themselves and cancel
their stream in a ``finally``: a client that goes away cancels the response task, which stops the
generation within one token step.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from handlers.engine import ModelRuntime
from handlers.errors import InvalidInputError, ServingError
from handlers.generation.engine import Delta, Failed, Finished, GenerationRequest, Stream
from handlers.generation.errors import QueueFullError
from handlers.generation.runtime import GenerativeRuntime
from handlers.metering import record_usage
from handlers.routing import RouteTable

__all__ = ["SSE_HEADERS", "busy", "collect", "finish_reason", "generative", "sse", "start"]

#: Headers of every event stream: no caching, no proxy buffering.
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def generative(runtime: ModelRuntime, routes: str) -> GenerativeRuntime:
    """``runtime`` when it generates text; else a 400 that names the model's task and ``routes`` to use instead."""
    if isinstance(runtime, GenerativeRuntime):
        return runtime
    raise InvalidInputError(f"model {runtime.name} does not generate text (task {runtime.manifest.task}); {routes}")


def start(runtime: GenerativeRuntime, request: GenerationRequest, budget_s: float) -> Stream:
    """Admit ``request`` (QueueFullError when the queue is full), ending it when ``budget_s`` is spent (0: never)."""
    if budget_s:
        request = dataclasses.replace(request, deadline=time.monotonic() + budget_s)
    return runtime.engine.stream(request)


def busy(api: RouteTable, request: Request, error: QueueFullError) -> Response:
    """The 429 of a full admission queue, in ``api``'s error shape, with ``Retry-After``."""
    return api.error(request, error, {"Retry-After": str(error.retry_after)})


_DISCONNECT_POLL_S = 0.05


async def watch_disconnect(request: Request, stream: Stream) -> None:
    """Cancel ``stream`` as soon as the client disconnects (answers collected whole; a streamed answer's task is
    cancelled by the server instead)."""
    while True:
        if await request.is_disconnected():
            stream.cancel()
            return
        await asyncio.sleep(_DISCONNECT_POLL_S)


async def collect(request: Request, stream: Stream) -> tuple[str, Finished]:
    """The whole text and how it finished; the generation stops if the client goes away (ServingError on failure)."""
    watcher = asyncio.create_task(watch_disconnect(request, stream))
    pieces: list[str] = []
    try:
        async for event in stream:
            if isinstance(event, Delta):
                pieces.append(event.text)
            elif isinstance(event, Failed):
                raise ServingError(event.message)
            else:
                record_usage(request, event.prompt_tokens, event.completion_tokens)
                return "".join(pieces), event
    finally:
        watcher.cancel()
        stream.cancel()
    raise ServingError("the generation ended without an answer")


def sse(data: Any) -> bytes:
    """One server-sent event: ``data: <json>`` and a blank line."""
    return b"data: " + orjson.dumps(data) + b"\n\n"


def finish_reason(runtime: GenerativeRuntime, done: Finished) -> str:
    """TGI's and KServe's finish reason: ``eos_token``, ``stop_sequence`` or ``length``."""
    if done.reason != "stop":
        return "length"
    ended_on_eos = bool(done.token_ids) and done.token_ids[-1] in runtime.spec.eos_token_ids
    return "eos_token" if ended_on_eos else "stop_sequence"
