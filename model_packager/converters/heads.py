"""Classifier heads of neural networks: a softmax or sigmoid output becomes a ``classifier`` bundle.

A PyTorch or Keras model whose output is a probability table (softmax: rows of ``k >= 2``
non-negative values summing to 1; sigmoid: one column in ``[0, 1]``, the network ending in a
sigmoid) is packaged like a scikit-learn classifier: a ``label`` output (the class index, argmax or
``p >= 0.5``) is appended to the graph, and the class labels come from ``labels`` (``--labels``),
else from the model (``labels``/``classes``/``class_names`` attributes, a Hugging Face style
``config.id2label``), else ``0..k-1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx

from model_packager.converters.base import Conversion, SampleMismatchError
from model_packager.converters.common import labels_list

__all__ = ["LABEL_OUTPUT", "apply_classifier_head", "labels_from_model"]

LABEL_OUTPUT = "label"
_ATTRIBUTES = ("labels", "classes", "class_names", "classes_")


def labels_from_model(model: Any) -> list[Any] | None:
    """Class labels a model carries (attributes or ``config.id2label``), or None."""
    for attribute in _ATTRIBUTES:
        value = getattr(model, attribute, None)
        if isinstance(value, list | tuple) and value:
            return list(value)
    id2label = getattr(getattr(model, "config", None), "id2label", None)
    if isinstance(id2label, dict) and id2label:
        return [id2label[key] for key in sorted(id2label)]
    return None


def _head(values: np.ndarray, ends_in_sigmoid: bool) -> str | None:
    if values.ndim != 2 or values.dtype.kind != "f" or not values.size:
        return None
    if values.min() < 0 or values.max() > 1:
        return None
    if values.shape[1] >= 2 and np.allclose(values.sum(axis=1), 1.0, atol=1e-4):
        return "softmax"
    if values.shape[1] == 1 and ends_in_sigmoid:
        return "sigmoid"
    return None


def _append_label(model: onnx.ModelProto, probabilities: str, head: str) -> None:
    graph = model.graph
    if head == "softmax":
        graph.node.append(
            onnx.helper.make_node("ArgMax", [probabilities], [LABEL_OUTPUT], axis=1, keepdims=0, name="label_argmax")
        )
    else:
        half = onnx.helper.make_tensor("label_threshold", onnx.TensorProto.FLOAT, [], [0.5])
        graph.initializer.append(half)
        graph.node.extend(
            [
                onnx.helper.make_node("Cast", [probabilities], ["label_p32"], to=onnx.TensorProto.FLOAT),
                onnx.helper.make_node("GreaterOrEqual", ["label_p32", "label_threshold"], ["label_positive"]),
                onnx.helper.make_node("Cast", ["label_positive"], ["label_2d"], to=onnx.TensorProto.INT64),
                onnx.helper.make_node("Flatten", ["label_2d"], ["label_flat"], axis=0),
                onnx.helper.make_node("Squeeze", ["label_flat", "label_axis"], [LABEL_OUTPUT]),
            ]
        )
        graph.initializer.append(onnx.helper.make_tensor("label_axis", onnx.TensorProto.INT64, [1], [0]))
    graph.output.insert(0, onnx.helper.make_tensor_value_info(LABEL_OUTPUT, onnx.TensorProto.INT64, ["batch"]))


def apply_classifier_head(
    conversion: Conversion, model: Any, labels: Sequence[str | int] | None, ends_in_sigmoid: bool
) -> None:
    """Turn ``conversion`` into a classifier when its only output is a probability table (in place)."""
    if len(conversion.expected) != 1 or LABEL_OUTPUT in conversion.expected:
        if labels is not None:
            raise SampleMismatchError(
                f"--labels given, but the model has outputs {list(conversion.expected)}; a classifier has one "
                "probability output (softmax or sigmoid)"
            )
        return
    ((name, values),) = conversion.expected.items()
    head = _head(np.asarray(values), ends_in_sigmoid)
    if head is None:
        if labels is not None:
            raise SampleMismatchError(
                f"--labels given, but output {name!r} is not a probability table (softmax rows or one sigmoid column)"
            )
        return
    found = list(labels) if labels is not None else labels_from_model(model)
    width = values.shape[1] if head == "softmax" else 2
    if found is not None and len(found) != width:
        raise SampleMismatchError(f"{len(found)} labels given for a {width}-class output {name!r}; give {width}")
    _append_label(conversion.model, name, head)
    index = np.argmax(values, axis=1) if head == "softmax" else (values[:, 0] >= 0.5).astype(np.int64)
    conversion.expected = {LABEL_OUTPUT: index.astype(np.int64), name: values}
    conversion.task = "classifier"
    conversion.labels = labels_list(found if found is not None else range(width))
    conversion.label_output = LABEL_OUTPUT
    conversion.probability_output = name
    conversion.notes.append(f"{head} head: classifier with labels {conversion.labels} (label output added)")
