"""Turn row-shaped payloads (JSON rows, records, CSV lines) into a named feed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bundle import Manifest
from handlers.errors import InvalidInputError
from handlers.validation import describe_signature

__all__ = ["records_to_tensors", "rows_to_tensors"]


def _widths(manifest: Manifest) -> list[int] | None:
    """Per-input column counts when every input is ``[batch, k]`` with a fixed ``k`` (else None)."""
    widths = []
    for spec in manifest.inputs:
        if len(spec.shape) != 2 or spec.shape[1] is None:
            return None
        widths.append(spec.shape[1])
    return widths


def records_to_tensors(manifest: Manifest, records: Sequence[Any]) -> dict[str, list[Any]]:
    """``[{input: value, ...}, ...]`` to ``{input: [value, ...]}`` (one entry per row)."""
    columns: dict[str, list[Any]] = {spec.name: [] for spec in manifest.inputs}
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvalidInputError(
                f"row {index} must be an object keyed by input name ({describe_signature(manifest)})"
            )
        for name, value in record.items():
            if name not in columns:
                raise InvalidInputError(
                    f"row {index} has unknown input {name!r}; "
                    f"model {manifest.name} takes {describe_signature(manifest)}"
                )
            columns[name].append(value)
        for name, column in columns.items():
            if len(column) != index + 1:
                raise InvalidInputError(f"row {index} lacks input {name!r}")
    return columns


def rows_to_tensors(manifest: Manifest, rows: Sequence[Any]) -> dict[str, Any]:
    """Rows for the model's inputs.

    One input: the rows are that input's batch. Several ``[batch, k]`` inputs: each row is either an object
    keyed by input name or a flat list of all columns, split in input order by each input's width.
    """
    if not isinstance(rows, list) or not rows:
        raise InvalidInputError("rows must be a non-empty list")
    if all(isinstance(row, dict) for row in rows):
        return records_to_tensors(manifest, rows)
    if len(manifest.inputs) == 1:
        return {manifest.inputs[0].name: rows}
    widths = _widths(manifest)
    if widths is None:
        raise InvalidInputError(
            f"model {manifest.name} has several inputs ({describe_signature(manifest)}); "
            "send rows as objects keyed by input name"
        )
    try:
        table = np.asarray(rows)
    except ValueError:
        raise InvalidInputError("rows must all have the same number of columns") from None
    total = sum(widths)
    if table.ndim != 2 or table.shape[1] != total or table.dtype == object:
        raise InvalidInputError(
            f"each row must hold {total} values (inputs in order: {describe_signature(manifest)}), "
            f"got shape {list(table.shape)}"
        )
    tensors: dict[str, Any] = {}
    offset = 0
    for spec, width in zip(manifest.inputs, widths, strict=True):
        tensors[spec.name] = table[:, offset : offset + width]
        offset += width
    return tensors
