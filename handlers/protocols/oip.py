"""Open Inference Protocol v2 (KServe, Triton, MLServer clients), with the binary tensor data extension.

Errors are ``{"error": "..."}``. Classifier probabilities can be asked for as classifications
(Triton's ``parameters.classification: k`` on a requested output: ``"score:index:label"`` strings).
Text models take their texts as one ``BYTES`` input (JSON or binary); a token classifier's answer
adds an ``entities`` BYTES output (one JSON list of entities per text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response

from handlers.engine import ModelRepository, ModelRuntime
from handlers.errors import InvalidInputError, ServingError
from handlers.http import json_response, jsonable, loads, numpy_default
from handlers.image.processor import image_processor_of
from handlers.image.wire import oip_images
from handlers.processing import Inputs
from handlers.protocols.base import Codec, Decoded, Result, inference_endpoint, path_runtime
from handlers.protocols.oip_codec import HEADER_LENGTH, datatype_of, decode_input, encode_bytes, parse_body
from handlers.routing import RouteTable
from handlers.settings import Settings
from handlers.text.inputs import decode_text_array
from handlers.text.processor import text_processor_of
from handlers.text.wire import oip_entities

__all__ = ["PROTOCOL", "error_shape", "router"]

PROTOCOL = "oip"
_SERVER_VERSION = "2"
_EXTENSIONS = ["binary_tensor_data", "classification"]


def error_shape(error: ServingError) -> dict[str, Any]:
    """``{"error": "..."}`` (also TF Serving's and SageMaker's shape)."""
    return {"error": error.message}


def _metadata(repository: ModelRepository, runtime: ModelRuntime) -> dict[str, Any]:
    def tensor(spec: Any) -> dict[str, Any]:
        return {
            "name": spec.name,
            "datatype": datatype_of(spec.dtype),
            "shape": [-1 if dim is None else dim for dim in spec.shape],
        }

    return {
        "name": runtime.name,
        "versions": repository.version_names(runtime.name),
        "platform": "onnxruntime_onnx",
        "inputs": [tensor(spec) for spec in runtime.manifest.inputs],
        "outputs": [tensor(spec) for spec in runtime.manifest.outputs],
    }


Chosen = list[tuple[str, bool, int]]
"""(name, binary, classification top-k) for each output to return."""


def _parameters(holder: dict[str, Any], what: str) -> dict[str, Any]:
    parameters = holder.get("parameters")
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise InvalidInputError(f'"parameters" of {what} must be an object')
    return parameters


def _requested_outputs(payload: dict[str, Any], runtime: ModelRuntime) -> Chosen:
    """(name, binary, classification top-k) for each output to return."""
    default_binary = bool(_parameters(payload, "the request").get("binary_data_output", False))
    requested = payload.get("outputs")
    if requested is None:
        return [(name, default_binary, 0) for name in runtime.output_names]
    if not isinstance(requested, list):
        raise InvalidInputError('"outputs" must be a list of {"name": ...} objects')
    chosen = []
    for item in requested:
        if not isinstance(item, dict) or item.get("name") not in runtime.output_names:
            name = item.get("name") if isinstance(item, dict) else item
            raise InvalidInputError(
                f"unknown output {name!r}; model {runtime.name} has {', '.join(runtime.output_names)}"
            )
        parameters = _parameters(item, f"output {item['name']!r}")
        top_k = parameters.get("classification", 0)
        if not isinstance(top_k, int) or top_k < 0:
            raise InvalidInputError(f"output {item['name']!r}: classification must be a positive whole number")
        chosen.append((item["name"], bool(parameters.get("binary_data", default_binary)), top_k))
    return chosen


def _classify(runtime: ModelRuntime, name: str, scores: np.ndarray, top_k: int) -> np.ndarray:
    if scores.ndim not in (1, 2) or scores.dtype.kind != "f":
        raise InvalidInputError(f"output {name!r} holds no class scores; classification needs a probability output")
    rows = scores.reshape(1, -1) if scores.ndim == 1 else scores
    manifest = runtime.manifest
    probabilities = manifest.probability_output or ("scores" if manifest.task == "text-classification" else None)
    labels = manifest.labels if name == probabilities else None
    top_k = min(top_k, rows.shape[1])
    order = np.argsort(-rows, axis=1, kind="stable")[:, :top_k]
    text = [
        [f"{row[index]:f}:{index}" + (f":{labels[index]}" if labels else "") for index in picks]
        for row, picks in zip(rows, order, strict=True)
    ]
    result = np.asarray(text, dtype=object)
    return result.reshape(-1) if scores.ndim == 1 else result


def _request_tensors(payload: Any, binary: bytes, raw_bytes: bool = False) -> dict[str, np.ndarray]:
    """The request's input arrays (JSON ``data`` or binary), each claimed byte accounted for.

    ``raw_bytes``: binary BYTES elements stay bytes (encoded images) instead of being read as UTF-8 text.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise InvalidInputError('the inference request must be a JSON object with an "inputs" list')
    tensors: dict[str, np.ndarray] = {}
    offset = 0
    for spec in payload["inputs"]:
        input_name, array, offset = decode_input(spec, binary, offset, raw_bytes=raw_bytes)
        if input_name in tensors:
            raise InvalidInputError(f"input {input_name!r} is given twice")
        tensors[input_name] = array
    if offset != len(binary):
        raise InvalidInputError(f"{len(binary) - offset} bytes of binary data are not claimed by any input")
    return tensors


