"""The Open Inference Protocol's generate extension (Triton, KServe): text in, text out, streamed on request.

``POST /v2/models/{name}[/versions/{version}]/generate`` takes ``{"text_input": "...", "parameters": {...}}``
(and an optional ``id``, echoed) and answers ``{"model_name", "model_version", "text_output", "details":
{"finish_reason", "prompt_tokens", "completion_tokens"}}`` (``finish_reason``: KServe's ``eos_token``,
``stop_sequence`` or ``length``). ``.../generate_stream`` takes the same body and answers server-sent events,
one per text delta, ``{"model_name", "model_version", "text_output": "<delta>"}``, and a last one with empty
``text_output`` and the ``details``; a failure after the first byte is the event ``{"error": "..."}``.

Parameters, in ``parameters`` or beside ``text_input`` (as Triton's TensorRT-LLM examples send them):
``max_tokens`` (or ``max_new_tokens``), ``temperature`` (0: greedy), ``top_p``, ``top_k``, ``seed``,
``repetition_penalty``, ``stop`` (or ``stop_words``); ``stream`` and ``details`` are accepted and ignored
(the route decides, the details are always there); an empty value is no value. Anything else is a 400
naming it. Errors are OIP's ``{"error": "..."}``; a full queue is 429 with ``Retry-After``; a model that
does not generate text is a 400 naming ``/infer``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from handlers.engine import ModelRepository
from handlers.errors import InvalidInputError
from handlers.generation.engine import Delta, Failed, Finished, GenerationRequest, Stream
from handlers.generation.errors import QueueFullError
from handlers.generation.openai_params import generation_request
from handlers.generation.runtime import GenerativeRuntime
from handlers.http import json_response, loads, read_body
from handlers.metering import record_usage
from handlers.protocols.base import path_runtime
from handlers.protocols.generate_runs import SSE_HEADERS, busy, collect, finish_reason, generative, sse, start
from handlers.protocols.oip import route_table
from handlers.routing import RouteTable
from handlers.settings import Settings

__all__ = ["PARAMETERS", "PROTOCOL", "router"]

PROTOCOL = "oip"
#: The parameters honoured; each alias maps to the name the sampling checks use.
_ALIASES = {"max_new_tokens": "max_tokens", "stop_words": "stop"}
PARAMETERS = ("max_tokens", "temperature", "top_p", "top_k", "seed", "repetition_penalty", "stop", "stream", "details")
_ENVELOPE = ("text_input", "parameters", "id")


def _empty(value: Any) -> bool:
    return value is None or value in ("", [])


def _parameters(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The request's parameters: ``parameters`` over the properties beside ``text_input``, aliases resolved."""
    nested = payload.get("parameters")
    if nested is not None and not isinstance(nested, dict):
        raise InvalidInputError('"parameters" must be an object, e.g. {"max_tokens": 64, "temperature": 0.7}')
    merged = {key: value for key, value in payload.items() if key not in _ENVELOPE}
    merged.update(nested or {})
    values: dict[str, Any] = {}
    for name, value in merged.items():
        if _empty(value):
            continue
        canonical = _ALIASES.get(name, name)
        if canonical not in PARAMETERS:
            raise InvalidInputError(
                f"parameter {name!r} is not one this model takes; it takes: {', '.join(PARAMETERS)}"
            )
        values[canonical] = value
    return values


def _asked(runtime: GenerativeRuntime, payload: Any) -> GenerationRequest:
    if not isinstance(payload, dict):
        raise InvalidInputError('the body must be a JSON object: {"text_input": "...", "parameters": {...}}')
    text = payload.get("text_input")
    if not isinstance(text, str) or not text:
        raise InvalidInputError('"text_input" must be a non-empty string: the prompt to continue')
    values = _parameters(payload)
    for flag in ("details", "stream"):
        if not isinstance(values.get(flag, False), bool):
            raise InvalidInputError(f"parameter {flag!r} must be true or false, got {values[flag]!r}")
    ids = runtime.generation_processor.prompt_ids(text)
    return generation_request(runtime, ids, values, prompt_param="text_input", length_names=("max_tokens",))


def _head(runtime: GenerativeRuntime, payload: Mapping[str, Any]) -> dict[str, Any]:
    head: dict[str, Any] = {"model_name": runtime.name, "model_version": runtime.version}
    if "id" in payload:
        head["id"] = payload["id"]
    return head


def _details(runtime: GenerativeRuntime, done: Finished) -> dict[str, Any]:
    return {"finish_reason": finish_reason(runtime, done), "prompt_tokens": done.prompt_tokens,
            "completion_tokens": done.completion_tokens}  # fmt: skip


async def _events(
    runtime: GenerativeRuntime, request: Request, head: dict[str, Any], stream: Stream
) -> AsyncIterator[bytes]:
    try:
        async for event in stream:
            if isinstance(event, Delta):
                yield sse({**head, "text_output": event.text})
            elif isinstance(event, Failed):
                yield sse({"error": event.message})
                return
            else:
                record_usage(request, event.prompt_tokens, event.completion_tokens)
                yield sse({**head, "text_output": "", "details": _details(runtime, event)})
    finally:  # the client went away (the response task is cancelled) or the stream ended
        stream.cancel()


def _endpoint(repository: ModelRepository, settings: Settings, api: RouteTable, *, streamed: bool) -> Any:
    limit, budget_s = settings.max_body_bytes, settings.inference_timeout_ms / 1000.0

    async def generate(request: Request) -> Response:
        found = path_runtime(repository, request)
        runtime = generative(found, f"POST /v2/models/{found.name}/infer serves it")
        payload = loads(await read_body(request, limit))
        generation = _asked(runtime, payload)
        try:
            stream = start(runtime, generation, budget_s)
        except QueueFullError as error:
            return busy(api, request, error)
        head = _head(runtime, payload)
        if streamed:
            body = _events(runtime, request, head, stream)
            return StreamingResponse(body, media_type="text/event-stream", headers=SSE_HEADERS)
        text, done = await collect(request, stream)
        return json_response({**head, "text_output": text, "details": _details(runtime, done)})

    generate.__name__ = "generate_stream" if streamed else "generate"
    generate.__doc__ = (
        "OIP generate extension: text_input in, text_output deltas as server-sent events."
        if streamed
        else "OIP generate extension: text_input in, text_output out."
    )
    return generate


def router(repository: ModelRepository, settings: Settings) -> RouteTable:
    """``POST /v2/models/{name}[/versions/{version}]/generate`` and ``/generate_stream``."""
    api = route_table()
    for streamed, leaf in ((False, "generate"), (True, "generate_stream")):
        api.post(f"/models/{{name}}/{leaf}", f"/models/{{name}}/versions/{{version}}/{leaf}")(
            _endpoint(repository, settings, api, streamed=streamed)
        )
    return api
