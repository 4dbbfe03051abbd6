"""Class labels for classifier outputs."""

from __future__ import annotations

from typing import Any

import numpy as np

from bundle import Manifest

__all__ = ["label_output_values", "predicted_labels"]


def _map_indices(manifest: Manifest, values: np.ndarray) -> np.ndarray:
    labels = manifest.labels
    if labels is None or values.dtype.kind not in "iu" or not all(isinstance(item, str) for item in labels):
        return values
    table = np.asarray(labels, dtype=object)
    if values.size and (values.min() < 0 or values.max() >= len(table)):
        return values
    mapped: np.ndarray = table[values]
    return mapped


def label_output_values(manifest: Manifest, name: str, values: np.ndarray) -> np.ndarray:
    """``values`` of output ``name``; class indices of the label output are mapped to their string labels."""
    if name != manifest.label_output:
        return values
    return _map_indices(manifest, values)


def predicted_labels(manifest: Manifest, outputs: dict[str, np.ndarray]) -> list[Any] | None:
    """One predicted label per row for a classifier (from its label output, else argmax of its probabilities)."""
    if manifest.task != "classifier":
        return None
    if manifest.label_output and manifest.label_output in outputs:
        values = label_output_values(manifest, manifest.label_output, np.asarray(outputs[manifest.label_output]))
        return [item.decode() if isinstance(item, bytes) else item for item in values.ravel().tolist()]
    if manifest.probability_output and manifest.labels and manifest.probability_output in outputs:
        scores = np.asarray(outputs[manifest.probability_output])
        if scores.ndim == 2 and scores.shape[1] == len(manifest.labels):
            return [manifest.labels[int(index)] for index in scores.argmax(axis=1)]
    return None
