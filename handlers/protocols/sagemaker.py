"""SageMaker hosting contract: ``GET /ping`` and ``POST /invocations`` (JSON, CSV or .npy in and out).

``/ping`` is 200 only once every model is loaded and warm (TorchServe's shape: ``{"status": "Healthy"}``).
With several models loaded, ``/invocations`` picks one by the ``X-Maaskit-Model`` header, SageMaker's
``X-Amzn-SageMaker-Target-Model`` (``name`` or ``name-version[.tar.gz]``) or ``model=``/``version=``
in ``X-Amzn-SageMaker-Custom-Attributes``. Bodies are JSON or the kinds the model's processor takes
(``bodies``: CSV and .npy for tensors, text, image files), including the Hugging Face inference toolkit's
``{"inputs": ..., "parameters": {...}}``. A family with per-example answers (text, images) answers in the
toolkit's pipeline shapes (the processor's ``pipeline`` style); others answer
``{"model", "version", "predictions"[, "labels"]}``, or in CSV and .npy the primary output (a classifier's
labels, else the first output), when the processor's ``bodies`` include that kind. Large bodies are decoded
and answers encoded in worker processes (:mod:`handlers.offload`) that import only :mod:`handlers.codecs`.
Text-generation bundles answer in the Hugging Face LLM container's (TGI's) shape, streamed on request
(:mod:`handlers.protocols.sagemaker_generate`).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from bundle import names
from handlers.codecs import (
    CSV,
    NPY,
    body_kind,
    check_single_array,
    choose_accept,
    decode_body,
    encode_answer,
)
from handlers.engine import ModelRepository, ModelRuntime
from handlers.errors import InvalidInputError, NotAcceptableError
from handlers.generation.runtime import GenerativeRuntime
from handlers.http import content_type, describe_model, json_response, pinned_version, read_body
from handlers.offload import in_process
from handlers.protocols.base import Call, Codec, Decoded, Result, inference_endpoint
from handlers.protocols.oip import error_shape
from handlers.protocols.sagemaker_generate import invoke
from handlers.routing import RouteTable
from handlers.settings import Settings

__all__ = ["PROTOCOL", "MODEL_HEADER", "router", "select_model"]

PROTOCOL = "sagemaker"
MODEL_HEADER = names.MODEL_HEADER.lower()
_TARGET_HEADER = names.SAGEMAKER_TARGET_MODEL_HEADER.lower()
_ATTRIBUTES_HEADER = names.SAGEMAKER_ATTRIBUTES_HEADER.lower()


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


_ANSWER_KINDS = {CSV: "csv", NPY: "npy"}


class Invocations(Codec[str]):
    """Predict from a JSON, CSV, .npy, text or image body; answer in the Accept type (JSON by default)."""

    def __init__(self, settings: Settings) -> None:
        self.processes = settings.decode_processes
        self.large = settings.offload_bytes

    async def resolve(self, call: Call) -> ModelRuntime:
        """The model named by the headers (the only one when a single model is loaded)."""
        return select_model(call.repository, call.request)

    def check_headers(self, request: Request, runtime: ModelRuntime) -> None:
        """406 before the body is read when Accept names nothing this route writes."""
        choose_accept(request.headers.get("accept"))

    def _processes(self, size: int) -> int:
        return self.processes if self.large and size >= self.large else 0

    def decode(self, request: Request, runtime: ModelRuntime, body: bytes) -> Decoded[str]:
        """The body by Content-Type (a large JSON, CSV or .npy one in a worker process); the state: the Accept type."""
        accept = choose_accept(request.headers.get("accept"))
        bodies = runtime.processor.bodies
        if accept in _ANSWER_KINDS and _ANSWER_KINDS[accept] not in bodies:
            raise NotAcceptableError(f"model {runtime.name} answers application/json, not {accept}")
        media = content_type(request)
        kind = body_kind(media, body, bodies, runtime.name)
        check_single_array(runtime.manifest, kind)
        numeric = all(spec.dtype != "string" for spec in runtime.manifest.inputs)
        processes = self._processes(len(body)) if kind in ("json", "csv", "npy") else 0
        return Decoded(in_process(processes, decode_body, media, body, kind, numeric), accept)

    def encode(self, result: Result[str]) -> Response:
        """The pipeline-shaped answer; else CSV or .npy of the primary output, or ``{"model", "version", ...}``."""
        answers = result.answer("pipeline")
        if answers.predictions is not None:
            return json_response(answers.predictions)
        rows = max((len(value) for value in answers.outputs.values() if getattr(value, "ndim", 0)), default=0)
        processes = self._processes(rows * 64)  # about the bytes of the answer
        runtime = result.runtime
        body, media = in_process(processes, encode_answer, runtime.name, runtime.version, answers, result.state)
        return Response(body, media_type=media)


def router(repository: ModelRepository, settings: Settings) -> RouteTable:
    """``/ping`` and ``/invocations`` over ``repository``."""
    api = RouteTable(PROTOCOL, error_shape, prefixes=("/invocations",), tags=["sagemaker"])

    @api.get("/ping")
    async def ping(request: Request) -> Response:
        """200 ``{"status": "Healthy"}`` once every model is loaded and warm, else 503 ``Unhealthy``."""
        if repository.ready:
            return json_response({"status": "Healthy"})
        return json_response({"status": "Unhealthy"}, 503)

    infer = inference_endpoint(Invocations(settings), repository, settings)
    limit, budget_s = settings.max_body_bytes, settings.inference_timeout_ms / 1000.0

    @api.post("/invocations")
    async def invocations(request: Request) -> Response:
        """Predict from a JSON, CSV, .npy, text or image body; generate text in the HF LLM container's shape."""
        runtime = select_model(repository, request)
        if isinstance(runtime, GenerativeRuntime):  # handlers.protocols.sagemaker_generate
            describe_model(request, runtime.name, runtime.version)
            return await invoke(runtime, request, await read_body(request, limit), budget_s, api)
        return await infer(request)

    return api
