"""maaskit JSON: ``GET /models``, ``GET /models/{name}``, ``POST /models/{name}/predict``.

Predict takes ``{"inputs": {name: nested list}}`` or ``{"rows": [...]}`` and answers
``{"model", "version", "outputs": {name: ...}, "labels": [...]}`` (labels for classifiers). Text
models also take ``{"inputs": {"text": str | [str]}, "parameters": {"top_k": k}}`` and answer
``{"model", "version", "task", "predictions"}`` (see :mod:`handlers.text.wire`).
Errors are ``{"error": {"status", "type", "message"}}``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from handlers.answers import labelled
from handlers.engine import ModelRepository, ModelRuntime
from handlers.errors import InvalidInputError, ServingError, UnsupportedMediaTypeError
from handlers.http import JSON, content_type, json_response, jsonable, loads
from handlers.image.processor import image_processor_of
from handlers.image.wire import ImageRequest, maaskit_images
from handlers.image.wire import predictions as image_predictions
from handlers.labels import label_output_values
from handlers.processing import Inputs
from handlers.protocols.base import Codec, Decoded, Result, inference_endpoint, path_runtime
from handlers.routing import RouteTable
from handlers.settings import Settings
from handlers.tabular import rows_to_tensors
from handlers.text.processor import text_processor_of
from handlers.text.wire import TextRequest, maaskit_texts

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


class Predict(Codec[TextRequest | ImageRequest | None]):
    """Predict with the latest version, or the one in the path, ``?version=`` or X-Maaskit-Model-Version."""

    def check_headers(self, request: Request, runtime: ModelRuntime) -> None:
        """JSON only (``application/json``, ``+json`` types, or no Content-Type)."""
        media = content_type(request)
        if media and media != JSON and not media.endswith("+json"):
            raise UnsupportedMediaTypeError(
                f"Content-Type {media!r} is not supported here; "
                "send application/json (or use /invocations for CSV/.npy)"
            )

    def decode(
        self, request: Request, runtime: ModelRuntime, body: bytes
    ) -> Decoded[TextRequest | ImageRequest | None]:
        """``{"inputs": {name: tensor}}`` or ``{"rows": [...]}``; text models also ``{"inputs": {"text": ...}}``,
        image models ``{"inputs": {"image": {"b64": ...} | [...]}}``."""
        payload = loads(body)
        images = maaskit_images(payload) if image_processor_of(runtime) else None
        if images is not None:
            return Decoded(*images)
        texts = maaskit_texts(payload) if text_processor_of(runtime) else None
        if texts is not None:
            return Decoded(*texts)
        return Decoded(Inputs(_tensors(payload, runtime)), None)

    def encode(self, result: Result[TextRequest | ImageRequest | None]) -> Response:
        """``{"model", "version", "outputs"[, "labels"]}``; text or images: ``{..., "task", "predictions"}``."""
        runtime, outputs = result.runtime, result.outputs
        image = image_processor_of(runtime)
        if image is not None and isinstance(result.state, ImageRequest):
            ranked = image_predictions(image, outputs, result.state.top_k)
            return json_response(
                {"model": runtime.name, "version": runtime.version, "task": image.task, "predictions": ranked}
            )
        processor = text_processor_of(runtime)
        if processor is not None and isinstance(result.state, TextRequest):
            predictions = processor.predictions(result.feed, outputs, result.state.top_k)
            return json_response(
                {"model": runtime.name, "version": runtime.version, "task": processor.task, "predictions": predictions}
            )
        manifest = runtime.manifest
        mapped = {name: jsonable(label_output_values(manifest, name, value)) for name, value in outputs.items()}
        answer = {"model": runtime.name, "version": runtime.version, "outputs": mapped}
        return json_response(labelled(answer, manifest, outputs))


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
    )(inference_endpoint(Predict(), repository, settings))
    return api
