"""Class labels in predictions, the same on the JSON and the binary route.

A classifier whose label output holds class indices (a PyTorch, Keras or transformers head packaged
with ``labels=``) and whose labels are strings answers the labels themselves: the server maps the
indices on its JSON route, and the client maps them the same way on the binary route, where they
arrive as raw int64 tensors. Integer labels (scikit-learn classes) stay integers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["label_values", "predicted_labels", "string_labels"]


def string_labels(signature: Mapping[str, Any]) -> list[str] | None:
    """The model's labels when they are all strings (what its class indices stand for), else None."""
    labels = signature.get("labels")
    if labels and all(isinstance(item, str) for item in labels):
        return list(labels)
    return None


def label_values(signature: Mapping[str, Any], name: str, values: np.ndarray) -> np.ndarray:
    """``values`` of output ``name``; for the label output of a model with string labels, the labels
    (an object array of ``str``) whether ``values`` holds them already or their class indices."""
    table = string_labels(signature)
    if name != signature.get("label_output") or table is None:
        return values
    if values.dtype.kind in "US":
        return values.astype(object)
    if values.dtype.kind not in "iu" or (values.size and (values.min() < 0 or values.max() >= len(table))):
        return values  # not indices into the labels: left as the model gave them
    mapped: np.ndarray = np.asarray(table, dtype=object)[values]
    return mapped


def predicted_labels(signature: Mapping[str, Any], outputs: Mapping[str, np.ndarray]) -> list[Any] | None:
    """One predicted label per row for a classifier (its label output, else the argmax of its
    probabilities), as the server's JSON answer lists them; None for other models."""
    if signature.get("task") != "classifier":
        return None
    label_output, probabilities = signature.get("label_output"), signature.get("probability_output")
    labels = signature.get("labels")
    if isinstance(label_output, str) and label_output in outputs:
        return list(label_values(signature, label_output, np.asarray(outputs[label_output])).ravel().tolist())
    if isinstance(probabilities, str) and probabilities in outputs and labels:
        scores = np.asarray(outputs[probabilities])
        if scores.ndim == 2 and scores.shape[1] == len(labels):
            return [labels[int(index)] for index in scores.argmax(axis=1)]
    return None
