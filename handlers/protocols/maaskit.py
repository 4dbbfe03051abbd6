"""maaskit JSON: ``GET /models``, ``GET /models/{name}``, ``POST /models/{name}/predict``.

Predict takes ``{"inputs": {name: value}}`` or ``{"rows": [...]}`` (``{"b64": ...}`` objects are bytes)
with optional ``"parameters"``, and answers ``{"model", "version", "outputs": {name: ...}, "labels": [...]}``
(labels for classifiers), or, for a family with per-example answers (text, images),
``{"model", "version", "task", "predictions"}``: e.g. ``{"inputs": {"text": [...]}}`` or
``{"inputs": {"image": {"b64": ...}}}``, ``"parameters": {"top_k": k}``. One file may come unnamed:
``{"inputs": {"b64": ...}}`` (a speech model's recording, an image).
Errors are ``{"error": {"status", "type", "message"}}``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from handlers.codecs import binary, with_arrays
from handlers.engine import ModelRepository, ModelRuntime
from handlers.errors import InvalidInputError, ServingError, UnsupportedMediaTypeError
from handlers.http import JSON, content_type, json_response, jsonable, loads
from handlers.offload import in_process
from handlers.protocols.base import Codec, Decoded, Result, inference_endpoint, path_runtime
from handlers.routing import RouteTable
from handlers.settings import Settings
from handlers.vocabulary import Inputs

__all__ = ["PROTOCOL", "describe_version", "error_shape", "router"]

PROTOCOL = "maaskit"


def error_shape(error: ServingError) -> dict[str, Any]:
    """``{"error": {"status", "type", "message"}}``."""
    return {"error": {"status": error.status, "type": type(error).__name__, "message": error.message}}


def describe_version(runtime: ModelRuntime) -> dict[str, Any]:
    """Signature, labels and provenance of one loaded version."""
    manifest = runtime.manifest
    return {
        "name": runtime.name,
        "version": runtime.version,
        "ready": runtime.ready,
        "task": manifest.task,
        "inputs": [spec.model_dump() for spec in manifest.inputs],
        "outputs": [spec.model_dump() for spec in manifest.outputs],
        "labels": manifest.labels,
        "label_output": manifest.label_output,
        "probability_output": manifest.probability_output,
        "framework": manifest.framework.model_dump(),
        "created": manifest.created,
        "providers": runtime.providers,
    }


def _inputs(payload: Any) -> Inputs:
    if not isinstance(payload, dict):
        raise InvalidInputError('body must be a JSON object: {"inputs": {name: values}} or {"rows": [...]}')
    if "inputs" in payload and "rows" in payload:
        raise InvalidInputError('send either "inputs" or "rows", not both')
    options = payload.get("parameters") or {}  # read (and refused when malformed) by a family that takes them
    if "inputs" in payload:
        inputs = payload["inputs"]
        if isinstance(inputs, dict) and set(inputs) == {"b64"}:  # one file (an image, a recording), unnamed
            return Inputs(raw=binary(inputs, '"inputs"'), options=options, where='"inputs"')
        if not isinstance(inputs, dict):
            raise InvalidInputError('"inputs" must be an object keyed by input name')
        return Inputs(named=binary(inputs, '"inputs"'), options=options, where='"inputs"')
    if "rows" in payload:
        return Inputs(rows=binary(payload["rows"], '"rows"'), options=options, where='"rows"')
    raise InvalidInputError('body needs "inputs" (named tensors) or "rows" (one entry per example)')


def parse_predict(body: bytes) -> Inputs:
    """A predict body's inputs, numeric lists as arrays (module-level: a worker process runs it for large bodies)."""
    return with_arrays(_inputs(loads(body)))


class Predict(Codec[None]):
    """Predict with the latest version, or the one in the path, ``?version=`` or X-Maaskit-Model-Version."""

    def __init__(self, settings: Settings) -> None:
        self.processes = settings.decode_processes
        self.large = settings.offload_bytes

    def check_headers(self, request: Request, runtime: ModelRuntime) -> None:
        """JSON only (``application/json``, ``+json`` types, or no Content-Type)."""
        media = content_type(request)
        if media and media != JSON and not media.endswith("+json"):
            raise UnsupportedMediaTypeError(
                f"Content-Type {media!r} is not supported here; "
                "send application/json (or use /invocations for CSV/.npy)"
            )

    def decode(self, request: Request, runtime: ModelRuntime, body: bytes) -> Decoded[None]:
        """``{"inputs": {name: value}}`` or ``{"rows": [...]}``, with ``"parameters"`` (a large body parsed in a
        worker process, so that ``/ping`` never waits behind it)."""
        if self.processes and self.large and len(body) >= self.large:
            return Decoded(in_process(self.processes, parse_predict, body), None)
        return Decoded(_inputs(loads(body)), None)

    def encode(self, result: Result[None]) -> Response:
        """``{"model", "version", "outputs"[, "labels"]}``; per-example answers: ``{..., "task", "predictions"}``."""
        runtime = result.runtime
        answers = result.answer("predictions")
        head = {"model": runtime.name, "version": runtime.version}
        if answers.predictions is not None:
            return json_response({**head, "task": answers.task, "predictions": answers.predictions})
        answer = {**head, "outputs": {name: jsonable(value) for name, value in answers.outputs.items()}}
        if answers.labels is not None:
            answer["labels"] = answers.labels
        return json_response(answer)


def router(repository: ModelRepository, settings: Settings) -> RouteTable:
    """The maaskit JSON routes over ``repository``; its error shape is also the server's fallback."""
    api = RouteTable(PROTOCOL, error_shape, prefixes=("/",), tags=["maaskit"])

    @api.get("/models", response="ModelList")
    async def list_models(request: Request) -> Response:
        """Loaded models with their versions (latest last)."""
        models = [
            {"name": name, "versions": repository.version_names(name), "latest": repository.get(name).version}
            for name in repository.names()
        ]
        return json_response({"models": models})

    @api.get("/models/{name}", "/models/{name}/versions/{version}", response="ModelDetail")
    async def get_model(request: Request) -> Response:
        """Signature, labels and versions of a model (latest version, or the one pinned)."""
        runtime = path_runtime(repository, request)
        versions = repository.version_names(runtime.name)
        return json_response(
            {"name": runtime.name, "latest": versions[-1], "versions": versions, **describe_version(runtime)}
        )

    api.post(
        "/models/{name}/predict",
        "/models/{name}/versions/{version}/predict",
        body="PredictRequest",
        response="PredictResponse",
    )(inference_endpoint(Predict(settings), repository, settings))
    return api
