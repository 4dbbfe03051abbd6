"""Check request tensors against the manifest signature and coerce them to the model's dtypes.

Every problem raises InvalidInputError with a message that names the input and what to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from bundle import Manifest, TensorSpec
from bundle.dtypes import NUMPY_DTYPES
from handlers.errors import InvalidInputError

__all__ = ["coerce_feed", "coerce_tensor", "describe_signature", "shape_text"]


def shape_text(shape: list[int | None]) -> str:
    """``[batch, 4]`` style text for a manifest shape (None -> a dynamic axis)."""
    return "[" + ", ".join("?" if dim is None else str(dim) for dim in shape) + "]"


def describe_signature(manifest: Manifest) -> str:
    """``a (float32 [?, 4]), b (int64 [?, 2])``: the inputs a model expects."""
    return ", ".join(f"{spec.name} ({spec.dtype} {shape_text(spec.shape)})" for spec in manifest.inputs)


def _from_json(spec: TensorSpec, value: Any) -> np.ndarray:
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        raise InvalidInputError(f"input {spec.name!r} is ragged: every row must have the same length") from None
    if array.dtype == object:
        raise InvalidInputError(
            f"input {spec.name!r} is ragged or mixes types; send a rectangular array of {spec.dtype} values"
        )
    return array


def _utf8(spec: TensorSpec, array: np.ndarray) -> np.ndarray:
    """Bytes elements (OIP ``BYTES`` sent in binary) as text."""
    texts = []
    for index, item in enumerate(array.flat):
        if not isinstance(item, bytes):
            texts.append(item)
            continue
        try:
            texts.append(item.decode("utf-8"))
        except UnicodeDecodeError:
            raise InvalidInputError(f"input {spec.name!r} element {index} is not UTF-8 text") from None
    decoded = np.empty(array.shape, dtype=object)
    decoded.reshape(-1)[:] = texts
    return decoded


def _cast(spec: TensorSpec, array: np.ndarray) -> np.ndarray:
    target = NUMPY_DTYPES[spec.dtype]
    kind = array.dtype.kind
    if spec.dtype == "string":
        if kind == "O" and any(isinstance(item, bytes) for item in array.flat):
            array = _utf8(spec, array)
        if kind not in "US" and not (kind == "O" and all(isinstance(item, str) for item in array.flat)):
            raise InvalidInputError(f"input {spec.name!r} takes strings, got {array.dtype} values")
        return array.astype(object)
    if kind in "USO":
        raise InvalidInputError(f"input {spec.name!r} takes {spec.dtype} numbers, got strings")
    if array.dtype == target:
        return array
    if target.kind in "iu":
        if kind == "f" and (not np.all(np.isfinite(array)) or not np.all(np.equal(np.mod(array, 1), 0))):
            raise InvalidInputError(f"input {spec.name!r} takes {spec.dtype} integers, got non-integer values")
        if kind in "iuf" and array.size:
            info = np.iinfo(target)
            low, high = array.min(), array.max()
            # compare in Python ints: float64 cannot tell 2**63 - 1 from 2**63
            if (
                int(low) < info.min
                or int(high) > info.max
                or (kind == "f" and float(high) >= 2.0 ** (info.bits - (info.min < 0)))
            ):
                raise InvalidInputError(f"input {spec.name!r} has values outside the {spec.dtype} range")
    elif target.kind == "b":
        if kind != "b" and not np.all((array == 0) | (array == 1)):
            raise InvalidInputError(f"input {spec.name!r} takes booleans, got values other than 0/1/true/false")
    elif kind == "b":
        raise InvalidInputError(f"input {spec.name!r} takes {spec.dtype} numbers, got booleans")
    return array.astype(target)


def coerce_tensor(spec: TensorSpec, value: Any, *, allow_nonfinite: bool = False) -> np.ndarray:
    """``value`` (JSON lists or an ndarray) as an array of the spec's dtype, rank and shape."""
    array = value if isinstance(value, np.ndarray) else _from_json(spec, value)
    array = _cast(spec, array)
    if array.ndim != len(spec.shape):
        hint = "; wrap a single row in a list" if array.ndim + 1 == len(spec.shape) else ""
        raise InvalidInputError(
            f"input {spec.name!r} must have rank {len(spec.shape)} {shape_text(spec.shape)}, "
            f"got rank {array.ndim} {list(array.shape)}{hint}"
        )
    for axis, (want, got) in enumerate(zip(spec.shape, array.shape, strict=True)):
        if want is not None and want != got:
            raise InvalidInputError(
                f"input {spec.name!r} must have shape {shape_text(spec.shape)}, got {list(array.shape)} (axis {axis})"
            )
    if not allow_nonfinite and array.dtype.kind == "f" and not np.isfinite(array).all():
        raise InvalidInputError(f"input {spec.name!r} holds NaN or infinity, which this model cannot take")
    return array


def coerce_feed(
    manifest: Manifest, tensors: Mapping[str, Any], *, allow_nonfinite: bool = False
) -> dict[str, np.ndarray]:
    """The whole feed: every input present, none unknown, each coerced with :func:`coerce_tensor`."""
    unknown = [name for name in tensors if manifest.input_spec(name) is None]
    if unknown:
        raise InvalidInputError(
            f"unknown input(s) {', '.join(map(repr, unknown))}; "
            f"model {manifest.name} takes {describe_signature(manifest)}"
        )
    feed: dict[str, np.ndarray] = {}
    for spec in manifest.inputs:
        if spec.name not in tensors:
            raise InvalidInputError(
                f"missing input {spec.name!r}; model {manifest.name} takes {describe_signature(manifest)}"
            )
        feed[spec.name] = coerce_tensor(spec, tensors[spec.name], allow_nonfinite=allow_nonfinite)
    return feed
