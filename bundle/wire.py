"""Open Inference Protocol v2 wire datatypes, shared by the server's codec and the client SDK.

One definition of how a tensor travels: the OIP datatype of each manifest dtype, the numpy dtype
of each OIP datatype (little-endian, row-major), and the BYTES element framing of the binary
tensor data extension (a 4-byte little-endian length, then the UTF-8 bytes).
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from bundle.names import OIP_HEADER_LENGTH

__all__ = ["DATATYPES", "HEADER_LENGTH", "WireFormatError", "datatype_of", "decode_bytes", "encode_bytes"]

#: Header giving the length of the JSON part of a binary-extension body (lowercase: ASGI header form).
HEADER_LENGTH = OIP_HEADER_LENGTH.lower()

#: OIP datatype -> numpy dtype (BYTES -> object array of str/bytes).
DATATYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("bool"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype("O"),
}
_MANIFEST_TO_OIP = {
    "bool": "BOOL",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
    "string": "BYTES",
}


class WireFormatError(ValueError):
    """Binary tensor data that does not follow the framing (the message says where it breaks)."""


def datatype_of(dtype: str) -> str:
    """The OIP datatype for a manifest (numpy) dtype name (``float32`` -> ``FP32``); KeyError if none."""
    return _MANIFEST_TO_OIP[dtype]


def encode_bytes(array: np.ndarray) -> bytes:
    """BYTES tensor as the binary extension writes it (length-prefixed UTF-8 elements)."""
    parts = []
    for item in array.ravel().tolist():
        raw = item if isinstance(item, bytes) else str(item).encode("utf-8")
        parts.append(struct.pack("<I", len(raw)) + raw)
    return b"".join(parts)


def decode_bytes(chunk: bytes, count: int, *, keep_bytes: bool = False) -> np.ndarray:
    """``count`` length-prefixed elements as an object array; WireFormatError if the framing breaks.

    Elements are UTF-8 text, or with ``keep_bytes`` the bytes as sent (encoded images).
    """
    items: list[str | bytes] = []
    offset = 0
    for _ in range(count):
        if offset + 4 > len(chunk):
            raise WireFormatError(f"BYTES binary data ends before element {len(items)}")
        (size,) = struct.unpack_from("<I", chunk, offset)
        offset += 4
        if offset + size > len(chunk):
            raise WireFormatError(f"BYTES element {len(items)} runs past the end of its data")
        element = chunk[offset : offset + size]
        offset += size
        if keep_bytes:
            items.append(element)
            continue
        try:
            items.append(element.decode("utf-8"))
        except UnicodeDecodeError:
            raise WireFormatError(f"BYTES element {len(items)} is not UTF-8 text") from None
    if offset != len(chunk):
        raise WireFormatError(f"{len(chunk) - offset} bytes left over after {count} BYTES elements")
    return np.asarray(items, dtype=object)
