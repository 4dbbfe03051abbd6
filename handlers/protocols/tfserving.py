"""TensorFlow Serving REST API: model status, metadata and ``:predict`` (row and columnar formats).

TF Serving versions are integers; maaskit versions are semver. ``/versions/1.2.0`` pins exactly, and a
bare integer ``/versions/1`` picks the latest ``1.x.y``. Errors are ``{"error": "..."}``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from bundle import VERSION_MAX_LENGTH
from handlers.answers import columnar_outputs, prediction_rows
from handlers.engine import ModelRepository, ModelRuntime
from handlers.errors import InvalidInputError, ServingError, VersionNotFoundError
from handlers.http import (
    NAME_PARAMS,
    NAME_VERSION_PARAMS,
    describe,
    error_response,
    json_response,
    loads,
    pinned_version,
    read_body,
)
from handlers.offload import off_loop
from handlers.routing import RouteTable
from handlers.semver import semver_key
from handlers.settings import Settings
from handlers.tabular import records_to_tensors
from handlers.validation import coerce_feed

__all__ = ["PROTOCOL", "router"]

PROTOCOL = "tfserving"
_TF_DTYPES = {
    "float16": "DT_HALF",
    "float32": "DT_FLOAT",
    "float64": "DT_DOUBLE",
    "int8": "DT_INT8",
    "int16": "DT_INT16",
    "int32": "DT_INT32",
    "int64": "DT_INT64",
    "uint8": "DT_UINT8",
    "uint16": "DT_UINT16",
    "uint32": "DT_UINT32",
    "uint64": "DT_UINT64",
    "bool": "DT_BOOL",
    "string": "DT_STRING",
}


def _error(request: Request, error: ServingError) -> Response:
    return error_response(request, error, {"error": error.message})


def resolve(repository: ModelRepository, name: str, version: str | None) -> ModelRuntime:
    """The runtime for a TF Serving path version: exact semver, or an integer major version."""
    if version is None or not (version.isascii() and version.isdigit()) or len(version) > VERSION_MAX_LENGTH:
        return repository.get(name, version)  # also refuses over-long names and versions
    candidates = [v for v in repository.version_names(name) if semver_key(v)[0] == int(version)]
    if not candidates:
        repository.get(name)  # raises ModelNotFoundError for an unknown model
        raise VersionNotFoundError(
            f"model {name!r} has no version {version}.x.y; loaded versions: {', '.join(repository.version_names(name))}"
        )
    return repository.get(name, max(candidates, key=semver_key))


def _status(runtime: ModelRuntime) -> dict[str, Any]:
    return {
        "version": runtime.version,
        "state": "AVAILABLE" if runtime.ready else "LOADING",
        "status": {"error_code": "OK", "error_message": ""},
    }


def _tensor_info(spec: Any) -> dict[str, Any]:
    dims = [{"size": str(-1 if dim is None else dim), "name": ""} for dim in spec.shape]
    return {"dtype": _TF_DTYPES[spec.dtype], "tensor_shape": {"dim": dims, "unknown_rank": False}, "name": spec.name}


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


def _instances(runtime: ModelRuntime, instances: Any) -> dict[str, Any]:
    if not isinstance(instances, list) or not instances:
        raise InvalidInputError('"instances" must be a non-empty list (one entry per example)')
    if len(runtime.manifest.inputs) == 1 and not isinstance(instances[0], dict):
        return {runtime.manifest.inputs[0].name: instances}
    return records_to_tensors(runtime.manifest, instances)


def _columnar(runtime: ModelRuntime, inputs: Any) -> dict[str, Any]:
    names = {spec.name for spec in runtime.manifest.inputs}
    if isinstance(inputs, dict) and (set(inputs) & names or len(names) > 1):
        return inputs
    if len(runtime.manifest.inputs) != 1:
        raise InvalidInputError('this model has several inputs: "inputs" must be an object keyed by input name')
    return {runtime.manifest.inputs[0].name: inputs}


def router(repository: ModelRepository, settings: Settings) -> RouteTable:
    """The TF Serving REST routes over ``repository``."""
    api = RouteTable(prefix="/v1/models", tags=["tensorflow serving"])

    def status(request: Request, name: str, version: str | None) -> Response:
        describe(request, PROTOCOL)
        try:
            if version is None and pinned_version(request) is None:
                runtimes = repository.versions(name)
            else:
                runtimes = [resolve(repository, name, pinned_version(request, version))]
        except ServingError as error:
            return _error(request, error)
        describe(request, PROTOCOL, name, runtimes[-1].version)
        return json_response({"model_version_status": [_status(runtime) for runtime in reversed(runtimes)]})

    @api.get(
        "/{name}", openapi_extra={"x-maaskit-response": "TfModelStatus", "x-maaskit-error": "TfError", **NAME_PARAMS}
    )
    async def model_status(request: Request) -> Response:
        """Status of every loaded version."""
        name = request.path_params["name"]
        return status(request, name, None)

    @api.get("/{name}/versions/{version}", openapi_extra={"x-maaskit-response": "TfModelStatus", **NAME_VERSION_PARAMS})
    async def version_status(request: Request) -> Response:
        """Status of one version."""
        name = request.path_params["name"]
        version = request.path_params["version"]
        return status(request, name, version)

    def metadata(request: Request, name: str, version: str | None) -> Response:
        describe(request, PROTOCOL)
        try:
            runtime = resolve(repository, name, pinned_version(request, version))
        except ServingError as error:
            return _error(request, error)
        describe(request, PROTOCOL, runtime.name, runtime.version)
        return json_response(_metadata(runtime))

    @api.get("/{name}/metadata", openapi_extra=NAME_PARAMS)
    async def metadata_latest(request: Request) -> Response:
        """The serving_default signature (inputs, outputs, dtypes and shapes)."""
        name = request.path_params["name"]
        return metadata(request, name, None)

    @api.get("/{name}/versions/{version}/metadata", openapi_extra=NAME_VERSION_PARAMS)
    async def metadata_version(request: Request) -> Response:
        """The signature of one version."""
        name = request.path_params["name"]
        version = request.path_params["version"]
        return metadata(request, name, version)

    _add_predict_routes(api, repository, settings.max_body_bytes)
    return api


def _add_predict_routes(api: RouteTable, repository: ModelRepository, limit: int) -> None:
    """POST :predict, with and without a version."""

    async def predict(request: Request, name: str, version: str | None) -> Response:
        describe(request, PROTOCOL)
        try:
            runtime = resolve(repository, name, pinned_version(request, version))
            describe(request, PROTOCOL, runtime.name, runtime.version)
            body = await read_body(request, limit)

            def decode() -> tuple[dict[str, Any], bool]:
                payload = loads(body)
                if not isinstance(payload, dict) or ("instances" in payload) == ("inputs" in payload):
                    raise InvalidInputError(
                        'send exactly one of "instances" (row format) or "inputs" (columnar format)'
                    )
                signature = payload.get("signature_name")
                if signature not in (None, "", "serving_default"):
                    raise InvalidInputError(f"unknown signature_name {signature!r}; this model has serving_default")
                rows = "instances" in payload
                tensors = _instances(runtime, payload["instances"]) if rows else _columnar(runtime, payload["inputs"])
                return coerce_feed(runtime.manifest, tensors, allow_nonfinite=runtime.allow_nonfinite), rows

            feed, rows = await off_loop(request, len(body), decode)
            outputs = await runtime.infer(feed)
        except ServingError as error:
            return _error(request, error)

        def encode() -> Response:
            if rows:
                return json_response({"predictions": prediction_rows(runtime.manifest, outputs)})
            return json_response({"outputs": columnar_outputs(runtime.manifest, outputs)})

        return await off_loop(request, len(body), encode)

    extra = {
        "x-maaskit-body": "TfPredictRequest",
        "x-maaskit-response": "TfPredictResponse",
        "x-maaskit-error": "TfError",
    }

    @api.post("/{name}:predict", openapi_extra={**extra, **NAME_PARAMS})
    async def predict_latest(request: Request) -> Response:
        """Predict: {"instances": [...]} answers {"predictions": [...]}, {"inputs": ...} answers {"outputs": ...}."""
        name = request.path_params["name"]
        return await predict(request, name, None)

    @api.post("/{name}/versions/{version}:predict", openapi_extra={**extra, **NAME_VERSION_PARAMS})
    async def predict_version(request: Request) -> Response:
        """Predict with one version (semver, or an integer major version)."""
        name = request.path_params["name"]
        version = request.path_params["version"]
        return await predict(request, name, version)
