"""Text-generation bundles on SageMaker's ``POST /invocations``, in the Hugging Face LLM container's (TGI's) shape.

``{"inputs": "...", "parameters": {...}, "stream": false}`` answers ``[{"generated_text": "..."}]`` (with
``"details"`` when ``parameters.details`` is true); ``return_full_text`` puts the prompt in front (default
false, as TGI). ``parameters``: ``max_new_tokens``, ``temperature``, ``top_p``, ``top_k``, ``do_sample``,
``repetition_penalty``, ``stop``, ``seed``, ``truncate``, ``return_full_text``, ``details``; TGI's others
are accepted when null or neutral and otherwise refused with a 400 naming them. Sampling is TGI's rule:
``do_sample`` or any of ``temperature`` / ``top_k`` / ``top_p`` samples, ``do_sample: false`` alone is
greedy, and nothing at all follows the bundle's generation defaults.

``stream: true`` (or ``Accept: text/event-stream``) answers TGI's server-sent events, sent with HTTP/1.1
chunked transfer encoding as they come, which ``InvokeEndpointWithResponseStream`` relays: one event per
text delta, ``{"index", "token": {"id", "text", "logprob": null, "special": false}, "generated_text": null,
"details": null}``, then a last event whose token has empty text (``special`` when it was the end-of-text
token), with ``generated_text`` (the whole answer) and, with ``parameters.details``, ``details:
{"finish_reason", "generated_tokens", "seed", "input_length"}``. A failure after the first byte is the
event ``{"error": "...", "error_type": "generation"}``.

``{"messages": [...]}`` bodies are OpenAI chat requests, as the container's Messages API takes them: a
``chat.completion``, or with ``stream: true`` its chunks and ``data: [DONE]`` (the model is the one the
request's headers select, whatever ``model`` says). Errors before the first byte are SageMaker's
``{"error": "..."}`` with the status; a full queue is 429 with ``Retry-After``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from handlers.errors import InvalidInputError, NotAcceptableError
from handlers.generation.engine import Delta, Failed, Finished, GenerationRequest, Stream
from handlers.generation.errors import QueueFullError
from handlers.generation.openai_params import asked, generation_request
from handlers.generation.runtime import GenerativeRuntime
from handlers.http import json_response, loads
from handlers.metering import record_usage
from handlers.protocols.generate_runs import SSE_HEADERS, busy, collect, finish_reason, sse, start
from handlers.protocols.openai_chat import ChatShape, chat_events, whole_answer
from handlers.routing import RouteTable

__all__ = ["PARAMETERS", "invoke"]

_SAMPLING = ("max_new_tokens", "temperature", "top_p", "top_k", "seed", "repetition_penalty", "stop")
#: The ``parameters`` honoured.
PARAMETERS = (*_SAMPLING, "do_sample", "truncate", "return_full_text", "details")
#: TGI parameters accepted only at their neutral values (what clients such as huggingface_hub send by default).
_NEUTRAL: dict[str, tuple[Any, ...]] = {
    "best_of": (1,),
    "typical_p": (1, 1.0),
    "watermark": (False,),
    "decoder_input_details": (False,),
    "top_n_tokens": (0,),
    "frequency_penalty": (0, 0.0),
    "grammar": (),
    "adapter_id": (),
}
_STREAM_TYPE = "text/event-stream"
_PREFIX = "parameters."


@dataclass(frozen=True)
class _Asked:
    """A checked TGI request."""

    request: GenerationRequest
    prompt: str
    full_text: bool
    details: bool
    stream: bool


def _flag(values: Mapping[str, Any], name: str, where: str = _PREFIX) -> bool | None:
    value = values.get(name)
    if value is not None and not isinstance(value, bool):
        raise InvalidInputError(f"{where}{name} must be true or false, got {value!r}")
    return value


def _parameters(payload: Mapping[str, Any]) -> dict[str, Any]:
    parameters = payload.get("parameters")
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise InvalidInputError('"parameters" must be an object, e.g. {"max_new_tokens": 64, "temperature": 0.7}')
    for name, value in parameters.items():
        if name in PARAMETERS or value is None or value in _NEUTRAL.get(name, ()):
            continue
        what = "is not supported by this server" if name in _NEUTRAL else "is not a parameter this model takes"
        raise InvalidInputError(f"{_PREFIX}{name} {what}: leave it out (parameters: {', '.join(PARAMETERS)})")
    return parameters


def _sampled(request: GenerationRequest, parameters: Mapping[str, Any]) -> GenerationRequest:
    """TGI's rule: ``do_sample`` or a sampling parameter samples; ``do_sample: false`` alone is greedy."""
    do_sample = _flag(parameters, "do_sample")
    warped = (
        parameters.get("temperature") not in (None, 1, 1.0)
        or parameters.get("top_k") not in (None, 0)
        or parameters.get("top_p") not in (None, 1, 1.0)
    )
    if do_sample is False and not warped:
        return dataclasses.replace(request, temperature=0.0)
    if (do_sample or warped) and request.temperature == 0 and parameters.get("temperature") is None:
        return dataclasses.replace(request, temperature=1.0)  # TGI's default temperature when sampling
    return request


def _truncated(ids: list[int], parameters: Mapping[str, Any]) -> list[int]:
    truncate = parameters.get("truncate")
    if truncate is None:
        return ids
    if isinstance(truncate, bool) or not isinstance(truncate, int) or truncate < 1:
        raise InvalidInputError(f"{_PREFIX}truncate must be a whole number >= 1 (tokens of the prompt kept)")
    return ids[-truncate:]


