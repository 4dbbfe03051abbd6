"""``maaskit invoke``: one prediction request to a server URL, or to a bundle served in-process.

Both paths send the same HTTP request: JSON files and ``.npz`` files (one array per input name, for
multi-input models) go to ``POST /models/{name}/predict``; CSV, ``.npy`` and image files (``.jpg``,
``.jpeg``, ``.png``, ``.webp``, sent as the body with their ``image/*`` type) go to ``POST /invocations``
(with ``X-Maaskit-Model``). In-process requests go through
the app itself (httpx's ASGI transport), so the answer is exactly what the server would give.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson

__all__ = ["InvokeError", "build_request", "invoke_target"]

_TIMEOUT_S = 30.0


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
        import base64

        from bundle.processing.image import unpack_images

        images = [{"b64": base64.b64encode(item).decode()} for item in unpack_images(samples.inputs)]
        return orjson.dumps({"inputs": {"image": images}})
    inputs = {name: array.tolist() for name, array in samples.inputs.items()}
    return orjson.dumps({"inputs": inputs})


#: Files sent as they are, with their media type, to /invocations.
_BODY_TYPES = {
    ".csv": "text/csv",
    ".npy": "application/x-npy",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}


def _npz_body(data: Path) -> bytes:
    """``{"inputs": {name: array}}`` from an .npz holding one array per input name (no pickle)."""
    import zipfile

    import numpy as np

    try:
        with np.load(data, allow_pickle=False) as arrays:
            inputs = {name: arrays[name].tolist() for name in arrays.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InvokeError(f"{data} is not a readable .npz of plain arrays (one per input name): {exc}") from None
    if not inputs:
        raise InvokeError(f"{data} holds no arrays; save one per input name: np.savez(path, input_ids=..., ...)")
    return orjson.dumps({"inputs": inputs})


def build_request(model: str, data: Path | None, version: str | None, fallback_bundle: Path | None) -> dict[str, Any]:
    """Method, path, headers and body of the request for ``data`` (or the bundle's samples)."""
    headers = {"accept": "application/json"}
    if version:
        headers["x-maaskit-model-version"] = version
    if data is None:
        if fallback_bundle is None:
            raise InvokeError("give --data FILE (.json, .npz, .csv, .npy or an image) to send to a server")
        body = _samples_body(fallback_bundle)
        return {
            "path": f"/models/{model}/predict",
            "headers": headers | {"content-type": "application/json"},
            "body": body,
        }
    if not data.is_file():
        raise InvokeError(f"{data} does not exist")
    suffix = data.suffix.lower()
    raw = data.read_bytes()
    if suffix == ".json":
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvokeError(f"{data} is not valid JSON: {exc}") from None
        if isinstance(payload, list):
            raw = orjson.dumps({"rows": payload})
        return {
            "path": f"/models/{model}/predict",
            "headers": headers | {"content-type": "application/json"},
            "body": raw,
        }
    if suffix == ".npz":
        return {
            "path": f"/models/{model}/predict",
            "headers": headers | {"content-type": "application/json"},
            "body": _npz_body(data),
        }
    if suffix not in _BODY_TYPES:
        raise InvokeError(f"{data}: use a .json, .npz, .csv or .npy file, or an image (.jpg, .png, .webp)")
    types = _BODY_TYPES
    headers |= {"content-type": types[suffix], "x-maaskit-model": model}
    return {"path": "/invocations", "headers": headers, "body": raw}


def _pretty(content: bytes) -> str:
    try:
        return orjson.dumps(orjson.loads(content), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        return content.decode("utf-8", "replace")


def _over_http(
    url: str, model: str | None, data: Path | None, version: str | None, auth: Any = None
) -> tuple[int, str]:
    """Send through the client SDK (``maaskit.client``): auth, retries with backoff, clear errors."""
    from maaskit.client import ClientError, MaaskitClient

    base = url.rstrip("/")
    try:
        with MaaskitClient(base, auth=auth, timeout=_TIMEOUT_S) as client:
            if model is None:
                names = [item["name"] for item in client.models()]
                if len(names) != 1:
                    raise InvokeError(f"{base} serves {len(names)} models ({', '.join(names)}); pick one with --model")
                model = names[0]
            request = build_request(model, data, version, None)
            response = client.send("POST", request["path"], content=request["body"], headers=request["headers"])
    except ClientError as exc:
        raise InvokeError(f"{base}: {exc}") from None
    return response.status_code, _pretty(response.content)


async def _in_process(bundle: Path, model: str | None, data: Path | None, version: str | None) -> tuple[int, str]:
    import httpx

    from bundle import BundleError
    from handlers.app import create_app
    from handlers.engine import ModelRepository
    from handlers.errors import ServingError
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
    request = build_request(model, data, version, chosen.bundle.root)
    transport = httpx.ASGITransport(app=create_app(repository, settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://maaskit.invoke") as client:
        response = await client.post(request["path"], content=request["body"], headers=request["headers"])
    return response.status_code, _pretty(response.content)


def invoke_target(
    target: str, *, model: str | None, data: Path | None, version: str | None, auth: Any = None
) -> tuple[int, str]:
    """Send the request; return the HTTP status and the answer as indented JSON text.

    ``auth`` (an httpx auth from ``maaskit.client``) applies to URLs only.
    """
    if target.startswith(("http://", "https://")):
        return _over_http(target, model, data, version, auth)
    path = Path(target)
    if not path.exists():
        raise InvokeError(f"{target} is neither a URL (http://...) nor an existing bundle path")
    return asyncio.run(_in_process(path, model, data, version))
