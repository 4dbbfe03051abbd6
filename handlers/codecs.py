"""Request bodies (JSON, CSV, ``.npy``, text, image and audio files) as family-neutral inputs; answers in Accept's type.

Used by the SageMaker ``/invocations`` and TorchServe ``/predictions`` routes, and by the worker
processes that decode large bodies (:mod:`handlers.offload`): this module imports neither the engine
nor any model family. Which bodies a model takes is its processor's ``bodies``; what the decoded
values mean (rows, texts, images) is the processor's to decide.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
from collections.abc import Collection
from dataclasses import replace
from typing import Any

import numpy as np

from bundle import Manifest
from bundle.errors import InputError
from bundle.tables import csv_table, npy_array
from handlers.answers import labelled_rows
from handlers.errors import InvalidInputError, NotAcceptableError, UnsupportedMediaTypeError
from handlers.http import json_response, loads
from handlers.vocabulary import ANY_FILE, BODY_KINDS, Answers, Inputs

__all__ = [
    "with_arrays",
    "CSV",
    "JSON",
    "NPY",
    "binary",
    "body_kind",
    "check_single_array",
    "choose_accept",
    "decode_body",
    "encode_answer",
    "json_inputs",
    "to_csv",
    "to_npy",
]

JSON = "application/json"
CSV = "text/csv"
NPY = "application/x-npy"
READABLE = (JSON, CSV, NPY)
_ROW_KEYS = ("instances", "rows", "data")
#: Body kinds decoded here by their format; every other kind is a file whose bytes reach the processor.
_FORMATTED = ("text", "csv", "npy")


def _kind_names(kind: str) -> str:
    """How errors name a body kind's content types (``image/jpeg, image/png, image/webp``)."""
    types = BODY_KINDS[kind]
    return ", ".join(media for media in types[:3] if media.startswith(kind + "/")) or types[0]


def _is_json(media: str) -> bool:
    return media == JSON or media.endswith("+json")


def body_kind(media: str, body: bytes, bodies: Collection[str], model: str) -> str:
    """``"json"`` or the body kind of ``media`` (``""``: JSON, unless a text or file model's body is not JSON;
    ``application/octet-stream``: the file kind the model takes).

    UnsupportedMediaTypeError (415) naming what the model takes when ``media`` is none of them.
    """
    if _is_json(media):
        return "json"
    if media == "":
        if body[:1] in (b"{", b"[", b'"'):
            return "json"
        return next((kind for kind in BODY_KINDS if kind in bodies and kind not in ("csv", "npy")), "json")
    if media in ANY_FILE:  # a file of whichever kind the model takes
        kind = next((name for name in BODY_KINDS if name in bodies and name not in _FORMATTED), None)
    else:
        kind = next((name for name, types in BODY_KINDS.items() if media in types), None) or next(
            (name for name in BODY_KINDS if media.startswith(name + "/") and name != "text"), None
        )
    if kind is None or kind not in bodies:
        names = [_kind_names(name) for name in BODY_KINDS if name in bodies] + [JSON]
        choices = " or ".join(names) if len(names) <= 2 else "one of " + ", ".join(names)
        raise UnsupportedMediaTypeError(f"Content-Type {media!r} is not supported for model {model}; send {choices}")
    return kind


def check_single_array(manifest: Manifest, kind: str) -> None:
    """A ``.npy`` body carries one array: refuse it, before reading it, for a model with several inputs."""
    if kind == "npy" and len(manifest.inputs) != 1:
        raise InvalidInputError(
            f"application/x-npy carries one array but model {manifest.name} has {len(manifest.inputs)} inputs; "
            "send JSON"
        )


def binary(value: Any, where: str) -> Any:
    """``value`` with ``{"b64": s}`` objects (TF Serving's convention for bytes) decoded to ``bytes``.

    Looks at ``value`` itself, the items of a list of objects, and the values of an object (one level).
    """
    if isinstance(value, dict):
        if set(value) == {"b64"}:
            return _b64(value["b64"], where)
        return {
            key: binary(item, f"{where}.{key}") if isinstance(item, dict | list) else item
            for key, item in value.items()
        }
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        return [binary(item, f"{where}[{index}]") for index, item in enumerate(value)]
    return value


