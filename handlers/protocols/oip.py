"""Open Inference Protocol v2 (KServe, Triton, MLServer clients), with the binary tensor data extension.

Errors are ``{"error": "..."}``. Classifier probabilities can be asked for as classifications
(Triton's ``parameters.classification: k`` on a requested output: ``"score:index:label"`` strings,
labels from the processor's ``score_labels``). ``BYTES`` inputs reach the processor as ``str`` (JSON
``data``) or ``bytes`` (binary): texts, encoded images or string tensors, as the model's family reads
them. When no outputs are requested, the processor's ``extra`` outputs are answered too (a token
classifier's ``entities``: one JSON list of entities per text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response

from bundle.names import OIP_HEADER_LENGTH
from handlers.engine import ModelRepository, ModelRuntime
from handlers.errors import InvalidInputError, ServingError
from handlers.http import json_response, jsonable, loads, numpy_default
from handlers.protocols.base import Codec, Decoded, Result, inference_endpoint, path_runtime
from handlers.protocols.oip_codec import HEADER_LENGTH, datatype_of, decode_input, encode_bytes, parse_body
from handlers.routing import RouteTable
from handlers.settings import Settings
from handlers.vocabulary import Inputs

__all__ = ["PROTOCOL", "error_shape", "route_table", "router"]

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
    labels = runtime.processor.score_labels.get(name)
    if labels is not None and len(labels) != rows.shape[1]:
        labels = None
    top_k = min(top_k, rows.shape[1])
    order = np.argsort(-rows, axis=1, kind="stable")[:, :top_k]
    text = [
        [f"{row[index]:f}:{index}" + (f":{labels[index]}" if labels else "") for index in picks]
        for row, picks in zip(rows, order, strict=True)
    ]
    result = np.asarray(text, dtype=object)
    return result.reshape(-1) if scores.ndim == 1 else result


def _request_tensors(payload: Any, binary: bytes) -> dict[str, np.ndarray]:
    """The request's input arrays (JSON ``data`` or binary), each claimed byte accounted for.

    Binary BYTES elements stay bytes: the processor reads them as text, images or strings.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise InvalidInputError('the inference request must be a JSON object with an "inputs" list')
    tensors: dict[str, np.ndarray] = {}
    offset = 0
    for spec in payload["inputs"]:
        input_name, array, offset = decode_input(spec, binary, offset, raw_bytes=True)
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


class Infer(Codec[_Asked]):
    """Inference (JSON, or JSON header + binary tensors with Inference-Header-Content-Length)."""

    def decode(self, request: Request, runtime: ModelRuntime, body: bytes) -> Decoded[_Asked]:
        """The inputs (JSON ``data`` or binary) and the outputs asked for."""
        header, binary = parse_body(body, request.headers.get(HEADER_LENGTH))
        payload = loads(header, "inference request header")
        tensors = _request_tensors(payload, binary)
        chosen = _requested_outputs(payload, runtime)
        options = _parameters(payload, "the request")
        return Decoded(Inputs(named=tensors, options=options, where="the request"), _Asked(payload, chosen))

    def encode(self, result: Result[_Asked]) -> Response:
        """The outputs asked for, in JSON or binary, classifications where asked (and the processor's extra outputs)."""
        outputs, chosen = result.outputs, result.state.chosen
        if result.state.payload.get("outputs") is None:
            extra = result.answer("tensors").extra
            outputs = {**outputs, **extra}
            chosen = [*chosen, *((name, chosen[0][1] if chosen else False, 0) for name in extra)]
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
        headers={OIP_HEADER_LENGTH: str(len(header))},
    )


def route_table() -> RouteTable:
    """An empty table of OIP v2 routes (under ``/v2``, OIP's error shape): inference, and the generate extension."""
    return RouteTable(
        PROTOCOL,
        error_shape,
        prefixes=("/v2",),
        prefix="/v2",
        tags=["open inference protocol v2"],
        error_schema="OipError",
    )


def router(repository: ModelRepository, settings: Settings) -> RouteTable:
    """The OIP v2 routes over ``repository``."""
    api = route_table()

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
