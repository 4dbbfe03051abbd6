"""Request helpers shared by the protocol routers: bounded body reads, JSON answers, version pinning."""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response

from bundle import names
from handlers.errors import InvalidInputError, PayloadTooLargeError, ServingError, UnsupportedMediaTypeError
from handlers.observability import RequestInfo, request_info

__all__ = [
    "JSON",
    "VERSION_HEADER",
    "content_type",
    "describe",
    "describe_model",
    "error_response",
    "json_response",
    "jsonable",
    "loads",
    "numpy_default",
    "pinned_version",
    "read_body",
    "request_info",
    "RequestInfo",
]

JSON = "application/json"
VERSION_HEADER = names.VERSION_HEADER.lower()
_DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def content_type(request: Request) -> str:
    """The request's media type, lower-case, without parameters ('' when absent)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_body(request: Request, limit: int) -> bytes:
    """The whole request body; PayloadTooLargeError (413) as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise InvalidInputError(f"Content-Length {declared!r} is not a number") from None
        if size > limit:
            raise PayloadTooLargeError(
                f"request body is {size} bytes, over this server's {limit}-byte limit; "
                "send fewer rows per request or a binary encoding"
            )
        body = await request.body()
    else:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(f"request body is over this server's {limit}-byte limit; send fewer rows")
            chunks.append(chunk)
        body = b"".join(chunks)
    if len(body) > limit:
        raise PayloadTooLargeError(f"request body is {len(body)} bytes, over this server's {limit}-byte limit")
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding and encoding != "identity":
        body = _inflate(body, encoding, limit)
    info = request_info(request)
    if info is not None and info.log_payload:
        info.payload = body
    return body


_WBITS = {"gzip": 31, "x-gzip": 31, "deflate": 15}


def _inflate(body: bytes, encoding: str, limit: int) -> bytes:
    """Decompress a gzip/deflate body, never past ``limit`` bytes (a small body can inflate hugely)."""
    wbits = _WBITS.get(encoding)
    if wbits is None:
        raise UnsupportedMediaTypeError(f"Content-Encoding {encoding!r} is not supported; use gzip, deflate or none")
    inflater = zlib.decompressobj(wbits)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidInputError(f"request body is not valid {encoding} data: {exc}") from None
    if len(data) > limit:
        raise PayloadTooLargeError(f"request body inflates to over this server's {limit}-byte limit")
    if not inflater.eof:
        raise InvalidInputError(f"request body is truncated {encoding} data")
    return data


def loads(body: bytes, what: str = "request body") -> Any:
    """Parse JSON; InvalidInputError (400) naming the position of the error."""
    if not body:
        raise InvalidInputError(f"{what} is empty; send a JSON document")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"{what} is not valid JSON: {exc}") from None


def jsonable(array: np.ndarray) -> Any:
    """An output array in a form orjson writes fast (numeric arrays stay arrays; strings become lists)."""
    if array.dtype.kind in "OUS":
        return _text(array.tolist())
    if array.dtype == np.float16:
        return array.astype(np.float32)
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


def _text(value: Any) -> Any:
    if isinstance(value, list):
        return [_text(item) for item in value]
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def numpy_default(value: Any) -> Any:
    """orjson ``default``: numpy scalars orjson does not know natively (e.g. ``longlong``) become Python ones."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response written by orjson (numpy arrays and scalars serialised natively)."""
    body = orjson.dumps(data, option=_DUMP_OPTIONS, default=numpy_default)
    return Response(body, status_code=status, media_type=JSON, headers=headers)


def pinned_version(request: Request, path_version: str | None = None) -> str | None:
    """The version asked for: path form first, then ``?version=``, then the X-Maaskit-Model-Version header."""
    if path_version:
        return path_version
    if request.scope.get("query_string"):  # parsing an empty query string still costs a few microseconds
        pinned = request.query_params.get("version")
        if pinned:
            return pinned
    return request.headers.get(VERSION_HEADER) or None


def error_response(request: Request, error: ServingError, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A protocol-shaped JSON error answer with the error's status; the message goes to the access log."""
    info = request_info(request)
    if info is not None:
        info.error = error.message
    return json_response(body, error.status, headers)


def describe(request: Request, protocol: str) -> None:
    """Tell the access log which protocol serves this request."""
    info = request_info(request)
    if info is not None:
        info.protocol = protocol


def describe_model(request: Request, model: str, version: str) -> None:
    """Tell the access log (and the metrics) which model version answers this request."""
    info = request_info(request)
    if info is not None:
        info.model = model
        info.version = version