def _b64(text: Any, where: str) -> bytes:
    if not isinstance(text, str):
        raise InvalidInputError(f'{where} must be {{"b64": "<base64 of the bytes>"}}')
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError(f'{where}: "b64" is not valid base64; send the bytes base64-encoded') from None
    if not data:
        raise InvalidInputError(f"{where} is empty; send the bytes base64-encoded")
    return data


def json_inputs(payload: Any, where: str = "the body") -> Inputs:
    """A JSON body's values: a list is rows; ``instances``/``rows``/``data`` hold rows; ``inputs`` is named
    values (an object) or one unnamed value; another object is one record (scalars) or named values."""
    options = (payload.get("parameters") if isinstance(payload, dict) else None) or {}
    if isinstance(payload, list):
        return Inputs(rows=binary(payload, where), where=where)
    if not isinstance(payload, dict):
        return Inputs(raw=payload, where=where)
    if set(payload) == {"b64"}:
        return Inputs(raw=binary(payload, where), where=where)
    for key in _ROW_KEYS:
        if key in payload:
            return Inputs(rows=binary(payload[key], f'"{key}"'), options=options, where=f'"{key}"')
    if "inputs" in payload:
        value = binary(payload["inputs"], '"inputs"')
        if isinstance(value, dict):
            return Inputs(named=value, options=options, where='"inputs"')
        return Inputs(raw=value, options=options, where='"inputs"')
    values = {key: value for key, value in payload.items() if key != "parameters"}
    if not values:
        raise InvalidInputError('JSON body needs "instances", "inputs" or "rows" (or input names as keys)')
    values = binary(values, where)
    if all(isinstance(value, int | float | str | bool | bytes) for value in values.values()):
        return Inputs(rows=[values], options=options, where=where)
    return Inputs(named=values, options=options, where=where)


def _csv_rows(body: bytes, numeric: bool) -> np.ndarray:
    try:
        table = csv_table(body, "CSV body")
    except InputError as exc:
        raise InvalidInputError(str(exc)) from None
    if numeric:
        try:
            return table.astype(np.float64)
        except ValueError:
            pass  # the processor names the column that is not numeric
    return table


def _npy_array(body: bytes) -> np.ndarray:
    try:
        return npy_array(body, "body")
    except InputError as exc:
        raise InvalidInputError(str(exc)) from None


def _arrays(value: Any) -> Any:
    """A list of numbers (any depth) as an array, so that neither pickling nor validation walks it again."""
    if not isinstance(value, list):
        return value
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, OverflowError):  # ragged or mixed: validation names the problem
        return value
    return array if array.dtype.kind in "biuf" else value


def decode_body(media: str, body: bytes, kind: str, numeric: bool = True) -> Inputs:
    """The values of a body of ``kind`` (:func:`body_kind`); numeric lists become arrays.

    ``numeric``: no input of the model takes strings, so CSV fields are read as numbers here. Module-level,
    so a worker process can run it.
    """
    if kind == "csv":
        return Inputs(rows=_csv_rows(body, numeric), where="the CSV body")
    if kind == "npy":
        return Inputs(raw=_npy_array(body), where="the .npy body")
    if kind not in (*_FORMATTED, "json"):  # a file: its bytes, as sent
        if not body:
            raise InvalidInputError(f"the body is empty; send the {kind} file (Content-Type: {_kind_names(kind)})")
        return Inputs(raw=body, where="the body")
    if kind == "text":
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInputError("the text/plain body is not UTF-8 text") from None
        if not text:
            raise InvalidInputError("the body is empty; send the text")
        return Inputs(raw=text, where="the body")
    return with_arrays(json_inputs(loads(body)))


def with_arrays(inputs: Inputs) -> Inputs:
    """``inputs`` with its numeric lists as arrays: what a worker process hands back (pickled cheaply)."""
    return replace(
        inputs,
        named={name: _arrays(value) for name, value in inputs.named.items()},
        raw=_arrays(inputs.raw),
        rows=_arrays(inputs.rows),
    )


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


def encode_answer(model: str, version: str, answers: Answers, accept: str) -> tuple[bytes, str]:
    """The answer's body and media type: CSV or .npy of the primary output, or JSON rows (a worker may run it)."""
    if accept in (CSV, NPY):
        array = np.asarray(answers.outputs[answers.primary or next(iter(answers.outputs))])
        return (to_csv(array), CSV) if accept == CSV else (to_npy(array), NPY)
    answer = labelled_rows({"model": model, "version": version}, answers.outputs, answers.labels)
    return bytes(json_response(answer).body), JSON


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
