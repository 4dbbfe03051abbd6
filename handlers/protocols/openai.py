"""OpenAI-compatible embeddings: ``POST /v1/embeddings`` and ``GET /v1/models``.

Requests and answers follow the OpenAI API reference, so the official ``openai`` client and the tools
built on it work unchanged: ``input`` is a string, a list of strings, a token array (``list[int]``) or a
list of token arrays; ``model`` names a loaded embedding bundle (its name, or ``name-version`` to pin
one); ``encoding_format`` is ``float`` (default) or ``base64`` (each vector's little-endian float32
bytes, what the client asks for by default); ``dimensions`` shortens the vectors when the bundle
declares truncatable embeddings (re-normalised when the model normalises). ``usage`` counts the
tokens the model read. Errors are OpenAI's ``{"error": {"message", "type", "param", "code"}}``.

Texts reach the model's processor as raw examples and token arrays as token ids (an explicit kind of
input); the vectors come from the processor's ``embedder``, so any family that answers embeddings is
served, and ``GET /v1/models`` lists exactly the models that have one.

``GET /v1/models/{name}`` stays TensorFlow Serving's model status route (OpenAI's "retrieve model").

Every embedding model is also an OpenAI base URL of its own, ``/models/{name}/v1`` (``POST
/models/{name}/v1/embeddings``, ``GET /models/{name}/v1/models``): a deployed API routes
``/models/{name}/...`` to that model's function, so each of a stage's embedding models is reachable
with ``OpenAI(base_url=f"{api}/models/{name}/v1")``; the body's ``model`` must then name that model.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import Response

from handlers.engine import ModelRepository, ModelRuntime
from handlers.errors import InvalidInputError, ModelNotFoundError, ServingError, UnsupportedMediaTypeError
from handlers.http import JSON, content_type, describe_model, json_response, loads, pinned_version
from handlers.protocols.base import Call, Codec, Decoded, Result, inference_endpoint
from handlers.routing import RouteTable
from handlers.settings import Settings
from handlers.vocabulary import MAX_EXAMPLES, Embedder, Inputs

__all__ = ["PROTOCOL", "OpenAIParameterError", "error_shape", "openai_model", "router"]

PROTOCOL = "openai"
_FORMATS = ("float", "base64")
_TYPES = {400: "invalid_request_error", 404: "invalid_request_error", 413: "invalid_request_error"}
_CODES = {404: "model_not_found", 413: "request_too_large", 415: "unsupported_media_type", 503: "model_not_ready"}


class OpenAIParameterError(InvalidInputError):
    """A bad request parameter; ``param`` names it in the error object, as OpenAI does."""

    def __init__(self, message: str, param: str, code: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.param = param
        self.code = code
        self.status = status


def error_shape(error: ServingError) -> dict[str, Any]:
    """``{"error": {"message", "type", "param", "code"}}``."""
    kind = _TYPES.get(error.status, "invalid_request_error" if error.status < 500 else "server_error")
    return {
        "error": {
            "message": error.message,
            "type": kind,
            "param": getattr(error, "param", None),
            "code": getattr(error, "code", None) or _CODES.get(error.status),
        }
    }


@dataclass(frozen=True)
class _Asked:
    model: str
    encoding: str
    dimensions: int | None


def _payload(request: Request, body: bytes) -> dict[str, Any]:
    cached = getattr(request.state, "openai_payload", None)
    if cached is not None:
        return dict(cached)
    payload = loads(body)
    if not isinstance(payload, dict):
        raise InvalidInputError('the body must be a JSON object: {"model": ..., "input": ...}')
    request.state.openai_payload = payload
    return payload


def _check_json(request: Request) -> None:
    media = content_type(request)
    if media and media != JSON and not media.endswith("+json"):
        raise UnsupportedMediaTypeError(f"Content-Type {media!r} is not supported; send application/json")


def openai_model(repository: ModelRepository, request: Request, model: object, kind: str) -> ModelRuntime:
    """The runtime an OpenAI request's ``model`` names (``name`` or ``name-version``), within the base URL's model.

    ``kind`` says what the route serves ("embedding", "text-generation", "speech") in the error asking for one.
    Every OpenAI route resolves its model here, so they all refuse a wrong name the same way.
    """
    if not isinstance(model, str) or not model:
        raise OpenAIParameterError(f"model is required: the name of a loaded {kind} model", "model")
    scope = request.path_params.get("name")
    for runtime in repository:
        if runtime.key == model and scope in (None, runtime.name):  # name-version pins a version
            return runtime
    if scope is not None and model != scope:
        raise OpenAIParameterError(
            f"this base URL (/models/{scope}/v1) serves model {scope}, not {model}: set model={scope!r}, "
            f"or use the base URL /models/{model}/v1",
            "model",
            "model_not_found",
            404,
        )
    try:
        return repository.get(model, pinned_version(request))
    except ModelNotFoundError as error:
        raise OpenAIParameterError(error.message, "model", "model_not_found", error.status) from None


def _model(repository: ModelRepository, request: Request, payload: dict[str, Any]) -> ModelRuntime:
    return openai_model(repository, request, payload.get("model"), "embedding")


def _token_arrays(value: list[Any]) -> list[list[int]] | None:
    """``value`` as token arrays when it is one (``list[int]``) or several (``list[list[int]]``)."""
    if all(isinstance(item, int) and not isinstance(item, bool) for item in value):
        return [value]
    if all(isinstance(item, list) for item in value):
        return value
    return None


def _inputs(value: Any) -> Inputs:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise OpenAIParameterError("input must be a string, a list of strings or token arrays", "input")
    if not value:
        raise OpenAIParameterError("input is empty; send at least one text", "input")
    if len(value) > MAX_EXAMPLES:
        raise OpenAIParameterError(
            f"input holds {len(value)} items, over the limit of {MAX_EXAMPLES}; split it", "input"
        )
    if all(isinstance(item, str) for item in value):
        for index, text in enumerate(value):
            if not text:
                raise OpenAIParameterError(f"input[{index}] is an empty string; send text", "input")
        return Inputs(raw=value, where="input")
    arrays = _token_arrays(value)
    if arrays is None:
        raise OpenAIParameterError(
            "input must be all strings or all token ids; it mixes types (e.g. a string and a number)", "input"
        )
    return Inputs(tokens=arrays, where="input")


def _embedder(runtime: ModelRuntime) -> Embedder | None:
    return getattr(runtime.processor, "embedder", None)


def _asked(payload: dict[str, Any], embedder: Embedder, model: str) -> _Asked:
    encoding = payload.get("encoding_format") or "float"
    if encoding not in _FORMATS:
        raise OpenAIParameterError(f"encoding_format must be 'float' or 'base64', got {encoding!r}", "encoding_format")
    dimensions = payload.get("dimensions")
    if dimensions is not None:
        if isinstance(dimensions, bool) or not isinstance(dimensions, int):
            raise OpenAIParameterError(f"dimensions must be a whole number, got {dimensions!r}", "dimensions")
        try:
            embedder.check(dimensions)
        except InvalidInputError as error:
            raise OpenAIParameterError(error.message, "dimensions") from None
    return _Asked(model, encoding, dimensions)


class Embeddings(Codec[_Asked]):
    """Embeddings of texts or token arrays (OpenAI's ``POST /v1/embeddings``)."""

    async def resolve(self, call: Call) -> ModelRuntime:
        """The model named by the body's ``model``; it must be an embedding model."""
        _check_json(call.request)  # before the body is parsed for its model
        runtime = _model(call.repository, call.request, _payload(call.request, await call.body()))
        describe_model(call.request, runtime.name, runtime.version)
        if _embedder(runtime) is None:
            raise OpenAIParameterError(
                f"model {runtime.name} is not an embedding model (task {runtime.manifest.task}); "
                "/v1/embeddings serves feature-extraction bundles",
                "model",
                "model_not_supported",
            )
        return runtime

    def check_headers(self, request: Request, runtime: ModelRuntime) -> None:
        """JSON bodies only."""
        _check_json(request)

    def decode(self, request: Request, runtime: ModelRuntime, body: bytes) -> Decoded[_Asked]:
        """``input``, ``encoding_format`` and ``dimensions``, each checked before inference."""
        payload = _payload(request, body)
        if "input" not in payload:
            raise OpenAIParameterError("input is required: a string, a list of strings or token arrays", "input")
        embedder = _embedder(runtime)
        assert embedder is not None  # resolve() checked
        return Decoded(_inputs(payload["input"]), _asked(payload, embedder, str(payload["model"])))

    def encode(self, result: Result[_Asked]) -> Response:
        """OpenAI's list of ``{"object": "embedding", "index", "embedding"}`` with ``usage``."""
        embedder = _embedder(result.runtime)
        assert embedder is not None
        vectors = embedder.vectors(result.feed, result.outputs, result.state.dimensions)
        if result.state.encoding == "base64":
            little = np.ascontiguousarray(vectors, dtype="<f4")
            values: list[Any] = [base64.b64encode(row.tobytes()).decode("ascii") for row in little]
        else:
            values = list(vectors)  # numpy rows: orjson writes them natively at float32 precision
        data = [{"object": "embedding", "index": index, "embedding": value} for index, value in enumerate(values)]
        tokens = embedder.token_count(result.feed)
        return json_response(
            {
                "object": "list",
                "data": data,
                "model": result.state.model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )


def _model_entry(runtime: ModelRuntime) -> dict[str, Any]:
    try:
        created = int(datetime.fromisoformat(runtime.manifest.created.replace("Z", "+00:00")).timestamp())
    except ValueError:
        created = 0
    return {"id": runtime.name, "object": "model", "created": created, "owned_by": "maaskit"}


#: Tasks the OpenAI routes answer besides embeddings (``/v1/chat/completions``, ``/v1/completions``, audio).
OPENAI_TASKS = frozenset({"text-generation", "automatic-speech-recognition"})


def _listed(runtime: ModelRuntime) -> bool:
    """Whether an OpenAI route answers this model (so ``/v1/models`` lists it)."""
    return _embedder(runtime) is not None or runtime.manifest.task in OPENAI_TASKS


def router(repository: ModelRepository, settings: Settings) -> RouteTable:
    """``POST /v1/embeddings`` and ``GET /v1/models`` over ``repository``, also under ``/models/{name}/v1``."""
    api = RouteTable(PROTOCOL, error_shape, prefixes=("/v1/embeddings",), tags=["openai"])

    @api.get("/v1/models")
    async def list_models(request: Request) -> Response:
        """The models an OpenAI route serves (embeddings, chat and completions, transcriptions), latest version each."""
        latest = (repository.get(name) for name in repository.names())
        data = [_model_entry(runtime) for runtime in latest if _listed(runtime)]
        return json_response({"object": "list", "data": data})

    @api.get("/models/{name}/v1/models")
    async def list_scoped(request: Request) -> Response:
        """The model of the base URL ``/models/{name}/v1`` in OpenAI's list shape (empty unless OpenAI serves it)."""
        name = request.path_params["name"]
        try:
            runtime = repository.get(name)
        except ModelNotFoundError as error:
            raise OpenAIParameterError(error.message, "model", "model_not_found", error.status) from None
        data = [_model_entry(runtime)] if _listed(runtime) else []
        return json_response({"object": "list", "data": data})

    api.post("/v1/embeddings", "/models/{name}/v1/embeddings")(inference_endpoint(Embeddings(), repository, settings))
    return api