def _asked(runtime: GenerativeRuntime, request: Request, payload: dict[str, Any]) -> _Asked:
    prompt = payload.get("inputs")
    if not isinstance(prompt, str) or not prompt:
        raise InvalidInputError(
            '"inputs" must be a non-empty string (one prompt per request), or send {"messages": [...]} to chat'
        )
    parameters = _parameters(payload)
    ids = _truncated(runtime.generation_processor.prompt_ids(prompt), parameters)
    sampling = {name: parameters.get(name) for name in _SAMPLING}
    generation = generation_request(
        runtime, ids, sampling, prompt_param="inputs", prefix=_PREFIX, length_names=("max_new_tokens",)
    )
    return _Asked(
        request=_sampled(generation, parameters),
        prompt=prompt,
        full_text=bool(_flag(parameters, "return_full_text")),
        details=bool(_flag(parameters, "details")),
        stream=_wants_stream(request, payload),
    )


def _wants_stream(request: Request, payload: Mapping[str, Any]) -> bool:
    stream = _flag(payload, "stream", "")
    return stream if stream is not None else _STREAM_TYPE in request.headers.get("accept", "")


def _check_accept(request: Request) -> None:
    accept = request.headers.get("accept", "").lower()
    if accept and not any(kind in accept for kind in ("json", _STREAM_TYPE, "*/*")):
        raise NotAcceptableError(
            f"Accept {accept!r}: a text-generation model answers application/json or {_STREAM_TYPE}"
        )


def _token(runtime: GenerativeRuntime, token_id: int) -> dict[str, Any]:
    text = runtime.generation_processor.decode([token_id])
    return {"id": token_id, "text": text, "logprob": None, "special": token_id in runtime.spec.eos_token_ids}


def _whole_answer(runtime: GenerativeRuntime, ask: _Asked, text: str, done: Finished) -> Response:
    answer: dict[str, Any] = {"generated_text": ask.prompt + text if ask.full_text else text}
    if ask.details:
        answer["details"] = {
            "finish_reason": finish_reason(runtime, done),
            "generated_tokens": done.completion_tokens,
            "seed": ask.request.seed,
            "prefill": [],
            "tokens": [_token(runtime, token) for token in done.token_ids],
        }
    return json_response([answer])


async def _events(runtime: GenerativeRuntime, request: Request, ask: _Asked, stream: Stream) -> AsyncIterator[bytes]:
    pieces: list[str] = []
    last_id = 0
    try:
        async for event in stream:
            if isinstance(event, Delta):
                pieces.append(event.text)
                last_id = event.token_id if event.token_id is not None else last_id
                token = {"id": last_id, "text": event.text, "logprob": None, "special": False}
                yield sse({"index": len(pieces), "token": token, "generated_text": None, "details": None})
            elif isinstance(event, Failed):
                yield sse({"error": event.message, "error_type": "generation"})
                return
            else:
                record_usage(request, event.prompt_tokens, event.completion_tokens)
                yield sse(_last_event(runtime, ask, "".join(pieces), event, len(pieces) + 1))
    finally:  # the client went away (the response task is cancelled) or the stream ended
        stream.cancel()


def _last_event(runtime: GenerativeRuntime, ask: _Asked, text: str, done: Finished, index: int) -> dict[str, Any]:
    last_id = done.token_ids[-1] if done.token_ids else 0
    eos = last_id in runtime.spec.eos_token_ids and done.reason == "stop"
    details = None
    if ask.details:
        details = {"finish_reason": finish_reason(runtime, done), "generated_tokens": done.completion_tokens,
                   "seed": ask.request.seed, "input_length": done.prompt_tokens}  # fmt: skip
    return {
        "index": index,
        "token": {"id": last_id, "text": "", "logprob": None, "special": eos},
        "generated_text": ask.prompt + text if ask.full_text else text,
        "details": details,
    }


async def _chat(runtime: GenerativeRuntime, request: Request, payload: dict[str, Any], budget_s: float,
                api: RouteTable) -> Response:  # fmt: skip
    """An OpenAI chat request (the container's Messages API) for the selected model."""
    if "stream" not in payload and _STREAM_TYPE in request.headers.get("accept", ""):
        payload = {**payload, "stream": True}
    ask = asked(runtime, {**payload, "model": runtime.name}, chat=True)
    try:
        stream = start(runtime, ask.request, budget_s)
    except QueueFullError as error:
        return busy(api, request, error)
    shape = ChatShape(ask)
    if not ask.stream:
        return await whole_answer(request, shape, stream)
    return StreamingResponse(chat_events(request, shape, stream), media_type=_STREAM_TYPE, headers=SSE_HEADERS)


async def invoke(runtime: GenerativeRuntime, request: Request, body: bytes, budget_s: float,
                 api: RouteTable) -> Response:  # fmt: skip
    """Answer an ``/invocations`` body for a text-generation bundle (see the module docstring)."""
    _check_accept(request)
    payload = loads(body)
    if not isinstance(payload, dict):
        raise InvalidInputError('the body must be a JSON object: {"inputs": "...", "parameters": {...}}')
    if "messages" in payload:
        return await _chat(runtime, request, payload, budget_s, api)
    ask = _asked(runtime, request, payload)
    try:
        stream = start(runtime, ask.request, budget_s)
    except QueueFullError as error:
        return busy(api, request, error)
    if not ask.stream:
        text, done = await collect(request, stream)
        return _whole_answer(runtime, ask, text, done)
    return StreamingResponse(_events(runtime, request, ask, stream), media_type=_STREAM_TYPE, headers=SSE_HEADERS)
