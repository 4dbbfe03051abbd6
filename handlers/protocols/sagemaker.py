"""SageMaker hosting contract: ``GET /ping`` and ``POST /invocations`` (JSON, CSV or .npy in and out).

``/ping`` is 200 only once every model is loaded and warm (TorchServe's shape: ``{"status": "Healthy"}``).
With several models loaded, ``/invocations`` picks one by the ``X-Maaskit-Model`` header, SageMaker's
``X-Amzn-SageMaker-Target-Model`` (``name`` or ``name-version[.tar.gz]``) or ``model=``/``version=``
in ``X-Amzn-SageMaker-Custom-Attributes``. JSON answers are ``{"model", "version", "predictions"[, "labels"]}``;
CSV and .npy answers carry the primary output (a classifier's labels, else the first output). Text models
take the Hugging Face inference toolkit's ``{"inputs": ..., "parameters": {...}}`` and answer in its
pipelines' shapes (see :mod:`handlers.text.wire`).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from handlers.answers import labelled, prediction_rows
from handlers.codecs import CSV, JSON, NPY, choose_accept, decode_body, primary_output, to_csv, to_npy
from handlers.engine import ModelRepository, ModelRuntime
from handlers.errors import InvalidInputError, NotAcceptableError
from handlers.http import content_type, json_response, pinned_version
from handlers.image.processor import image_processor_of
from handlers.image.wire import ImageRequest, hf_images
from handlers.image.wire import hf_answer as image_answer
from handlers.processing import Inputs
from handlers.protocols.base import Call, Codec, Decoded, Result, inference_endpoint
from handlers.protocols.oip import error_shape
from handlers.routing import RouteTable
from handlers.settings import Settings
from handlers.text.processor import text_processor_of
from handlers.text.wire import TextRequest, hf_answer, hf_texts

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


class Invocations(Codec[str | TextRequest | ImageRequest]):
    """Predict from a JSON, CSV or .npy body; answer in the Accept type (JSON by default)."""

    async def resolve(self, call: Call) -> ModelRuntime:
        """The model named by the headers (the only one when a single model is loaded)."""
        return select_model(call.repository, call.request)

    def check_headers(self, request: Request, runtime: ModelRuntime) -> None:
        """406 before the body is read when Accept names nothing this route writes."""
        choose_accept(request.headers.get("accept"))

    def decode(self, request: Request, runtime: ModelRuntime, body: bytes) -> Decoded[str | TextRequest | ImageRequest]:
        """The body's tensors by Content-Type; the state is the answer's media type (text: the toolkit's JSON)."""
        accept = choose_accept(request.headers.get("accept"))
        if image_processor_of(runtime) is not None:
            if accept != JSON:
                raise NotAcceptableError(f"an image model answers application/json, not {accept}")
            return Decoded(*hf_images(content_type(request), body))
        if text_processor_of(runtime) is not None:
            if accept != JSON:
                raise NotAcceptableError(f"a text model answers application/json, not {accept}")
            return Decoded(*hf_texts(content_type(request), body))
        tensors = decode_body(runtime.manifest, content_type(request), body)
        return Decoded(Inputs(tensors), accept)

    def encode(self, result: Result[str | TextRequest | ImageRequest]) -> Response:
        """CSV or .npy of the primary output, or ``{"model", "version", "predictions"[, "labels"]}``."""
        image = image_processor_of(result.runtime)
        if image is not None and isinstance(result.state, ImageRequest):
            return json_response(image_answer(image, result.outputs, result.state))
        processor = text_processor_of(result.runtime)
        if processor is not None and isinstance(result.state, TextRequest):
            return json_response(hf_answer(processor, result.feed, result.outputs, result.state))
        assert isinstance(result.state, str)
        return _answer(result.runtime, result.outputs, result.state)


def _answer(runtime: ModelRuntime, outputs: dict[str, Any], accept: str) -> Response:
    if accept == CSV:
        return Response(to_csv(primary_output(runtime.manifest, outputs)), media_type=CSV)
    if accept == NPY:
        return Response(to_npy(primary_output(runtime.manifest, outputs)), media_type=NPY)
    answer: dict[str, Any] = {
        "model": runtime.name,
        "version": runtime.version,
        "predictions": prediction_rows(runtime.manifest, outputs),
    }
    return json_response(labelled(answer, runtime.manifest, outputs))


def router(repository: ModelRepository, settings: Settings) -> RouteTable:
    """``/ping`` and ``/invocations`` over ``repository``."""
    api = RouteTable(PROTOCOL, error_shape, prefixes=("/invocations",), tags=["sagemaker"])

    @api.get("/ping")
    async def ping(request: Request) -> Response:
        """200 ``{"status": "Healthy"}`` once every model is loaded and warm, else 503 ``Unhealthy``."""
        if repository.ready:
            return json_response({"status": "Healthy"})
        return json_response({"status": "Unhealthy"}, 503)

    api.post("/invocations")(inference_endpoint(Invocations(), repository, settings))
    return api
