"""``maaskit invoke``: one prediction request to a server URL, or to a bundle served in-process.

Every data format reaches a route that every target answers, a deployed API's Lambda and SageMaker
models included: ``POST /models/{name}/predict`` with maaskit JSON. JSON files go as they are (a list
is ``{"rows": [...]}``); ``.npz`` (one array per input name), CSV and ``.npy`` files are read against
the model's signature (``GET /models/{name}``, see :mod:`maaskit.client.files`) and sent as
``{"inputs": {name: array}}``; image files (``.jpg``, ``.jpeg``, ``.png``, ``.webp``) as
``{"inputs": {"image": [{"b64": ...}]}}``. Data holding NaN or infinity, which JSON cannot carry, goes as
OIP binary tensors to ``/v2/models/{name}/infer`` (Lambda models, ``serve``); where the API has no such
route (a SageMaker model) a CSV or ``.npy`` file goes as it is to the container's own route,
``/models/{name}/invocations``. In-process requests go through the app itself (httpx's ASGI transport),
so the answer is exactly what the server would give.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bundle.names import MODEL_HEADER, VERSION_HEADER

__all__ = ["InvokeError", "build_request", "invoke_target"]

_TIMEOUT_S = 30.0
_IMAGES = {".jpg", ".jpeg", ".png", ".webp"}
_RAW_TYPES = {".csv": "text/csv", ".npy": "application/x-npy"}
#: Labels asked for an image file, as the Hugging Face image-classification pipeline's default.
IMAGE_TOP_K = 5
_FORMATS = "use a .json, .npz, .csv or .npy file, or an image (.jpg, .png, .webp)"

#: ``send(method, path, body, headers) -> (status, headers, body)``: one HTTP exchange with the target.
Send = Callable[[str, str, bytes, dict[str, str]], tuple[int, dict[str, str], bytes]]
Signature = Callable[[], dict[str, Any]]


class InvokeError(Exception):
    """The request could not be built or sent (bad file, unreachable server, unusable bundle)."""


def _samples_body(bundle_path: Path) -> bytes:
    from bundle import BundleError, open_bundle

    try:
        bundle = open_bundle(bundle_path)
        samples = bundle.samples()
    except BundleError as exc:
        raise InvokeError(str(exc)) from None
    if bundle.manifest.image is not None:  # stored image files: sent base64 as maaskit JSON
        from bundle.processing.image import unpack_images
        from maaskit.client.files import image_inputs

        images = [image_inputs(item)["image"][0] for item in unpack_images(samples.inputs)]
        return orjson.dumps({"inputs": {"image": images}})
    inputs = {name: array.tolist() for name, array in samples.inputs.items()}
    return orjson.dumps({"inputs": inputs})


def _json(path: str, headers: dict[str, str], payload: Any) -> dict[str, Any]:
    body = payload if isinstance(payload, bytes) else _dumps(payload)
    return {"path": path, "headers": headers | {"content-type": "application/json"}, "body": body}


def _dumps(payload: Any, option: int = 0) -> bytes:
    """JSON with numpy arrays (NaN and infinity written as null, object arrays as lists)."""
    import numpy as np

    return orjson.dumps(
        payload, option=orjson.OPT_SERIALIZE_NUMPY | option, default=lambda value: np.asarray(value).tolist()
    )


def build_request(
    model: str,
    data: Path | None,
    version: str | None,
    fallback_bundle: Path | None,
    signature: Signature | None = None,
) -> dict[str, Any]:
    """Method, path, headers and body of the request for ``data`` (or the bundle's samples).

    ``signature`` gives the model's ``GET /models/{name}`` answer (needed for .csv, .npy and .npz). When the
    data holds NaN or infinity the request also carries ``arrays`` (send them as binary tensors) and, for
    CSV and .npy, ``raw`` (the file as it is, for ``/models/{name}/invocations``).
    """
    from maaskit.client.files import FileError, csv_arrays, has_nonfinite, image_inputs, npy_arrays, npz_arrays

    headers = {"accept": "application/json"}
    if version:
        headers[VERSION_HEADER.lower()] = version
    predict = f"/models/{model}/predict"
    if data is None:
        if fallback_bundle is None:
            raise InvokeError("give --data FILE (.json, .npz, .csv, .npy or an image) to send to a server")
        return _json(predict, headers, _samples_body(fallback_bundle))
    if not data.is_file():
        raise InvokeError(f"{data} does not exist")
    suffix = data.suffix.lower()
    raw = data.read_bytes()
    if suffix == ".json":
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvokeError(f"{data} is not valid JSON: {exc}") from None
        return _json(predict, headers, orjson.dumps({"rows": payload}) if isinstance(payload, list) else raw)
    if suffix in _IMAGES:  # the five best labels, as an image-classification pipeline answers by default
        return _json(predict, headers, {"inputs": image_inputs(raw), "parameters": {"top_k": IMAGE_TOP_K}})
    if suffix not in (".npz", *_RAW_TYPES):
        raise InvokeError(f"{data}: {_FORMATS}")
    try:
        if suffix == ".npz":
            arrays = npz_arrays(raw)
        else:
            if signature is None:
                raise InvokeError(f"{data}: reading a {suffix} file needs the model's signature")
            arrays = (csv_arrays if suffix == ".csv" else npy_arrays)(raw, signature())
    except FileError as exc:
        raise InvokeError(f"{data}: {exc}") from None
    request = _json(predict, headers, {"inputs": arrays})
    if has_nonfinite(arrays):
        request["arrays"] = arrays
        if suffix in _RAW_TYPES:
            request["raw"] = {
                "path": f"/models/{model}/invocations",
                "headers": headers | {"content-type": _RAW_TYPES[suffix], MODEL_HEADER.lower(): model},
                "body": raw,
            }
    return request


def _pretty(content: bytes) -> str:
    try:
        return orjson.dumps(orjson.loads(content), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        return content.decode("utf-8", "replace")


def _no_route(status: int, content: bytes) -> bool:
    """API Gateway's answer for a path the API does not define (403 "Missing Authentication Token")."""
    from maaskit.client.errors import NO_ROUTE_MESSAGE

    try:
        payload = orjson.loads(content)
    except orjson.JSONDecodeError:
        return False
    return status in (403, 404) and isinstance(payload, dict) and payload.get("message") == NO_ROUTE_MESSAGE


def _binary(
    send: Send, model: str, request: dict[str, Any], version: str | None, signature: Signature
) -> tuple[int, str]:
    """Non-finite data as OIP binary tensors; the answer rendered as the maaskit JSON answer would be."""
    import numpy as np

    from maaskit.client.binary import HEADER_LENGTH, decode_response, encode_request
    from maaskit.client.labels import label_values, predicted_labels

    detail = signature()
    try:
        body, length = encode_request(request["arrays"], [spec["name"] for spec in detail["outputs"]])
    except ValueError as exc:
        raise InvokeError(str(exc)) from None
    path = f"/v2/models/{model}/versions/{version}/infer" if version else f"/v2/models/{model}/infer"
    headers = {"content-type": "application/octet-stream", HEADER_LENGTH: str(length)}
    status, answer_headers, content = send("POST", path, body, headers)
    if _no_route(status, content):
        raw = request.get("raw")
        if raw is None:
            raise InvokeError(
                f"the data holds NaN or infinity, which JSON cannot carry, and this API has no binary route for "
                f"{model} (a SageMaker model): send it as a .csv or .npy file, which go to /models/{model}/invocations"
            )
        status, _, content = send("POST", raw["path"], raw["body"], raw["headers"])
        return status, _pretty(content)
    if status >= 400:
        return status, _pretty(content)
    header, outputs = decode_response(content, answer_headers.get(HEADER_LENGTH.lower()))
    outputs = {name: label_values(detail, name, np.asarray(array)) for name, array in outputs.items()}
    answer: dict[str, Any] = {"model": header["model_name"], "version": header["model_version"], "outputs": outputs}
    labels = predicted_labels(detail, outputs)
    if labels is not None:
        answer["labels"] = labels
    return status, _dumps(answer, orjson.OPT_INDENT_2).decode()


def _call(
    send: Send, model: str, data: Path | None, version: str | None, *, fallback: Path | None, signature: Signature
) -> tuple[int, str]:
    signature = functools.cache(signature)  # read once, whichever steps need it
    request = build_request(model, data, version, fallback, signature)
    if "arrays" in request:
        return _binary(send, model, request, version, signature)
    status, _, content = send("POST", request["path"], request["body"], request["headers"])
    return status, _pretty(content)


def _over_http(
    url: str, model: str | None, data: Path | None, version: str | None, *, auth: Any = None, transport: Any = None
) -> tuple[int, str]:
    """Send through the client SDK (``maaskit.client``): auth, retries with backoff, clear errors."""
    from maaskit.client import ClientError, MaaskitClient

    base = url.rstrip("/")
    try:
        with MaaskitClient(base, auth=auth, timeout=_TIMEOUT_S, transport=transport) as client:
            if model is None:
                names = [item["name"] for item in client.models()]
                if len(names) != 1:
                    raise InvokeError(f"{base} serves {len(names)} models ({', '.join(names)}); pick one with --model")
                model = names[0]
            chosen = model

            def send(method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
                response = client.send(method, path, content=body, headers=headers)
                return response.status_code, dict(response.headers), response.content

            return _call(send, chosen, data, version, fallback=None, signature=lambda: client.model(chosen, version))
    except ClientError as exc:
        raise InvokeError(f"{base}: {exc}") from None


def _in_process(bundle: Path, model: str | None, data: Path | None, version: str | None) -> tuple[int, str]:
    import httpx

    from bundle import BundleError
    from handlers.app import create_app
    from handlers.engine import ModelRepository
    from handlers.errors import ServingError
    from handlers.protocols.maaskit import describe_version
    from handlers.settings import Settings

    settings = Settings.load(access_log=False, metrics="none")
    try:
        repository = ModelRepository.load(settings, [bundle])
    except BundleError as exc:
        raise InvokeError(str(exc)) from None
    names = repository.names()
    if model is None and len(names) != 1:
        raise InvokeError(f"{bundle} holds {len(names)} models ({', '.join(names)}); pick one with --model")
    model = model or names[0]
    try:
        chosen = repository.get(model, version)
    except ServingError as exc:
        raise InvokeError(exc.message) from None
    app = create_app(repository, settings)
    loop = asyncio.new_event_loop()  # one loop for every request of this call, as one server would have

    async def post(method: str, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://maaskit.invoke") as client:
            return await client.request(method, path, content=body, headers=headers)

    def send(method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        response = loop.run_until_complete(post(method, path, body, headers))
        return response.status_code, dict(response.headers), response.content

    signature = orjson.loads(orjson.dumps(describe_version(chosen), default=str))
    try:
        return _call(send, model, data, version, fallback=chosen.bundle.root, signature=lambda: signature)
    finally:
        loop.close()


def invoke_target(
    target: str,
    *,
    model: str | None,
    data: Path | None,
    version: str | None,
    auth: Any = None,
    transport: Any = None,
) -> tuple[int, str]:
    """Send the request; return the HTTP status and the answer as indented JSON text.

    ``auth`` (an httpx auth from ``maaskit.client``) and ``transport`` (an httpx transport, e.g. an emulated
    API) apply to URLs only.
    """
    if target.startswith(("http://", "https://")):
        return _over_http(target, model, data, version, auth=auth, transport=transport)
    path = Path(target)
    if not path.exists():
        raise InvokeError(f"{target} is neither a URL (http://...) nor an existing bundle path")
    return _in_process(path, model, data, version)
