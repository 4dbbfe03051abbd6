"""Model outputs shaped as answers: per-row predictions, columnar outputs, class probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np

from bundle import Manifest
from handlers.http import jsonable
from handlers.labels import label_output_values, predicted_labels

__all__ = [
    "class_scores",
    "columnar_outputs",
    "columns_of",
    "labelled",
    "labelled_rows",
    "mapped_outputs",
    "prediction_rows",
    "rows_of",
    "unwrap",
]


def mapped_outputs(manifest: Manifest, outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``outputs`` with the label output's class indices mapped to their labels."""
    return {name: label_output_values(manifest, name, np.asarray(value)) for name, value in outputs.items()}


_mapped = mapped_outputs


def unwrap(answers: Any, single: bool) -> Any:
    """The one answer when one example came without a list, else every answer."""
    return answers[0] if single else answers


def _as_list(array: np.ndarray) -> list[Any]:
    # rows stay numpy values (sub-arrays or scalars): orjson writes float32 at float32 precision
    value = jsonable(array)
    return list(value)


def columnar_outputs(manifest: Manifest, outputs: dict[str, np.ndarray]) -> Any:
    """One output: its tensor; several: tensors by name (class indices mapped to labels)."""
    return columns_of(_mapped(manifest, outputs))


def columns_of(mapped: dict[str, np.ndarray]) -> Any:
    """One output: its tensor; several: tensors by name (as JSON-able values)."""
    if len(mapped) == 1:
        return jsonable(next(iter(mapped.values())))
    return {name: jsonable(value) for name, value in mapped.items()}


def prediction_rows(manifest: Manifest, outputs: dict[str, np.ndarray]) -> Any:
    """One entry per row: the output's row, or an object of every output's row (labels mapped)."""
    return rows_of(_mapped(manifest, outputs))


def rows_of(mapped: dict[str, np.ndarray]) -> Any:
    """One entry per row: the output's row, or an object of every output's row."""
    if len(mapped) == 1:
        return jsonable(next(iter(mapped.values())))
    columns = {name: _as_list(value) for name, value in mapped.items()}
    count = min(len(column) for column in columns.values())
    return [{name: column[index] for name, column in columns.items()} for index in range(count)]


def labelled(answer: dict[str, Any], manifest: Manifest, outputs: dict[str, np.ndarray]) -> dict[str, Any]:
    """``answer`` with ``"labels"`` (the predicted class labels) added for classifiers."""
    labels = predicted_labels(manifest, outputs)
    if labels is not None:
        answer["labels"] = labels
    return answer


def class_scores(manifest: Manifest, outputs: dict[str, np.ndarray]) -> list[dict[str, float]] | None:
    """Per row ``{label: probability}`` sorted by probability, for classifiers with a probability output."""
    name = manifest.probability_output
    if manifest.task != "classifier" or not manifest.labels or name not in outputs:
        return None
    scores = np.asarray(outputs[name])
    if scores.ndim != 2 or scores.shape[1] != len(manifest.labels):
        return None
    labels = [str(label) for label in manifest.labels]
    answer = []
    for row in scores:
        ranked = sorted(zip(labels, row, strict=True), key=lambda item: -item[1])
        answer.append(dict(ranked))
    return answer


def labelled_rows(answer: dict[str, Any], mapped: dict[str, np.ndarray], labels: list[Any] | None) -> dict[str, Any]:
    """``answer`` with ``"predictions"`` (one entry per row of ``mapped``) and, for classifiers, ``"labels"``."""
    answer["predictions"] = rows_of(mapped)
    if labels is not None:
        answer["labels"] = labels
    return answer
