"""Who called and how much they used: the caller's identity and the units of one answer.

The caller comes from the event API Gateway handed to Lambda (``scope["aws.event"]``, set by Mangum):

- a consumer key (``auth: keys``): the authorizer's context (``consumer``, ``apiKeyId``, ``plan``) and
  ``identity.apiKeyId``: the key's **id**, never the key;
- IAM (SigV4): ``identity.userArn`` (REST) or ``authorizer.iam.userArn`` (HTTP API);
- anything else (local ``serve``, SageMaker, Function URLs without auth): ``anonymous``.

Units: one request, plus what the answer consumed. Code that knows calls one of :func:`record_feed`
(the pipeline, after preprocessing: a text feed's ``token_counts`` are prompt tokens, a speech feed's
``audio_seconds`` its audio), :func:`record_usage` (generative answers: prompt and completion tokens) or
:func:`record_audio` (seconds of audio, where no feed carries them). The units live in the request's
ASGI scope, where the observability middleware reads them when the answer ends.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from bundle.reference import METERING_DIMENSIONS, METERING_METRICS

__all__ = [
    "ANONYMOUS",
    "Caller",
    "Units",
    "caller_of",
    "metering_directive",
    "metering_fields",
    "record_audio",
    "record_feed",
    "record_usage",
    "route_of",
    "units_of",
]

ANONYMOUS = "anonymous"
_UNITS_KEY = "maaskit.units"
_FIELD_LIMIT = 256


class Units:
    """What one answer consumed besides the request itself."""

    __slots__ = ("audio_seconds", "completion_tokens", "prompt_tokens")

    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.audio_seconds = 0.0


@dataclass(frozen=True)
class Caller:
    """The identity of a request's caller (``kind``: ``api_key``, ``iam`` or ``anonymous``)."""

    kind: str
    consumer: str
    api_key_id: str | None = None
    principal: str | None = None
    plan: str | None = None
    source_ip: str | None = None


def _cut(value: Any) -> str | None:
    return None if value in (None, "") else str(value)[:_FIELD_LIMIT]


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _request_context(scope: Mapping[str, Any]) -> Mapping[str, Any]:
    event = scope.get("aws.event")
    context = event.get("requestContext") if isinstance(event, Mapping) else None
    return context if isinstance(context, Mapping) else {}


def caller_of(scope: Mapping[str, Any]) -> Caller:
    """The caller of the request whose ASGI scope is ``scope``."""
    context = _request_context(scope)
    identity = _mapping(context.get("identity"))
    outer = _mapping(context.get("authorizer"))
    authorizer = _mapping(outer.get("lambda")) or outer  # HTTP API v2 puts a Lambda authorizer's context in "lambda"
    client = scope.get("client")
    source_ip = _cut(
        identity.get("sourceIp") or _mapping(context.get("http")).get("sourceIp") or (client[0] if client else None)
    )
    key_id = _cut(authorizer.get("apiKeyId") or identity.get("apiKeyId"))
    if key_id is not None:
        consumer = _cut(authorizer.get("consumer")) or key_id
        return Caller(
            "api_key", consumer, key_id, _cut(authorizer.get("principalId")), _cut(authorizer.get("plan")), source_ip
        )
    principal = _cut(identity.get("userArn") or _mapping(outer.get("iam")).get("userArn"))
    if principal is not None:  # one consumer per role, not per role session (metric dimensions stay few)
        consumer = principal.rsplit("/", 1)[0] if ":assumed-role/" in principal else principal
        return Caller("iam", consumer, principal=principal, source_ip=source_ip)
    return Caller(ANONYMOUS, ANONYMOUS, source_ip=source_ip)


def route_of(scope: Mapping[str, Any]) -> str:
    """The API route that answered: API Gateway's resource path when there is one, else the request path."""
    context = _request_context(scope)
    route = context.get("resourcePath") or context.get("routeKey")
    return str(route or scope.get("path", ""))[:_FIELD_LIMIT]


def units_of(scope: MutableMapping[str, Any]) -> Units:
    """The request's units (made on first use)."""
    units = scope.get(_UNITS_KEY)
    if not isinstance(units, Units):
        units = scope[_UNITS_KEY] = Units()
    return units


def _scope(request: Any) -> MutableMapping[str, Any]:
    scope: MutableMapping[str, Any] = request.scope if hasattr(request, "scope") else request
    return scope


def record_feed(request: Any, feed: Any) -> None:
    """Count what a feed holds: ``token_counts`` (text feeds) as prompt tokens, ``audio_seconds`` (speech
    feeds) as audio seconds; a feed with neither adds nothing. Called once per request, after preprocessing."""
    counts = getattr(feed, "token_counts", None)
    seconds = getattr(feed, "audio_seconds", None)
    if counts:
        units_of(_scope(request)).prompt_tokens += int(sum(counts))
    if seconds:
        units_of(_scope(request)).audio_seconds += float(seconds)


def record_usage(request: Any, prompt_tokens: int, completion_tokens: int) -> None:
    """Record a generative answer's usage (what OpenAI's ``usage`` reports)."""
    units = units_of(_scope(request))
    units.prompt_tokens += int(prompt_tokens)
    units.completion_tokens += int(completion_tokens)


def record_audio(request: Any, seconds: float) -> None:
    """Record the seconds of audio a speech answer transcribed."""
    units_of(_scope(request)).audio_seconds += float(seconds)


def metering_fields(scope: Mapping[str, Any]) -> dict[str, Any]:
    """Log fields of the caller and units (the metric values too: see :func:`metering_directive`)."""
    caller = caller_of(scope)
    units = scope.get(_UNITS_KEY)
    fields: dict[str, Any] = {
        "stage": str(_request_context(scope).get("stage") or "local")[:_FIELD_LIMIT],
        "consumer": caller.consumer,
        "caller_type": caller.kind,
        "route": route_of(scope),
        "source_ip": caller.source_ip,
        "Requests": 1,
        "PromptTokens": units.prompt_tokens if isinstance(units, Units) else 0,
        "CompletionTokens": units.completion_tokens if isinstance(units, Units) else 0,
        "AudioSeconds": round(units.audio_seconds, 3) if isinstance(units, Units) else 0.0,
    }
    if caller.api_key_id is not None:
        fields["api_key_id"] = caller.api_key_id
        fields["plan"] = caller.plan
    if caller.principal is not None and caller.kind == "iam":
        fields["principal"] = caller.principal
    return fields


_UNIT_OF = {"Requests": "Count", "PromptTokens": "Count", "CompletionTokens": "Count", "AudioSeconds": "Seconds"}


def metering_directive(namespace: str) -> dict[str, Any]:
    """The EMF directive that turns the metering fields into metrics per ``consumer`` and ``model``."""
    return {
        "Namespace": namespace,
        "Dimensions": [list(METERING_DIMENSIONS)],
        "Metrics": [{"Name": name, "Unit": _UNIT_OF[name]} for name in METERING_METRICS],
    }