@dataclass(frozen=True)
class _Asked:
    payload: dict[str, Any]
    chosen: Chosen
    entities: bool = False
    """A token classifier sent raw text: answer its entities as a BYTES output too."""


def _text_inputs(runtime: ModelRuntime, tensors: dict[str, np.ndarray]) -> Inputs | None:
    """A text model's one BYTES input as raw texts (None when the request sends token tensors)."""
    texts = [name for name, array in tensors.items() if array.dtype == object]
    if not texts or text_processor_of(runtime) is None:
        return None
    if len(tensors) != 1:
        raise InvalidInputError(f"send the texts as one BYTES input (got {', '.join(tensors)})")
    return Inputs(raw=decode_text_array(tensors[texts[0]], f"input {texts[0]!r}"))


class Infer(Codec[_Asked]):
    """Inference (JSON, or JSON header + binary tensors with Inference-Header-Content-Length)."""

    def decode(self, request: Request, runtime: ModelRuntime, body: bytes) -> Decoded[_Asked]:
        """The inputs (JSON ``data`` or binary) and the outputs asked for."""
        header, binary = parse_body(body, request.headers.get(HEADER_LENGTH))
        payload = loads(header, "inference request header")
        images = image_processor_of(runtime) is not None
        tensors = _request_tensors(payload, binary, raw_bytes=images)
        chosen = _requested_outputs(payload, runtime)
        raw_images = oip_images(tensors) if images else None
        if raw_images is not None:
            return Decoded(raw_images, _Asked(payload, chosen))
        texts = _text_inputs(runtime, tensors)
        if texts is None:
            return Decoded(Inputs(tensors), _Asked(payload, chosen))
        entities = runtime.manifest.task == "token-classification" and payload.get("outputs") is None
        return Decoded(texts, _Asked(payload, chosen, entities))

    def encode(self, result: Result[_Asked]) -> Response:
        """The outputs asked for, in JSON or binary, classifications where asked (text: entities too)."""
        outputs, chosen = result.outputs, result.state.chosen
        processor = text_processor_of(result.runtime)
        if processor is not None and result.state.entities:
            entities = np.asarray(oip_entities(processor, result.feed, outputs), dtype=object)
            outputs = {**outputs, "entities": entities}
            chosen = [*chosen, ("entities", chosen[0][1] if chosen else False, 0)]
        return _response(result.state.payload, result.runtime, outputs, chosen)


def _response(
    payload: dict[str, Any], runtime: ModelRuntime, outputs: dict[str, np.ndarray], chosen: Chosen
) -> Response:
    entries: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name, binary, top_k in chosen:
        array = np.asarray(outputs[name])
        if top_k:
            array = _classify(runtime, name, array, top_k)
        datatype = "BYTES" if array.dtype.kind in "OUS" else datatype_of(str(array.dtype))
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if binary:
            raw = (
                encode_bytes(array)
                if datatype == "BYTES"
                else np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
            )
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = jsonable(array.ravel())
        entries.append(entry)
    answer: dict[str, Any] = {"model_name": runtime.name, "model_version": runtime.version, "outputs": entries}
    if "id" in payload:
        answer["id"] = payload["id"]
    if not chunks:
        return json_response(answer)
    header = orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY, default=numpy_default)
    return Response(
        header + b"".join(chunks),
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(header))},
    )


def router(repository: ModelRepository, settings: Settings) -> RouteTable:
    """The OIP v2 routes over ``repository``."""
    api = RouteTable(
        PROTOCOL,
        error_shape,
        prefixes=("/v2",),
        prefix="/v2",
        tags=["open inference protocol v2"],
        error_schema="OipError",
    )

    @api.get("/health/live")
    async def live(request: Request) -> Response:
        """The server is up."""
        return json_response({"live": True})

    @api.get("/health/ready")
    async def ready(request: Request) -> Response:
        """200 once every model is loaded and warm, else 503."""
        return json_response({"ready": repository.ready}, 200 if repository.ready else 503)

    @api.get("")
    async def server_metadata(request: Request) -> Response:
        """Server name, version and supported extensions."""
        return json_response({"name": settings.service_name, "version": _SERVER_VERSION, "extensions": _EXTENSIONS})

    @api.get("/models/{name}", "/models/{name}/versions/{version}")
    async def model_metadata(request: Request) -> Response:
        """Model metadata: versions, platform, input and output tensors."""
        return json_response(_metadata(repository, path_runtime(repository, request)))

    @api.get("/models/{name}/ready", "/models/{name}/versions/{version}/ready")
    async def model_ready(request: Request) -> Response:
        """200 when the model (or the version in the path) is ready for inference."""
        runtime = path_runtime(repository, request)
        return json_response({"name": runtime.name, "ready": runtime.ready}, 200 if runtime.ready else 503)

    api.post(
        "/models/{name}/infer",
        "/models/{name}/versions/{version}/infer",
        body="InferRequest",
        response="InferResponse",
    )(inference_endpoint(Infer(), repository, settings))
    return api
