"""The tensor family (tabular and plain-tensor models): rows, records and named tensors -> a checked feed.

:class:`TensorProcessor` is the processor of every bundle whose task has no processor of its own
(:data:`handlers.processing.PROCESSORS`). Its answers are the outputs with class indices mapped to
labels, the predicted labels, and (TorchServe's handler shape) ``{label: probability}`` per row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bundle import Manifest
from handlers.answers import class_scores, mapped_outputs, rows_of, unwrap
from handlers.errors import InvalidInputError
from handlers.labels import predicted_labels
from handlers.validation import coerce_feed, describe_signature
from handlers.vocabulary import Answers, ExampleFeed, Feed, Inputs, Outputs, Style

__all__ = ["TensorProcessor", "primary_output_name", "records_to_tensors", "rows_to_tensors", "tensors_of"]


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


def rows_to_tensors(manifest: Manifest, rows: Sequence[Any] | np.ndarray) -> dict[str, Any]:
    """Rows for the model's inputs.

    One input: the rows are that input's batch. Several ``[batch, k]`` inputs: each row is either an object
    keyed by input name or a flat list of all columns, split in input order by each input's width.
    """
    if isinstance(rows, np.ndarray):
        if rows.ndim == 0 or len(rows) == 0:
            raise InvalidInputError("rows must be a non-empty list")
    elif not isinstance(rows, list) or not rows:
        raise InvalidInputError("rows must be a non-empty list")
    elif all(isinstance(row, dict) for row in rows):
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


def _is_raw(value: Any) -> bool:
    """A text or encoded file, or a list of them."""
    if isinstance(value, list) and value:
        value = value[0]
    return isinstance(value, str | bytes)


def _text_columns(manifest: Manifest, tensors: dict[str, Any], where: str) -> dict[str, Any]:
    """Columns of a table of text fields (CSV) as numbers for numeric inputs, objects for string inputs."""
    converted: dict[str, Any] = {}
    for name, value in tensors.items():
        spec = manifest.input_spec(name)
        column = np.asarray(value)
        if spec is None or column.dtype.kind not in "US":
            converted[name] = value
        elif spec.dtype == "string":
            converted[name] = column.astype(object)
        else:
            try:
                converted[name] = column.astype(np.float64)  # validation casts and checks integer-ness
            except ValueError as exc:
                raise InvalidInputError(f"{where}: the column for input {name!r} is not numeric: {exc}") from None
    return converted


def tensors_of(manifest: Manifest, inputs: Inputs) -> tuple[dict[str, Any], bool]:
    """The named tensors ``inputs`` carry for ``manifest``'s inputs, and whether one example came without a batch axis.

    Named values are the tensors; rows are split over the inputs (:func:`rows_to_tensors`); an unnamed
    value is the only input's batch. Raw texts or bytes for numeric inputs are refused.
    """
    signature = ", ".join(spec.name for spec in manifest.inputs)
    if inputs.tokens is not None:
        raise InvalidInputError(f"model {manifest.name} takes tensors ({signature}), not token ids")
    tensors = _tensors(manifest, inputs, signature)
    return _batched(manifest, tensors) if inputs.may_omit_batch else (tensors, False)


def _tensors(manifest: Manifest, inputs: Inputs, signature: str) -> dict[str, Any]:
    takes_strings = any(spec.dtype == "string" for spec in manifest.inputs)
    if inputs.named:
        return dict(inputs.named)
    if inputs.rows is not None:
        if _is_raw(inputs.rows) and not takes_strings:
            raise InvalidInputError(
                f"model {manifest.name} takes tensors ({signature}), not raw text or bytes: send its inputs by name"
            )
        tensors = rows_to_tensors(manifest, inputs.rows)
        if isinstance(inputs.rows, np.ndarray) and inputs.rows.dtype.kind in "US":
            tensors = _text_columns(manifest, tensors, inputs.where)
        return tensors
    if inputs.raw is not None:
        if _is_raw(inputs.raw) and not takes_strings:
            raise InvalidInputError(
                f"model {manifest.name} takes tensors ({signature}), not raw text or bytes: send its inputs by name"
            )
        if len(manifest.inputs) != 1:
            raise InvalidInputError(
                f"this model has several inputs ({describe_signature(manifest)}): "
                f"{inputs.where} must be an object keyed by input name"
            )
        return {manifest.inputs[0].name: inputs.raw}
    return {}


def _batched(manifest: Manifest, tensors: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """A single example (every input one axis short of a dynamic batch axis) gets a batch axis of one."""
    try:
        arrays = {name: np.asarray(value) for name, value in tensors.items()}
    except (ValueError, TypeError):
        return tensors, False  # ragged: validation names the problem
    single = all(
        spec.name in arrays and arrays[spec.name].ndim + 1 == len(spec.shape) and spec.shape[0] is None
        for spec in manifest.inputs
    )
    if not single:
        return tensors, False
    return {name: array[np.newaxis, ...] for name, array in arrays.items()}, True


def primary_output_name(manifest: Manifest, outputs: Mapping[str, Any]) -> str:
    """The output a one-array answer carries: a classifier's labels, else the first output."""
    label = manifest.label_output
    return label if label is not None and label in outputs else manifest.outputs[0].name


def score_labels_of(manifest: Manifest) -> dict[str, list[str]]:
    """``{probability output: labels}`` for a classifier with labels and a probability output."""
    if manifest.probability_output and manifest.labels:
        return {manifest.probability_output: [str(label) for label in manifest.labels]}
    return {}


class TensorProcessor:
    """Tabular and plain-tensor models: check and coerce the tensors against the manifest; outputs as they are."""

    bodies = frozenset({"csv", "npy"})
    embedder = None

    def __init__(self, manifest: Manifest, *, allow_nonfinite: bool = False) -> None:
        self.manifest = manifest
        self.allow_nonfinite = allow_nonfinite
        self.score_labels = score_labels_of(manifest)

    def preprocess(self, inputs: Inputs) -> Feed:
        """The coerced feed (names, dtypes, ranks, shapes and finiteness checked)."""
        tensors, single = tensors_of(self.manifest, inputs)
        feed = coerce_feed(self.manifest, tensors, allow_nonfinite=self.allow_nonfinite)
        return ExampleFeed(feed, single=True) if single else feed

    def postprocess(self, feed: Feed, outputs: Outputs) -> Outputs:
        """The outputs unchanged."""
        return outputs

    def answer(self, inputs: Inputs, feed: Feed, outputs: Outputs, style: Style) -> Answers:
        """Outputs with labels mapped; TorchServe's handler shape adds ``{label: probability}`` (or the rows)."""
        manifest = self.manifest
        if style == "tensors":  # the raw outputs are answered: nothing to map
            return Answers(outputs=outputs, primary=primary_output_name(manifest, outputs), task=manifest.task)
        mapped = mapped_outputs(manifest, outputs)
        predictions = None
        if style == "handler":
            scores = class_scores(manifest, outputs)
            rows: Any = scores if scores is not None else rows_of(mapped)
            predictions = unwrap(rows, getattr(feed, "single", False))
        return Answers(
            outputs=mapped,
            predictions=predictions,
            labels=predicted_labels(manifest, outputs),
            primary=primary_output_name(manifest, outputs),
            task=manifest.task,
        )
