"""Binary tensors over the Open Inference Protocol v2 binary tensor data extension.

A request is a JSON header followed by the raw little-endian, row-major bytes of each input;
``Inference-Header-Content-Length`` says where the header ends. BYTES (string) elements are a
4-byte little-endian length followed by UTF-8 bytes. Used by ``MaaskitClient.predict`` for large
inputs, where JSON would spend most of the time formatting and parsing numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from math import prod
from typing import Any

import numpy as np
import orjson

from bundle.wire import DATATYPES, HEADER_LENGTH, WireFormatError, datatype_of, decode_bytes, encode_bytes

__all__ = ["HEADER_LENGTH", "decode_response", "encode_request"]

#: OIP datatype -> little-endian numpy dtype (the bundle package's wire definition, shared with the server).
_NUMPY = {name: dtype for name, dtype in DATATYPES.items() if name != "BYTES"}


def _raw(array: np.ndarray) -> tuple[str, bytes]:
    if array.dtype.kind in "OUS":
        return "BYTES", encode_bytes(array)
    try:
        datatype = datatype_of(array.dtype.name)
    except KeyError:
        raise ValueError(f"dtype {array.dtype} has no Open Inference Protocol datatype") from None
    return datatype, np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def encode_request(inputs: Mapping[str, np.ndarray], outputs: list[str]) -> tuple[bytes, int]:
    """Body and JSON header length of an infer request asking for every output in binary."""
    specs, chunks = [], []
    for name, array in inputs.items():
        datatype, raw = _raw(array)
        specs.append(
            {
                "name": name,
                "shape": list(array.shape),
                "datatype": datatype,
                "parameters": {"binary_data_size": len(raw)},
            }
        )
        chunks.append(raw)
    requested = [{"name": name, "parameters": {"binary_data": True}} for name in outputs]
    header = orjson.dumps({"inputs": specs, "outputs": requested})
    return header + b"".join(chunks), len(header)


def decode_response(body: bytes, header_length: str | None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The response header and its output arrays (binary or JSON ``data``)."""
    length = int(header_length) if header_length else len(body)
    header: dict[str, Any] = orjson.loads(body[:length])
    binary, offset = body[length:], 0
    arrays: dict[str, np.ndarray] = {}
    for spec in header.get("outputs", []):
        shape = [int(axis) for axis in spec["shape"]]
        size = (spec.get("parameters") or {}).get("binary_data_size")
        if size is None:
            dtype = _NUMPY.get(spec["datatype"], np.dtype(object))
            arrays[spec["name"]] = np.asarray(spec["data"], dtype=dtype).reshape(shape)
            continue
        chunk = binary[offset : offset + size]
        offset += size
        if spec["datatype"] == "BYTES":
            try:
                arrays[spec["name"]] = decode_bytes(chunk, prod(shape)).reshape(shape)
            except WireFormatError as exc:
                raise ValueError(f"output {spec['name']!r}: {exc}") from None
        else:
            arrays[spec["name"]] = np.frombuffer(chunk, dtype=_NUMPY[spec["datatype"]]).reshape(shape).copy()
    return header, arrays
