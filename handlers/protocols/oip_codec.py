"""Open Inference Protocol v2 tensors: JSON ``data`` and the binary tensor data extension.

Binary tensors are little-endian, row-major; BOOL is one byte per element; BYTES elements are a
4-byte little-endian length followed by the bytes. They follow the JSON header in the body, in the
order of the inputs (outputs) that carry ``parameters.binary_data_size``.
"""

from __future__ import annotations

from math import prod
from typing import Any

import numpy as np

from bundle.wire import DATATYPES, HEADER_LENGTH, WireFormatError, datatype_of, decode_bytes, encode_bytes
from handlers.errors import InvalidInputError

__all__ = [
    "DATATYPES",
    "HEADER_LENGTH",
    "datatype_of",
    "decode_input",
    "encode_bytes",
    "parse_body",
]


def parse_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """Split a request into its JSON header and the binary tensor data that follows it."""
    if header_length is None:
        return body, b""
    try:
        length = int(header_length)
    except ValueError:
        raise InvalidInputError(f"Inference-Header-Content-Length {header_length!r} is not a number") from None
    if not 0 < length <= len(body):
        raise InvalidInputError(
            f"Inference-Header-Content-Length is {length} but the body has {len(body)} bytes; "
            "it must give the length of the JSON header at the start of the body"
        )
    return body[:length], body[length:]


def _decode_bytes_elements(chunk: bytes, count: int, name: str, raw_bytes: bool = False) -> np.ndarray:
    try:
        return decode_bytes(chunk, count, keep_bytes=raw_bytes)
    except WireFormatError as exc:
        raise InvalidInputError(f"input {name!r}: {exc}") from None


def _shape(spec: dict[str, Any], name: str) -> list[int]:
    shape = spec.get("shape")
    if not isinstance(shape, list) or not all(isinstance(dim, int) and not isinstance(dim, bool) for dim in shape):
        raise InvalidInputError(f"input {name!r} needs a shape: a list of whole numbers")
    if any(dim < 0 for dim in shape):
        raise InvalidInputError(f"input {name!r} has a negative dimension in shape {shape}")
    return shape


def decode_input(spec: Any, binary: bytes, offset: int, *, raw_bytes: bool = False) -> tuple[str, np.ndarray, int]:
    """One ``$request_input``: its name, its array, and the binary offset after it.

    ``raw_bytes``: binary BYTES elements are kept as bytes (encoded images), not decoded as UTF-8.
    """
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise InvalidInputError('each entry of "inputs" must be an object with a "name"')
    name = spec["name"]
    datatype = spec.get("datatype")
    if datatype not in DATATYPES:
        raise InvalidInputError(f"input {name!r} has datatype {datatype!r}; use one of {', '.join(DATATYPES)}")
    shape = _shape(spec, name)
    count = prod(shape)
    parameters = spec.get("parameters") or {}
    size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
    if size is not None:
        if not isinstance(size, int) or size < 0 or offset + size > len(binary):
            raise InvalidInputError(
                f"input {name!r}: binary_data_size {size!r} does not fit the {len(binary) - offset} binary bytes left"
            )
        chunk = binary[offset : offset + size]
        if datatype == "BYTES":
            array = _decode_bytes_elements(chunk, count, name, raw_bytes)
        else:
            dtype = DATATYPES[datatype]
            if size != count * dtype.itemsize:
                raise InvalidInputError(
                    f"input {name!r}: shape {shape} of {datatype} needs {count * dtype.itemsize} bytes, got {size}"
                )
            array = np.frombuffer(chunk, dtype=np.uint8 if datatype == "BOOL" else dtype)
            if datatype == "BOOL":
                array = array.astype(bool)
        return name, array.reshape(shape), offset + size
    if "data" not in spec:
        raise InvalidInputError(f"input {name!r} has neither data nor parameters.binary_data_size")
    data = spec["data"]
    try:
        array = np.asarray(data, dtype=object if datatype == "BYTES" else None)
    except ValueError:
        raise InvalidInputError(f"input {name!r}: data is ragged; send a flat, row-major list") from None
    if array.size != count:
        raise InvalidInputError(f"input {name!r}: shape {shape} needs {count} elements, data has {array.size}")
    if datatype == "BYTES":
        if not all(isinstance(item, str) for item in array.flat):
            raise InvalidInputError(f"input {name!r}: BYTES data must be strings")
    elif array.dtype.kind not in "biuf":
        raise InvalidInputError(f"input {name!r}: {datatype} data must be numbers")
    elif datatype != "BOOL" and array.dtype.kind == "b":
        raise InvalidInputError(f"input {name!r}: {datatype} data must be numbers, got booleans")
    elif not (array.dtype.kind == "f" and datatype != "FP16" and not datatype.startswith("FP")):
        array = array.astype(DATATYPES[datatype])  # floats sent for an integer type stay floats: validation names them
    return name, array.reshape(shape), offset
