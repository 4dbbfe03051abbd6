"""SageMaker hosting contract: ``GET /ping`` and ``POST /invocations`` (JSON, CSV or .npy in and out).

``/ping`` is 200 only once every model is loaded and warm (TorchServe's shape: ``{"status": "Healthy"}``).
With several models loaded, ``/invocations`` picks one by the ``X-Maaskit-Model`` header, SageMaker's
``X-Amzn-SageMaker-Target-Model`` (``name`` or ``name-version[.tar.gz]``) or ``model=``/``version=``
in ``X-Amzn-SageMaker-Custom-Attributes``. JSON answers are ``{"model", "version", "predictions"[, "labels"]}``;
CSV and .npy answers carry the primary output (a classifier's labels, else the first output).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from bundle import Manifest
from handlers.answers import prediction_rows
from handlers.codecs import CSV, JSON, NPY, choose_accept, decode_feed, primary_output, to_csv, to_npy
from handlers.engine import ModelRepository, ModelRuntime
from handlers.errors import InvalidInputError, ServingError
from handlers.http import content_type, describe, error_response, json_response, pinned_version, read_body
from handlers.labels import predicted_labels
from handlers.offload import in_worker_process
from handlers.routing import RouteTable
from handlers.settings import Settings

__all__ = ["PROTOCOL", "MODEL_HEADER", "router", "select_model"]

PROTOCOL = "sagemaker"
MODEL_HEADER = "x-maaskit-model"
_TARGET_HEADER = "x-amzn-sagemaker-target-model"
_ATTRIBUTES_HEADER = "x-amzn-sagemaker-custom-attributes"


def _attributes(request: Request) -> dict[str, str]:
    raw = request.headers.get(_ATTRIBUTES_HEADER, "")
    pairs = (item.split("=", 1) for item in raw.replace(";", ",").split(",") if "=" in item)
    return {key.strip().lower(): value.strip() for key, value in pairs}


def select_model(repository: ModelRepository, request: Request) -> ModelRuntime:
    """The model version an /invocations request is for (see the module docstring)."""
    attributes = _attributes(request)
    name = request.headers.get(MODEL_HEADER) or attributes.get("model")
    version = pinned_version(request) or attributes.get("version")
    target = request.headers.get(_TARGET_HEADER)
    if not name and target:
        stem = target.removesuffix(".tar.gz").removesuffix(".tgz")
        if stem in repository.names():
            name = stem
        else:
            for runtime in repository:
                if runtime.key == stem:
                    name, version = runtime.name, runtime.version
    if not name:
        names = repository.names()
        if len(names) != 1:
            raise InvalidInputError(
                f"several models are loaded ({', '.join(names)}); name one with the X-Maaskit-Model header "
                "or CustomAttributes 'model=NAME'"
            )
        name = names[0]
    return repository.get(name, version)


def encode_answer(manifest: Manifest, outputs: dict[str, Any], accept: str) -> tuple[bytes, str]:
    """The answer's body and media type (module-level, so a worker process can run it)."""
    if accept == CSV:
        return to_csv(primary_output(manifest, outputs)), CSV
    if accept == NPY:
        return to_npy(primary_output(manifest, outputs)), NPY
    answer: dict[str, Any] = {
        "model": manifest.name,
        "version": manifest.version,
        "predictions": prediction_rows(manifest, outputs),
    }
    labels = predicted_labels(manifest, outputs)
    if labels is not None:
        answer["labels"] = labels
    return bytes(json_response(answer).body), JSON


def router(repository: ModelRepository, settings: Settings) -> RouteTable:
    """``/ping`` and ``/invocations`` over ``repository``."""
    api = RouteTable(tags=["sagemaker"])
    limit = settings.max_body_bytes

    @api.get("/ping")
    async def ping(request: Request) -> Response:
        """200 ``{"status": "Healthy"}`` once every model is loaded and warm, else 503 ``Unhealthy``."""
        describe(request, PROTOCOL)
        if repository.ready:
            return json_response({"status": "Healthy"})
        return json_response({"status": "Unhealthy"}, 503)

    @api.post("/invocations")
    async def invocations(request: Request) -> Response:
        """Predict from a JSON, CSV or .npy body; answer in the Accept type (JSON by default)."""
        describe(request, PROTOCOL)
        try:
            runtime = select_model(repository, request)
            describe(request, PROTOCOL, runtime.name, runtime.version)
            accept = choose_accept(request.headers.get("accept"))
            body, manifest = await read_body(request, limit), runtime.manifest
            size = len(body)
            feed = await in_worker_process(
                request, size, decode_feed, manifest, content_type(request), body, runtime.allow_nonfinite
            )
            outputs = await runtime.infer(feed)
            answer, media = await in_worker_process(request, size, encode_answer, manifest, outputs, accept)
            return Response(answer, media_type=media)
        except ServingError as error:
            return error_response(request, error, {"error": error.message})

    return api
