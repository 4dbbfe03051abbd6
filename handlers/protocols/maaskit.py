"""maaskit JSON: ``GET /models``, ``GET /models/{name}``, ``POST /models/{name}/predict``.

Predict takes ``{"inputs": {name: nested list}}`` or ``{"rows": [...]}`` and answers
``{"model", "version", "outputs": {name: ...}, "labels": [...]}`` (labels for classifiers).
Errors are ``{"error": {"status", "type", "message"}}``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from handlers.engine import ModelRepository, ModelRuntime
from handlers.errors import InvalidInputError, ServingError, UnsupportedMediaTypeError
from handlers.http import (
    JSON,
    NAME_PARAMS,
    NAME_VERSION_PARAMS,
    content_type,
    describe,
    error_response,
    json_response,
    jsonable,
    loads,
    pinned_version,
    read_body,
)
from handlers.labels import label_output_values, predicted_labels
from handlers.offload import off_loop
from handlers.routing import RouteTable
from handlers.settings import Settings
from handlers.tabular import rows_to_tensors
from handlers.validation import coerce_feed

__all__ = ["PROTOCOL", "describe_version", "router"]

PROTOCOL = "maaskit"


def _error(request: Request, error: ServingError) -> Response:
    body = {"error": {"status": error.status, "type": type(error).__name__, "message": error.message}}
    return error_response(request, error, body)


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


def _tensors(payload: Any, runtime: ModelRuntime) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise InvalidInputError('body must be a JSON object: {"inputs": {name: values}} or {"rows": [...]}')
    if "inputs" in payload and "rows" in payload:
        raise InvalidInputError('send either "inputs" or "rows", not both')
    if "inputs" in payload:
        inputs = payload["inputs"]
        if not isinstance(inputs, dict):
            raise InvalidInputError('"inputs" must be an object keyed by input name')
        return inputs
    if "rows" in payload:
        return rows_to_tensors(runtime.manifest, payload["rows"])
    raise InvalidInputError('body needs "inputs" (named tensors) or "rows" (one entry per example)')


def _answer(runtime: ModelRuntime, outputs: dict[str, Any]) -> Response:
    manifest = runtime.manifest
    answer: dict[str, Any] = {
        "model": runtime.name,
        "version": runtime.version,
        "outputs": {name: jsonable(label_output_values(manifest, name, value)) for name, value in outputs.items()},
    }
    labels = predicted_labels(manifest, outputs)
    if labels is not None:
        answer["labels"] = labels
    return json_response(answer)


def router(repository: ModelRepository, settings: Settings) -> RouteTable:
    """The maaskit JSON routes over ``repository``."""
    api = RouteTable(tags=["maaskit"])
    limit = settings.max_body_bytes

    @api.get("/models", openapi_extra={"x-maaskit-response": "ModelList"})
    async def list_models(request: Request) -> Response:
        """Loaded models with their versions (latest last)."""
        describe(request, PROTOCOL)
        models = [
            {"name": name, "versions": repository.version_names(name), "latest": repository.get(name).version}
            for name in repository.names()
        ]
        return json_response({"models": models})

    async def model(request: Request, name: str, version: str | None) -> Response:
        describe(request, PROTOCOL)
        try:
            runtime = repository.get(name, pinned_version(request, version))
            describe(request, PROTOCOL, runtime.name, runtime.version)
            versions = repository.version_names(name)
            return json_response(
                {"name": name, "latest": versions[-1], "versions": versions, **describe_version(runtime)}
            )
        except ServingError as error:
            return _error(request, error)

    @api.get("/models/{name}", openapi_extra={"x-maaskit-response": "ModelDetail", **NAME_PARAMS})
    async def get_model(request: Request) -> Response:
        """Signature, labels and versions of a model (latest version, or the one pinned)."""
        name = request.path_params["name"]
        return await model(request, name, None)

    @api.get(
        "/models/{name}/versions/{version}", openapi_extra={"x-maaskit-response": "ModelDetail", **NAME_VERSION_PARAMS}
    )
    async def get_model_version(request: Request) -> Response:
        """Signature and labels of one version."""
        name = request.path_params["name"]
        version = request.path_params["version"]
        return await model(request, name, version)

    async def predict(request: Request, name: str, version: str | None) -> Response:
        describe(request, PROTOCOL)
        try:
            runtime = repository.get(name, pinned_version(request, version))
            describe(request, PROTOCOL, runtime.name, runtime.version)
            media = content_type(request)
            if media and media != JSON and not media.endswith("+json"):
                raise UnsupportedMediaTypeError(
                    f"Content-Type {media!r} is not supported here; "
                    "send application/json (or use /invocations for CSV/.npy)"
                )
            body = await read_body(request, limit)

            def decode() -> dict[str, Any]:
                tensors = _tensors(loads(body), runtime)
                return coerce_feed(runtime.manifest, tensors, allow_nonfinite=runtime.allow_nonfinite)

            outputs = await runtime.infer(await off_loop(request, len(body), decode))
        except ServingError as error:
            return _error(request, error)
        return await off_loop(request, len(body), lambda: _answer(runtime, outputs))

    extra = {"x-maaskit-body": "PredictRequest", "x-maaskit-response": "PredictResponse"}

    @api.post("/models/{name}/predict", openapi_extra={**extra, **NAME_PARAMS})
    async def predict_latest(request: Request) -> Response:
        """Predict with the latest version (or the one pinned by ``?version=`` or X-Maaskit-Model-Version)."""
        name = request.path_params["name"]
        return await predict(request, name, None)

    @api.post("/models/{name}/versions/{version}/predict", openapi_extra={**extra, **NAME_VERSION_PARAMS})
    async def predict_version(request: Request) -> Response:
        """Predict with one version."""
        name = request.path_params["name"]
        version = request.path_params["version"]
        return await predict(request, name, version)

    return api
