"""Bodies in JSON, CSV and ``.npy`` turned into input tensors, and answers written in the Accept type.

Used by the SageMaker ``/invocations`` and TorchServe ``/predictions`` routes.
"""

from __future__ import annotations

import csv
import io
from tokenize import TokenError
from typing import Any

import numpy as np

from bundle import Manifest
from handlers.errors import InvalidInputError, NotAcceptableError, UnsupportedMediaTypeError
from handlers.http import loads
from handlers.labels import label_output_values
from handlers.tabular import records_to_tensors, rows_to_tensors

__all__ = ["CSV", "JSON", "NPY", "choose_accept", "decode_body", "primary_output", "to_csv", "to_npy"]

JSON = "application/json"
CSV = "text/csv"
NPY = "application/x-npy"
READABLE = (JSON, CSV, NPY)
_NPY_KINDS = frozenset("biufUS")  # booleans, integers, floats, text; not complex, records, datetimes or void


def _json_tensors(manifest: Manifest, payload: Any) -> dict[str, Any]:
    if isinstance(payload, list):
        return rows_to_tensors(manifest, payload)
    if not isinstance(payload, dict):
        raise InvalidInputError('a JSON body must be a list of rows or an object with "instances", "inputs" or "rows"')
    for key in ("instances", "rows", "data"):
        if key in payload:
            return rows_to_tensors(manifest, payload[key])
    if "inputs" in payload:
        inputs = payload["inputs"]
        if isinstance(inputs, dict):
            return inputs
        if len(manifest.inputs) == 1:
            return {manifest.inputs[0].name: inputs}
        raise InvalidInputError('this model has several inputs: "inputs" must be an object keyed by input name')
    names = {spec.name for spec in manifest.inputs}
    if payload and set(payload) <= names:
        return payload
    if payload and all(isinstance(value, (int, float, str, bool)) for value in payload.values()):
        return records_to_tensors(manifest, [payload])
    raise InvalidInputError('JSON body needs "instances", "inputs" or "rows" (or input names as keys)')


def _all_text(row: list[str]) -> bool:
    """True when no field of ``row`` reads as a number."""
    for field in row:
        try:
            float(field)
        except ValueError:
            continue
        return False
    return True


def _csv_tensors(manifest: Manifest, body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInputError("CSV body is not UTF-8 text") from None
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if not rows:
        raise InvalidInputError("CSV body holds no rows")
    if len(rows) > 1 and _all_text(rows[0]) and not _all_text(rows[1]):
        rows = rows[1:]  # a header line (pandas' to_csv writes one by default)
    width = len(rows[0])
    for number, row in enumerate(rows, start=1):
        if len(row) != width:
            raise InvalidInputError(
                f"CSV row {number} has {len(row)} fields where row 1 has {width}; every row needs the same columns"
            )
    tensors = rows_to_tensors(manifest, rows)
    converted: dict[str, Any] = {}
    for spec in manifest.inputs:
        column = np.asarray(tensors[spec.name], dtype=str)
        if spec.dtype == "string":
            converted[spec.name] = column.astype(object)
            continue
        try:
            numbers = column.astype(np.float64)
        except ValueError as exc:
            raise InvalidInputError(f"CSV column for input {spec.name!r} is not numeric: {exc}") from None
        converted[spec.name] = numbers  # validation casts and checks integer-ness against the model dtype
    return converted


def _npy_tensors(manifest: Manifest, body: bytes) -> dict[str, Any]:
    if len(manifest.inputs) != 1:
        raise InvalidInputError(
            f"application/x-npy carries one array but model {manifest.name} has {len(manifest.inputs)} inputs; "
            "send JSON"
        )
    try:
        array = np.load(io.BytesIO(body), allow_pickle=False)
    except ValueError as exc:
        raise InvalidInputError(f"body is not a .npy array without pickled objects: {exc}") from None
    except (OSError, EOFError, SyntaxError, TokenError, TypeError, KeyError) as exc:  # a damaged header
        raise InvalidInputError(f"body is not a readable .npy array: {type(exc).__name__}: {exc}") from None
    if not isinstance(array, np.ndarray):
        raise InvalidInputError("body holds an .npz archive; send a single .npy array")
    if array.dtype.kind not in _NPY_KINDS:
        raise InvalidInputError(
            f".npy array has dtype {array.dtype.str!r}; send a plain array of numbers, booleans or strings"
        )
    if array.dtype.kind in "US":
        array = array.astype(object)
    return {manifest.inputs[0].name: array}


def decode_body(manifest: Manifest, media_type: str, body: bytes) -> dict[str, Any]:
    """Input tensors (not yet validated) from a JSON, CSV or .npy body."""
    if media_type in ("", JSON) or media_type.endswith("+json"):
        return _json_tensors(manifest, loads(body))
    if media_type == CSV:
        return _csv_tensors(manifest, body)
    if media_type in (NPY, "application/npy"):
        return _npy_tensors(manifest, body)
    raise UnsupportedMediaTypeError(f"Content-Type {media_type!r} is not supported; send one of {', '.join(READABLE)}")


def choose_accept(accept: str | None, default: str = JSON) -> str:
    """The first type in Accept that an answer can be written in (``*/*`` or none: ``default``)."""
    if not accept:
        return default
    for part in accept.split(","):
        media = part.split(";", 1)[0].strip().lower()
        if media in ("*/*", "application/*"):
            return default
        if media in READABLE:
            return media
        if media == "application/npy":
            return NPY
    raise NotAcceptableError(f"Accept {accept!r} names no type this route writes; use one of {', '.join(READABLE)}")


def primary_output(manifest: Manifest, outputs: dict[str, np.ndarray]) -> np.ndarray:
    """The output a single-array answer carries: the labels of a classifier, else the first output."""
    name = manifest.label_output if manifest.label_output in outputs else manifest.outputs[0].name
    return label_output_values(manifest, name, np.asarray(outputs[name]))


def to_csv(array: np.ndarray) -> bytes:
    """One CSV line per row (trailing axes flattened)."""
    rows = array.reshape(array.shape[0], -1) if array.ndim > 1 else array.reshape(-1, 1)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows.tolist():
        writer.writerow([item.decode() if isinstance(item, bytes) else item for item in row])
    return buffer.getvalue().encode()


def to_npy(array: np.ndarray) -> bytes:
    """A .npy file (strings as fixed-width unicode, never pickled)."""
    if array.dtype.kind == "O":
        array = array.astype(str)
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()
