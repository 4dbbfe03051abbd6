"""OpenAI chat/completions request bodies -> a checked :class:`GenerationRequest` (400s that name the parameter).

Refused with a 400 that says so, as the bundle cannot honour them: ``n`` > 1, ``tools`` /
``functions`` / ``tool_choice``, a ``response_format`` other than text, ``logprobs``, ``logit_bias``,
non-zero ``frequency_penalty`` / ``presence_penalty``, ``echo``, ``best_of`` > 1, ``suffix``. A prompt
as long as the context is ``context_length_exceeded``; ``max_tokens`` / ``max_completion_tokens`` are
clamped to what the context leaves and to the bundle's cap. Left out, sampling follows the bundle's
generation defaults (its ``generation_config.json``); ``temperature`` 0 is greedy.

:func:`generation_request` holds the sampling checks every generation protocol shares (OpenAI here,
the Hugging Face LLM container's ``parameters`` on ``/invocations``, the OIP generate extension).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from handlers.generation.engine import GenerationRequest
from handlers.generation.runtime import GenerativeRuntime
from handlers.protocols.openai import OpenAIParameterError

__all__ = ["Asked", "MAX_STOPS", "asked", "generation_request"]

MAX_STOPS = 4
_NUMBER = (int, float)


@dataclass(frozen=True)
class Asked:
    """A checked request: which route, how to answer, and what to generate."""

    model: str
    chat: bool
    stream: bool
    include_usage: bool
    request: GenerationRequest


def _refuse(message: str, param: str) -> OpenAIParameterError:
    return OpenAIParameterError(message, param, "unsupported_parameter")


def _number(
    payload: Mapping[str, Any],
    name: str,
    default: float,
    low: float,
    high: float,
    *,
    open_low: bool = False,
    prefix: str = "",
) -> float:
    value = payload.get(name)
    if value is None:
        return default
    if (
        isinstance(value, bool)
        or not isinstance(value, _NUMBER)
        or value > high
        or value < low
        or (open_low and value == low)
    ):
        bound = f"({low}, {high}]" if open_low else f"[{low}, {high}]"
        raise OpenAIParameterError(f"{prefix}{name} must be a number in {bound}, got {value!r}", prefix + name)
    return float(value)


def _whole(payload: Mapping[str, Any], name: str, low: int, prefix: str = "") -> int | None:
    value = payload.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise OpenAIParameterError(f"{prefix}{name} must be a whole number >= {low}, got {value!r}", prefix + name)
    return value


def _unsupported(payload: dict[str, Any], chat: bool) -> None:
    if payload.get("n") not in (None, 1):
        raise _refuse("n > 1 is not supported: ask n=1 and send several requests", "n")
    for name in ("tools", "functions"):
        if payload.get(name):
            raise _refuse(f"{name} are not supported by this model (no tool calling): leave {name} out", name)
    if payload.get("tool_choice") not in (None, "none", "auto"):
        raise _refuse("tool_choice is not supported (no tool calling): leave it out", "tool_choice")
    response_format = payload.get("response_format")
    if response_format is not None and response_format != {"type": "text"}:
        raise _refuse("response_format other than {'type': 'text'} cannot be honoured (no constrained decoding)",
                      "response_format")  # fmt: skip
    if payload.get("logprobs") not in (None, False) or payload.get("top_logprobs") is not None:
        raise _refuse("logprobs are not supported: leave logprobs out", "logprobs")
    if payload.get("logit_bias"):
        raise _refuse("logit_bias is not supported: leave it out", "logit_bias")
    for name in ("frequency_penalty", "presence_penalty"):
        if payload.get(name) not in (None, 0, 0.0):
            raise _refuse(f"{name} is not supported: use repetition_penalty (> 1 discourages repeats)", name)
    if not chat:
        if payload.get("echo"):
            raise _refuse("echo is not supported: leave it out", "echo")
        if payload.get("best_of") not in (None, 1):
            raise _refuse("best_of > 1 is not supported", "best_of")
        if payload.get("suffix"):
            raise _refuse("suffix (insertion) is not supported", "suffix")


def _stops(value: Any, prefix: str = "") -> tuple[str, ...]:
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops) or len(stops) > MAX_STOPS:
        raise OpenAIParameterError(
            f"{prefix}stop must be a string or a list of at most {MAX_STOPS} strings", prefix + "stop"
        )
    return tuple(stop for stop in stops if stop)


def _prompt_ids(runtime: GenerativeRuntime, payload: dict[str, Any], chat: bool) -> list[int]:
    processor = runtime.generation_processor
    if chat:
        if "messages" not in payload:
            raise OpenAIParameterError("messages is required: a list of {role, content}", "messages")
        return processor.chat_ids(payload["messages"])
    prompt = payload.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if isinstance(prompt, list) and prompt and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
        if min(prompt) < 0 or max(prompt) >= runtime.spec.vocab_size:
            raise OpenAIParameterError(f"prompt token ids must be in [0, {runtime.spec.vocab_size})", "prompt")
        return list(prompt)
    if not isinstance(prompt, str) or not prompt:
        raise OpenAIParameterError("prompt must be a non-empty string (one prompt per request)", "prompt")
    return processor.prompt_ids(prompt)


def asked(runtime: GenerativeRuntime, payload: dict[str, Any], *, chat: bool) -> Asked:
    """Check ``payload`` against the bundle; OpenAIParameterError (400) naming the parameter."""
    _unsupported(payload, chat)
    stream = payload.get("stream") or False
    if not isinstance(stream, bool):
        raise OpenAIParameterError("stream must be true or false", "stream")
    options = payload.get("stream_options")
    if options is not None and (not stream or not isinstance(options, dict)):
        raise OpenAIParameterError("stream_options is only allowed when stream is true", "stream_options")
    ids = _prompt_ids(runtime, payload, chat)
    request = generation_request(runtime, ids, payload, prompt_param="messages" if chat else "prompt")
    include_usage = bool(options.get("include_usage")) if isinstance(options, dict) else False
    return Asked(str(payload["model"]), chat, stream, include_usage, request)


def generation_request(
    runtime: GenerativeRuntime,
    ids: list[int],
    values: Mapping[str, Any],
    *,
    prompt_param: str,
    prefix: str = "",
    length_names: tuple[str, ...] = ("max_completion_tokens", "max_tokens"),
) -> GenerationRequest:
    """Prompt ``ids`` and the sampling ``values`` (every protocol's names) -> a checked GenerationRequest.

    ``temperature``, ``top_p``, ``top_k``, ``seed``, ``repetition_penalty``, ``stop`` and the first of
    ``length_names`` given (clamped to what the context leaves and to the bundle's cap); left out, the
    bundle's generation defaults. OpenAIParameterError (400) names ``prefix + name`` (e.g.
    ``parameters.temperature``); a prompt as long as the context is ``context_length_exceeded`` on
    ``prompt_param``.
    """
    spec, defaults = runtime.spec, runtime.spec.defaults
    room = spec.context_length - len(ids)
    if room < 1:
        raise OpenAIParameterError(
            f"This model's maximum context length is {spec.context_length} tokens. However, your "
            f"{prompt_param} resulted in {len(ids)} tokens. Please reduce the length.",
            prompt_param,
            "context_length_exceeded",
        )
    asked_length = (_whole(values, name, 1, prefix) for name in length_names)
    wanted = next((length for length in asked_length if length), spec.max_new_tokens)
    top_k = values.get("top_k")
    return GenerationRequest(
        prompt_ids=ids,
        max_new_tokens=min(wanted, spec.max_new_tokens, room),
        temperature=_number(values, "temperature", defaults.temperature, 0.0, 2.0, prefix=prefix),
        top_p=_number(values, "top_p", defaults.top_p, 0.0, 1.0, open_low=True, prefix=prefix),
        top_k=defaults.top_k if top_k in (None, -1) else (_whole(values, "top_k", 0, prefix) or 0),
        seed=_whole(values, "seed", -(2**63), prefix),
        repetition_penalty=_number(
            values, "repetition_penalty", defaults.repetition_penalty, 0.0, 10.0, open_low=True, prefix=prefix
        ),
        stop=_stops(values.get("stop"), prefix),
    )
