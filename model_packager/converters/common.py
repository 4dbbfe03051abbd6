"""Helpers shared by the built-in converters (versions, labels, tree opsets)."""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import onnx

from bundle import ToolInfo

__all__ = ["TREE_OPSETS", "binary_probabilities", "first_line", "labels_list", "rename_values", "tool_info"]

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


def first_line(exc: BaseException, limit: int = 240) -> str:
    """``Type: first line of the message`` (colour codes removed, at most ``limit`` characters)."""
    lines = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()
    first = lines[0] if lines else ""
    kind = type(exc).__name__
    text = first if first.startswith(kind) else f"{kind}: {first}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def rename_values(model: onnx.ModelProto, mapping: Mapping[str, str]) -> None:
    """Rename graph inputs/outputs (and every reference to them, subgraphs included)."""

    def visit(graph: onnx.GraphProto) -> None:
        for value in [*graph.input, *graph.output, *graph.value_info]:
            value.name = mapping.get(value.name, value.name)
        for node in graph.node:
            node.input[:] = [mapping.get(name, name) for name in node.input]
            node.output[:] = [mapping.get(name, name) for name in node.output]
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.GRAPH:
                    visit(attribute.g)
                for sub in attribute.graphs:
                    visit(sub)

    visit(model.graph)
