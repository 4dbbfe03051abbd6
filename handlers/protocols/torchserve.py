"""TorchServe inference API: ``POST /predictions/{name}[/{version}]``.

Bodies are JSON, CSV or .npy. One example (a row without its batch axis) answers one prediction;
a batch answers a list. A classifier's prediction is ``{label: probability}`` sorted by probability (as
TorchServe's classifier handlers answer); other models answer their output row(s). Errors are TorchServe's
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
from handlers.errors import ModelNotFoundError, ServingError, VersionNotFoundError
from handlers.http import (
    NAME_PARAMS,
    NAME_VERSION_PARAMS,
    content_type,
    describe,
    error_response,
    json_response,
    pinned_version,
    read_body,
)
from handlers.offload import off_loop
from handlers.routing import RouteTable
from handlers.settings import Settings
from handlers.validation import coerce_feed

__all__ = ["PROTOCOL", "router"]

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


def _error(request: Request, error: ServingError) -> Response:
    if isinstance(error, VersionNotFoundError):
        kind = "ModelVersionNotFoundException"
    elif isinstance(error, ModelNotFoundError):
        kind = "ModelNotFoundException"
    else:
        kind = _TYPES.get(error.status, "InternalServerException")
    return error_response(request, error, {"code": error.status, "type": kind, "message": error.message})


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


def router(repository: ModelRepository, settings: Settings) -> RouteTable:
    """The TorchServe inference routes over ``repository``."""
    api = RouteTable(tags=["torchserve"])
    limit = settings.max_body_bytes

    async def predict(request: Request, name: str, version: str | None) -> Response:
        describe(request, PROTOCOL)
        try:
            runtime = repository.get(name, pinned_version(request, version))
            describe(request, PROTOCOL, runtime.name, runtime.version)
            body, media = await read_body(request, limit), content_type(request)

            def decode() -> tuple[dict[str, Any], bool]:
                tensors, single = _add_batch_axis(runtime, decode_body(runtime.manifest, media, body))
                return coerce_feed(runtime.manifest, tensors, allow_nonfinite=runtime.allow_nonfinite), single

            feed, single = await off_loop(request, len(body), decode)
            outputs = await runtime.infer(feed)
        except ServingError as error:
            return _error(request, error)

        def encode() -> Response:
            answer = class_scores(runtime.manifest, outputs)
            rows: Any = answer if answer is not None else prediction_rows(runtime.manifest, outputs)
            return json_response(rows[0] if single else rows)

        return await off_loop(request, len(body), encode)

    @api.post("/predictions/{name}", openapi_extra=NAME_PARAMS)
    async def predict_latest(request: Request) -> Response:
        """Predict with the latest version (JSON, CSV or .npy body)."""
        name = request.path_params["name"]
        return await predict(request, name, None)

    @api.post("/predictions/{name}/{version}", openapi_extra=NAME_VERSION_PARAMS)
    async def predict_version(request: Request) -> Response:
        """Predict with one version."""
        name = request.path_params["name"]
        version = request.path_params["version"]
        return await predict(request, name, version)

    return api
