"""TensorFlow Serving REST API: model status, metadata and ``:predict`` (row and columnar formats).

TF Serving versions are integers; maaskit versions are semver. ``/versions/1.2.0`` pins exactly, and a
bare integer ``/versions/1`` picks the latest ``1.x.y``. Errors are ``{"error": "..."}``. ``{"b64": ...}``
objects are bytes (TF Serving's convention); what the instances are (rows, records, texts, images) is the
model's processor's to read. A family with per-example answers (text, images) answers them as
``predictions`` (row form) or ``outputs`` (columnar form).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from bundle import VERSION_MAX_LENGTH
from bundle.dtypes import TF_DTYPES
from bundle.semver import semver_key
from handlers.answers import columns_of, rows_of
from handlers.codecs import binary, with_arrays
from handlers.engine import ModelRepository, ModelRuntime
from handlers.errors import InvalidInputError, VersionNotFoundError
from handlers.http import describe_model, json_response, loads, pinned_version
from handlers.offload import in_process
from handlers.protocols.base import Call, Codec, Decoded, Result, inference_endpoint
from handlers.protocols.oip import error_shape
from handlers.routing import RouteTable
from handlers.settings import Settings
from handlers.vocabulary import Inputs

__all__ = ["PROTOCOL", "resolve", "router"]

PROTOCOL = "tfserving"


def resolve(repository: ModelRepository, name: str, version: str | None) -> ModelRuntime:
    """The runtime for a TF Serving path version: exact semver, or an integer major version."""
    if version is None or not (version.isascii() and version.isdigit()) or len(version) > VERSION_MAX_LENGTH:
        return repository.get(name, version)
    candidates = [v for v in repository.version_names(name) if semver_key(v)[0] == int(version)]
    if not candidates:
        repository.get(name)  # raises ModelNotFoundError for an unknown model
        raise VersionNotFoundError(
            f"model {name!r} has no version {version}.x.y; loaded versions: {', '.join(repository.version_names(name))}"
        )
    return repository.get(name, max(candidates, key=semver_key))


def _path_runtime(repository: ModelRepository, request: Request) -> ModelRuntime:
    params = request.path_params
    runtime = resolve(repository, params["name"], pinned_version(request, params.get("version")))
    describe_model(request, runtime.name, runtime.version)
    return runtime


def _status(runtime: ModelRuntime) -> dict[str, Any]:
    return {
        "version": runtime.version,
        "state": "AVAILABLE" if runtime.ready else "LOADING",
        "status": {"error_code": "OK", "error_message": ""},
    }


def _tensor_info(spec: Any) -> dict[str, Any]:
    dims = [{"size": str(-1 if dim is None else dim), "name": ""} for dim in spec.shape]
    return {"dtype": TF_DTYPES[spec.dtype], "tensor_shape": {"dim": dims, "unknown_rank": False}, "name": spec.name}


def _metadata(runtime: ModelRuntime) -> dict[str, Any]:
    signature = {
        "inputs": {spec.name: _tensor_info(spec) for spec in runtime.manifest.inputs},
        "outputs": {spec.name: _tensor_info(spec) for spec in runtime.manifest.outputs},
        "method_name": "tensorflow/serving/predict",
    }
    return {
        "model_spec": {"name": runtime.name, "signature_name": "", "version": runtime.version},
        "metadata": {"signature_def": {"signature_def": {"serving_default": signature}}},
    }


def _inputs(payload: dict[str, Any], rows: bool) -> Inputs:
    options = payload.get("parameters") or {}
    if rows:
        instances = payload["instances"]
        if not isinstance(instances, list) or not instances:
            raise InvalidInputError('"instances" must be a non-empty list (one entry per example)')
        return Inputs(rows=binary(instances, "instance"), options=options, where='"instances"')
    value = binary(payload["inputs"], '"inputs"')
    if isinstance(value, dict):
        return Inputs(named=value, options=options, where='"inputs"')
    return Inputs(raw=value, options=options, where='"inputs"')


@dataclass(frozen=True)
class _Form:
    rows: bool
    """``instances`` (row form) rather than ``inputs`` (columnar form)."""


def parse_predict(body: bytes, as_arrays: bool = False) -> tuple[Inputs, bool]:
    """A ``:predict`` body's inputs and whether it used the row form (module-level: worker processes run it)."""
    payload = loads(body)
    if not isinstance(payload, dict) or ("instances" in payload) == ("inputs" in payload):
        raise InvalidInputError('send exactly one of "instances" (row format) or "inputs" (columnar format)')
    signature = payload.get("signature_name")
    if signature not in (None, "", "serving_default"):
        raise InvalidInputError(f"unknown signature_name {signature!r}; this model has serving_default")
    rows = "instances" in payload
    inputs = _inputs(payload, rows)
    return (with_arrays(inputs) if as_arrays else inputs), rows


class Predict(Codec[_Form]):
    """Predict: {"instances": [...]} answers {"predictions": [...]}, {"inputs": ...} answers {"outputs": ...}.

    The path version is semver, or an integer major version (its latest release).
    """

    async def resolve(self, call: Call) -> ModelRuntime:
        """Exact semver or an integer major version from the path."""
        return _path_runtime(call.repository, call.request)

    def __init__(self, settings: Settings) -> None:
        self.processes = settings.decode_processes
        self.large = settings.offload_bytes

    def decode(self, request: Request, runtime: ModelRuntime, body: bytes) -> Decoded[_Form]:
        """Row (``instances``) or columnar (``inputs``) form; the state tells which (a large body is parsed in
        a worker process, so that health checks never wait behind it)."""
        if self.processes and self.large and len(body) >= self.large:
            inputs, rows = in_process(self.processes, parse_predict, body, True)
        else:
            inputs, rows = parse_predict(body)
        return Decoded(inputs, _Form(rows))

    def encode(self, result: Result[_Form]) -> Response:
        """``{"predictions": rows}`` for the row form, ``{"outputs": ...}`` for the columnar one."""
        answers = result.answer("predictions")
        key = "predictions" if result.state.rows else "outputs"
        if answers.predictions is not None:
            return json_response({key: answers.predictions})
        return json_response({key: rows_of(answers.outputs) if result.state.rows else columns_of(answers.outputs)})


def router(repository: ModelRepository, settings: Settings) -> RouteTable:
    """The TF Serving REST routes over ``repository``."""
    api = RouteTable(
        PROTOCOL,
        error_shape,
        prefixes=("/v1",),
        prefix="/v1/models",
        tags=["tensorflow serving"],
        error_schema="TfError",
    )

    @api.get(
        "/{name}",
        "/{name}/versions/{version}",
        response="TfModelStatus",
    )
    async def model_status(request: Request) -> Response:
        """Status of every loaded version (or of the one in the path)."""
        name = request.path_params["name"]
        if "version" not in request.path_params and pinned_version(request) is None:
            runtimes = repository.versions(name)
        else:
            runtimes = [resolve(repository, name, pinned_version(request, request.path_params.get("version")))]
        describe_model(request, name, runtimes[-1].version)
        return json_response({"model_version_status": [_status(runtime) for runtime in reversed(runtimes)]})

    @api.get("/{name}/metadata", "/{name}/versions/{version}/metadata")
    async def metadata(request: Request) -> Response:
        """The serving_default signature (inputs, outputs, dtypes and shapes)."""
        return json_response(_metadata(_path_runtime(repository, request)))

    api.post(
        "/{name}:predict",
        "/{name}/versions/{version}:predict",
        body="TfPredictRequest",
        response="TfPredictResponse",
    )(inference_endpoint(Predict(settings), repository, settings))
    return api
