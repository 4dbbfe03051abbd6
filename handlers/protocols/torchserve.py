"""TorchServe inference API: ``POST /predictions/{name}[/{version}]``.

Bodies are JSON, CSV or .npy. One example (a row without its batch axis) answers one prediction;
a batch answers a list. A classifier's prediction is ``{label: probability}`` sorted by probability (as
TorchServe's classifier handlers answer); other models answer their output row(s). Text models take a
``text/plain`` body (one text) or JSON texts (see :mod:`handlers.text.wire`). Errors are TorchServe's
``{"code", "type", "message"}``. ``GET /ping`` is the SageMaker route (same shape as TorchServe's).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import Response

from handlers.answers import class_scores, prediction_rows
from handlers.codecs import decode_body
from handlers.engine import ModelRepository, ModelRuntime
from handlers.errors import (
    MethodNotAllowedError,
    ModelNotFoundError,
    RouteNotFoundError,
    ServingError,
    VersionNotFoundError,
)
from handlers.http import content_type, json_response
from handlers.image.processor import image_processor_of
from handlers.image.wire import ImageRequest, torchserve_images
from handlers.image.wire import torchserve_answer as image_answer
from handlers.processing import Inputs
from handlers.protocols.base import Codec, Decoded, Result, inference_endpoint
from handlers.routing import RouteTable
from handlers.settings import Settings
from handlers.text.processor import text_processor_of
from handlers.text.wire import TextRequest, torchserve_answer, torchserve_texts

__all__ = ["PROTOCOL", "error_shape", "router"]

PROTOCOL = "torchserve"
_TYPES = {
    400: "BadRequestException",
    406: "BadRequestException",
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


def _add_batch_axis(runtime: ModelRuntime, tensors: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """A single example (every input one axis short) gets a batch axis of one; tells whether it did."""
    specs = runtime.manifest.inputs
    try:
        arrays = {name: np.asarray(value) for name, value in tensors.items()}
    except (ValueError, TypeError):
        return tensors, False  # ragged: validation names the problem
    single = all(
        spec.name in arrays and arrays[spec.name].ndim + 1 == len(spec.shape) and spec.shape[0] is None
        for spec in specs
    )
    if not single:
        return tensors, False
    return {name: array[np.newaxis, ...] for name, array in arrays.items()}, True


class Predict(Codec[bool | TextRequest | ImageRequest]):
    """Predict with the latest version, or the one in the path (JSON, CSV or .npy body; text for text models)."""

    def decode(
        self, request: Request, runtime: ModelRuntime, body: bytes
    ) -> Decoded[bool | TextRequest | ImageRequest]:
        """The body's tensors; one example (no batch axis) gets one, and the state remembers it."""
        if image_processor_of(runtime) is not None:
            return Decoded(*torchserve_images(request, content_type(request), body))
        if text_processor_of(runtime) is not None:
            return Decoded(*torchserve_texts(request, content_type(request), body))
        tensors = decode_body(runtime.manifest, content_type(request), body)
        tensors, single = _add_batch_axis(runtime, tensors)
        return Decoded(Inputs(tensors), single)

    def encode(self, result: Result[bool | TextRequest | ImageRequest]) -> Response:
        """Per example: a classifier's ``{label: probability}``, else the output row(s)."""
        manifest, outputs = result.runtime.manifest, result.outputs
        image = image_processor_of(result.runtime)
        if image is not None and isinstance(result.state, ImageRequest):
            return json_response(image_answer(image, outputs, result.state))
        processor = text_processor_of(result.runtime)
        if processor is not None and isinstance(result.state, TextRequest):
            return json_response(torchserve_answer(processor, result.feed, outputs, result.state))
        scores = class_scores(manifest, outputs)
        rows: Any = scores if scores is not None else prediction_rows(manifest, outputs)
        return json_response(rows[0] if result.state else rows)


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
