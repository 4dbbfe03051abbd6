"""Named input arrays from data files (CSV, ``.npy``, ``.npz``), read against a model's signature.

A deployed API routes the same maaskit JSON on every target (``POST /models/{name}/predict``), but
not the container's raw ``/invocations``: files are read here, as the server reads them, and sent
as ``{"inputs": {name: array}}``. The signature is ``GET /models/{name}``'s answer (its ``inputs``:
``name``, ``dtype``, ``shape``).
"""

from __future__ import annotations

import base64
import io
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from bundle.errors import InputError
from bundle.tables import csv_table, npy_array

__all__ = ["FileError", "csv_arrays", "has_nonfinite", "image_inputs", "npy_arrays", "npz_arrays"]


class FileError(ValueError):
    """The file cannot be read as the model's inputs; the message says what to send instead."""


def _typed(spec: Mapping[str, Any], column: np.ndarray) -> np.ndarray:
    """A column of CSV text as the input's dtype (strings kept; numbers parsed, integers when exact)."""
    if spec["dtype"] == "string":
        return column.astype(object)
    try:
        numbers = column.astype(np.float64)
    except ValueError as exc:
        raise FileError(f"CSV column for input {spec['name']!r} is not numeric: {exc}") from None
    if spec["dtype"].startswith(("int", "uint")) and np.all(np.isfinite(numbers)) and np.all(numbers % 1 == 0):
        return numbers.astype(spec["dtype"])
    if spec["dtype"].startswith("float"):
        return numbers.astype(spec["dtype"])
    return numbers


def csv_arrays(body: bytes, signature: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Rows of a CSV file (a header line is skipped) as the model's inputs, split in input order by width."""
    try:
        table = csv_table(body, "the CSV file")
    except InputError as exc:
        raise FileError(str(exc)) from None
    specs = list(signature["inputs"])
    if len(specs) == 1:
        return {specs[0]["name"]: _typed(specs[0], table)}
    widths = [spec["shape"][1] if len(spec["shape"]) == 2 and spec["shape"][1] else 0 for spec in specs]
    if 0 in widths or sum(widths) != table.shape[1]:
        names = ", ".join(f"{spec['name']} {spec['shape']}" for spec in specs)
        raise FileError(
            f"the model takes several inputs ({names}) and the CSV rows hold {table.shape[1]} fields; "
            "send a .json of rows keyed by input name, or an .npz with one array per input"
        )
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    for spec, width in zip(specs, widths, strict=True):
        arrays[spec["name"]] = _typed(spec, table[:, offset : offset + width])
        offset += width
    return arrays


def npy_arrays(body: bytes, signature: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """One ``.npy`` array as the input of a single-input model."""
    specs = list(signature["inputs"])
    if len(specs) != 1:
        names = ", ".join(spec["name"] for spec in specs)
        raise FileError(f"an .npy file holds one array and the model has {len(specs)} inputs ({names}); send an .npz")
    try:
        array = npy_array(body, "the .npy file")
    except InputError as exc:
        raise FileError(str(exc)) from None
    return {specs[0]["name"]: array}


def npz_arrays(body: bytes) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz``, one per input name (no pickle)."""
    try:
        with np.load(io.BytesIO(body), allow_pickle=False) as arrays:
            named = {name: arrays[name] for name in arrays.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise FileError(f"not a readable .npz of plain arrays (one per input name): {exc}") from None
    if not named:
        raise FileError("the .npz holds no arrays; save one per input name: np.savez(path, input_ids=..., ...)")
    return named


def image_inputs(body: bytes) -> dict[str, Any]:
    """An image file as the maaskit JSON ``inputs`` of an image model (base64, decoded by the server)."""
    return {"image": [{"b64": base64.b64encode(body).decode()}]}


def has_nonfinite(arrays: Mapping[str, np.ndarray]) -> bool:
    """True when a float array holds NaN or infinity, which JSON cannot carry."""
    return any(array.dtype.kind == "f" and not np.all(np.isfinite(array)) for array in arrays.values())
