"""Helpers shared by the built-in converters (versions, labels, tree opsets)."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable
from typing import Any

import numpy as np

from bundle import ToolInfo

__all__ = ["TREE_OPSETS", "binary_probabilities", "labels_list", "tool_info"]

#: Opsets for graphs holding tree ensembles: ai.onnx.ml 3 has the float/double TreeEnsemble
#: attributes onnxruntime supports; 17 is the newest default-domain opset skl2onnx handles everywhere.
TREE_OPSETS: dict[str, int] = {"": 17, "ai.onnx.ml": 3}


def tool_info(distribution: str, module: Any = None, name: str | None = None) -> ToolInfo:
    """Name and installed version of a library (from its metadata, else ``module.__version__``)."""
    try:
        version = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        version = str(getattr(module, "__version__", "unknown"))
    return ToolInfo(name=name or distribution, version=version)


def labels_list(classes: Iterable[Any]) -> list[str] | list[int]:
    """Class labels as plain JSON values: all ints, else all strings."""
    values = list(np.asarray(list(classes)).tolist())
    if all(isinstance(value, int) and not isinstance(value, bool) for value in values):
        return [int(value) for value in values]
    return [str(value) for value in values]


def binary_probabilities(positive: np.ndarray) -> np.ndarray:
    """(n,) probability of class 1 -> (n, 2) probabilities of classes 0 and 1."""
    positive = np.asarray(positive, dtype=np.float64).reshape(-1)
    return np.stack([1.0 - positive, positive], axis=1)
