"""The pre-traffic hook's wire: Open Inference Protocol v2 requests and answers, lossless for every bundle kind.

A request carries the raw sample inputs as the documented OIP binary tensor data extension: a JSON
header (``inputs`` with ``datatype``, ``shape`` and ``parameters.binary_data_size``; ``outputs``
asking for every model output by name, as binary) followed by the little-endian tensors, its length
in ``Inference-Header-Content-Length``. Tensors go in the manifest's dtypes (NaN and infinities
intact: no JSON number is written), texts and encoded images as one ``BYTES`` input. Answers are
read back from JSON ``data`` (null: a NaN written by orjson) or ``binary_data_size`` chunks.

Only numpy and ``bundle.wire``: this module ships in the hook's asset.
"""

from __future__ import annotations

import json
from math import prod
from typing import Any

import numpy as np

from bundle.judge import RawSamples
from bundle.manifest import Manifest
from bundle.wire import DATATYPES, HEADER_LENGTH, datatype_of, decode_bytes, encode_bytes

__all__ = ["BYTES_INPUT", "TRANSCRIPT_OUTPUT", "HeaderedBody", "decode_answer", "files_body", "request_body"]

#: Name of the one BYTES input carrying texts or encoded images (the server takes any name for it).
BYTES_INPUT = {"texts": "text_input", "images": "image", "audio": "audio"}
#: The output holding a speech model's transcripts (one string per file).
TRANSCRIPT_OUTPUT = "text"

HeaderedBody = tuple[bytes, int]
"""A request body and the length of its JSON header."""


def _tensor(name: str, array: np.ndarray, datatype: str) -> tuple[dict[str, Any], bytes]:
    if datatype == "BYTES":
        raw = encode_bytes(np.asarray(array, dtype=object))
    else:
        raw = np.ascontiguousarray(np.asarray(array).astype(DATATYPES[datatype])).tobytes()
    spec = {"name": name, "datatype": datatype, "shape": list(np.shape(array))}
    return {**spec, "parameters": {"binary_data_size": len(raw)}}, raw


def request_body(manifest: Manifest, raw: RawSamples) -> HeaderedBody:
    """The OIP binary request for ``raw``, asking for every model output (binary) by name."""
    inputs: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    if raw.kind == "tensors":
        for spec in manifest.inputs:
            if spec.name not in raw.tensors:
                raise ValueError(f"the samples have no values for input {spec.name!r}; repackage the bundle")
            entry, chunk = _tensor(spec.name, raw.tensors[spec.name], datatype_of(spec.dtype))
            inputs.append(entry)
            chunks.append(chunk)
    else:
        items: list[Any] = list(raw.texts if raw.kind == "texts" else raw.images)
        elements = np.empty(len(items), dtype=object)
        elements[:] = items
        entry, chunk = _tensor(BYTES_INPUT[raw.kind], elements, "BYTES")
        inputs.append(entry)
        chunks.append(chunk)
    outputs = [{"name": spec.name, "parameters": {"binary_data": True}} for spec in manifest.outputs]
    header = json.dumps({"inputs": inputs, "outputs": outputs}, separators=(",", ":")).encode()
    return header + b"".join(chunks), len(header)


def files_body(name: str, files: list[bytes], outputs: list[str]) -> HeaderedBody:
    """An OIP binary request carrying encoded ``files`` (audio, images) as one BYTES input, asking ``outputs``."""
    elements = np.empty(len(files), dtype=object)
    elements[:] = files
    entry, chunk = _tensor(name, elements, "BYTES")
    wanted = [{"name": output, "parameters": {"binary_data": True}} for output in outputs]
    header = json.dumps({"inputs": [entry], "outputs": wanted}, separators=(",", ":")).encode()
    return header + chunk, len(header)


def _header_length(headers: dict[str, Any] | None) -> int | None:
    for key, value in (headers or {}).items():
        if key.lower() == HEADER_LENGTH:
            return int(value[0] if isinstance(value, list) else value)
    return None


def _from_data(name: str, data: Any, datatype: str, shape: list[int]) -> np.ndarray:
    if datatype == "BYTES":
        return np.asarray(data, dtype=object).reshape(shape)
    values = np.asarray([np.nan if item is None else item for item in np.ravel(np.asarray(data, dtype=object))])
    try:
        return values.astype(DATATYPES[datatype]).reshape(shape)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"output {name!r}: data do not fit {datatype} {shape}: {exc}") from None


def decode_answer(body: bytes, headers: dict[str, Any] | None) -> dict[str, np.ndarray]:
    """The ``outputs`` of an OIP inference answer (JSON, or JSON header + binary tensors) as arrays by name."""
    length = _header_length(headers)
    header, binary = (body, b"") if length is None else (body[:length], body[length:])
    answer = json.loads(header)
    if not isinstance(answer, dict) or not isinstance(answer.get("outputs"), list):
        raise ValueError(f"the answer has no OIP outputs list: {header[:300]!r}")
    decoded: dict[str, np.ndarray] = {}
    offset = 0
    for entry in answer["outputs"]:
        name, datatype, shape = entry["name"], entry["datatype"], [int(dim) for dim in entry["shape"]]
        size = (entry.get("parameters") or {}).get("binary_data_size")
        if size is None:
            decoded[name] = _from_data(name, entry.get("data"), datatype, shape)
            continue
        chunk = binary[offset : offset + int(size)]
        offset += int(size)
        if datatype == "BYTES":
            decoded[name] = decode_bytes(chunk, prod(shape)).reshape(shape)
        else:
            dtype = np.dtype(np.uint8) if datatype == "BOOL" else DATATYPES[datatype]
            array = np.frombuffer(chunk, dtype=dtype)
            decoded[name] = (array.astype(bool) if datatype == "BOOL" else array).reshape(shape)
    return decoded
