"""TorchServe inference API: ``POST /predictions/{name}[/{version}]``.

Bodies are JSON, or the kinds the model's processor takes (``bodies``: CSV and .npy for tensors, a
``text/plain`` text, an image file). One example (a row without its batch axis, one text, one image)
answers one prediction; a batch answers a list, in the shape of TorchServe's default handlers (the
processor's ``handler`` style: ``{label: probability}`` best first for classifiers, else the output
rows). ``?top_k=`` is passed to the processor. Errors are TorchServe's ``{"code", "type", "message"}``.
``GET /ping`` is the SageMaker route (same shape as TorchServe's).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from handlers.answers import rows_of, unwrap
from handlers.codecs import body_kind, check_single_array, decode_body
from handlers.engine import ModelRepository, ModelRuntime
from handlers.errors import (
    MethodNotAllowedError,
    ModelNotFoundError,
    RouteNotFoundError,
    ServingError,
    VersionNotFoundError,
)
from handlers.http import content_type, json_response
from handlers.protocols.base import Codec, Decoded, Result, inference_endpoint
from handlers.routing import RouteTable
from handlers.settings import Settings

__all__ = ["PROTOCOL", "error_shape", "router"]

PROTOCOL = "torchserve"
_TYPES = {
    400: "BadRequestException",
    406: "BadRequestException",
    408: "RequestTimeoutException",
    413: "RequestEntityTooLargeException",
    415: "BadRequestException",
    422: "PredictionException",
    503: "ServiceUnavailableException",
}


_KINDS: tuple[tuple[type[ServingError], str], ...] = (
    (VersionNotFoundError, "ModelVersionNotFoundException"),
    (ModelNotFoundError, "ModelNotFoundException"),
    (RouteNotFoundError, "ResourceNotFoundException"),
    (MethodNotAllowedError, "MethodNotAllowedException"),
)


def error_shape(error: ServingError) -> dict[str, Any]:
    """TorchServe's ``{"code", "type", "message"}``."""
    kind = next((name for cls, name in _KINDS if isinstance(error, cls)), None)
    return {
        "code": error.status,
        "type": kind or _TYPES.get(error.status, "InternalServerException"),
        "message": error.message,
    }


def _top_k(request: Request) -> dict[str, Any]:
    raw = request.query_params.get("top_k")
    if raw is None:
        return {}
    return {"top_k": int(raw) if raw.isdigit() else raw}  # the processor refuses what is not a positive number


class Predict(Codec[None]):
    """Predict with the latest version, or the one in the path (JSON, CSV, .npy, text or image body)."""

    def decode(self, request: Request, runtime: ModelRuntime, body: bytes) -> Decoded[None]:
        """The body's values; one example may come without its batch axis (the processor adds it)."""
        media = content_type(request)
        kind = body_kind(media, body, runtime.processor.bodies, runtime.name)
        check_single_array(runtime.manifest, kind)
        numeric = all(spec.dtype != "string" for spec in runtime.manifest.inputs)
        inputs = decode_body(media, body, kind, numeric)
        options = {**inputs.options, **_top_k(request)} if isinstance(inputs.options, dict) else inputs.options
        return Decoded(replace(inputs, options=options, may_omit_batch=True), None)

    def encode(self, result: Result[None]) -> Response:
        """Per example: the processor's handler-shaped answer (``{label: probability}``), else the output rows."""
        answers = result.answer("handler")
        if answers.predictions is not None:
            return json_response(answers.predictions)
        return json_response(unwrap(rows_of(answers.outputs), getattr(result.feed, "single", False)))


def router(repository: ModelRepository, settings: Settings) -> RouteTable:
    """The TorchServe inference routes over ``repository``.

    ``/ping`` is served by the SageMaker table (TorchServe has the same route); unknown methods and
    paths under it answer in TorchServe's shape, as TorchServe's own server does.
    """
    api = RouteTable(PROTOCOL, error_shape, prefixes=("/predictions", "/ping"), tags=["torchserve"])
    api.post("/predictions/{name}", "/predictions/{name}/{version}")(
        inference_endpoint(Predict(), repository, settings)
    )
    return api
