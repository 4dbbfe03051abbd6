"""OpenAI-compatible generation: ``POST /v1/chat/completions`` and ``POST /v1/completions``, streamed or not.

Bodies, answers and errors follow the OpenAI API reference, so the official ``openai`` client works
unchanged. ``stream: true`` answers server-sent events as OpenAI sends them: a first chunk with
``delta.role``, content deltas, a chunk with ``finish_reason`` (``stop`` or ``length``), with
``stream_options.include_usage`` one more chunk with ``choices: []`` and ``usage``, then
``data: [DONE]``; a failure after the first byte is a ``data: {"error": {...}}`` event. A client that
disconnects stops its generation within one token step. A full admission queue answers 429 with
``Retry-After``. Every generative model is also a base URL of its own, ``/models/{name}/v1``.
Which parameters are honoured and which refused: :mod:`handlers.generation.openai_params`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from handlers.engine import ModelRepository
from handlers.errors import InvalidInputError, ServingError
from handlers.generation.engine import Delta, Failed, Finished, Stream
from handlers.generation.errors import QueueFullError
from handlers.generation.openai_params import Asked, asked
from handlers.generation.runtime import GenerativeRuntime
from handlers.http import describe_model, json_response, loads, read_body
from handlers.metering import record_usage
from handlers.protocols.generate_runs import busy, collect, sse, start
from handlers.protocols.openai import OpenAIParameterError, error_shape, openai_model
from handlers.routing import RouteTable
from handlers.settings import Settings

__all__ = ["PROTOCOL", "ChatShape", "chat_events", "router", "whole_answer"]

PROTOCOL = "openai"
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _runtime(repository: ModelRepository, request: Request, payload: dict[str, Any]) -> GenerativeRuntime:
    runtime = openai_model(repository, request, payload.get("model"), "text-generation")
    describe_model(request, runtime.name, runtime.version)
    if not isinstance(runtime, GenerativeRuntime):
        raise OpenAIParameterError(
            f"model {runtime.name} does not generate text (task {runtime.manifest.task}); "
            "/v1/chat/completions and /v1/completions serve text-generation bundles",
            "model", "model_not_supported",
        )  # fmt: skip
    return runtime


def _usage(done: Finished) -> dict[str, int]:
    return {"prompt_tokens": done.prompt_tokens, "completion_tokens": done.completion_tokens,
            "total_tokens": done.prompt_tokens + done.completion_tokens}  # fmt: skip


def _reason(done: Finished) -> str:
    return "stop" if done.reason == "stop" else "length"


class ChatShape:
    """The answer objects of one request (chat or text completion)."""

    def __init__(self, ask: Asked) -> None:
        self.ask = ask
        self.id = f"{'chatcmpl' if ask.chat else 'cmpl'}-{uuid.uuid4().hex}"
        self.created = int(time.time())

    def _head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.ask.model,
                "system_fingerprint": None}  # fmt: skip

    def whole(self, text: str, done: Finished) -> dict[str, Any]:
        if self.ask.chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                      "logprobs": None, "finish_reason": _reason(done)}  # fmt: skip
            return {**self._head("chat.completion"), "choices": [choice], "usage": _usage(done)}
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": _reason(done)}
        return {**self._head("text_completion"), "choices": [choice], "usage": _usage(done)}

    def chunk(self, text: str | None, *, role: bool = False, done: Finished | None = None) -> dict[str, Any]:
        reason = _reason(done) if done is not None else None
        if self.ask.chat:
            delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else {}
            if text is not None:
                delta["content"] = text
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
            body = {**self._head("chat.completion.chunk"), "choices": [choice]}
        else:
            choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": reason}
            body = {**self._head("text_completion"), "choices": [choice]}
        if self.ask.include_usage:
            body["usage"] = None
        return body

    def usage_chunk(self, done: Finished) -> dict[str, Any]:
        kind = "chat.completion.chunk" if self.ask.chat else "text_completion"
        return {**self._head(kind), "choices": [], "usage": _usage(done)}


async def whole_answer(request: Request, shape: ChatShape, stream: Stream) -> Response:
    """The whole answer of ``stream`` (generation stops when the client disconnects first)."""
    text, done = await collect(request, stream)  # metered there (handlers.metering)
    return json_response(shape.whole(text, done))


async def chat_events(request: Request, shape: ChatShape, stream: Stream) -> AsyncIterator[bytes]:
    """``stream`` as OpenAI's server-sent events (an ``error`` event when it fails after the first byte)."""
    try:
        if shape.ask.chat:
            yield sse(shape.chunk(None, role=True))
        async for event in stream:
            if isinstance(event, Delta):
                yield sse(shape.chunk(event.text))
            elif isinstance(event, Failed):
                yield sse(error_shape(ServingError(event.message)))
                return
            else:
                record_usage(request, event.prompt_tokens, event.completion_tokens)
                yield sse(shape.chunk(None if shape.ask.chat else "", done=event))
                if shape.ask.include_usage:
                    yield sse(shape.usage_chunk(event))
                yield b"data: [DONE]\n\n"
    finally:  # the client went away (the response task is cancelled) or the stream ended
        stream.cancel()


def _endpoint(repository: ModelRepository, settings: Settings, api: RouteTable, *, chat: bool) -> Any:
    limit = settings.max_body_bytes
    budget_s = settings.inference_timeout_ms / 1000.0

    async def generate(request: Request) -> Response:
        payload = loads(await read_body(request, limit))
        if not isinstance(payload, dict):
            raise InvalidInputError('the body must be a JSON object: {"model": ..., "messages": ...}')
        runtime = _runtime(repository, request, payload)
        ask = asked(runtime, payload, chat=chat)
        try:  # MAASKIT_INFERENCE_TIMEOUT_MS: generation ends (finish_reason length) when it is spent
            stream = start(runtime, ask.request, budget_s)
        except QueueFullError as error:
            return busy(api, request, error)
        shape = ChatShape(ask)
        if not ask.stream:
            return await whole_answer(request, shape, stream)
        events = chat_events(request, shape, stream)
        return StreamingResponse(events, media_type="text/event-stream", headers=_SSE_HEADERS)

    generate.__name__ = "chat_completions" if chat else "completions"
    generate.__doc__ = (
        "OpenAI chat completion of a conversation (stream: server-sent events)."
        if chat
        else "OpenAI text completion of a prompt (stream: server-sent events)."
    )
    return generate


def router(repository: ModelRepository, settings: Settings) -> RouteTable:
    """``POST /v1/chat/completions`` and ``/v1/completions``, also under ``/models/{name}/v1``."""
    api = RouteTable(PROTOCOL, error_shape, prefixes=("/v1/chat", "/v1/completions"), tags=["openai"])
    api.post("/v1/chat/completions", "/models/{name}/v1/chat/completions")(
        _endpoint(repository, settings, api, chat=True)
    )
    api.post("/v1/completions", "/models/{name}/v1/completions")(_endpoint(repository, settings, api, chat=False))
    return api
