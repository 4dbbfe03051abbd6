"""Bundles the benchmarks serve, made on the spot by ``package()`` (no download): a tabular classifier, an
image-shaped model, an MLP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["image_bundle", "mlp_bundle", "tabular_bundle", "TABULAR_FEATURES"]

TABULAR_FEATURES = 8
_RNG = np.random.default_rng(2026)


def _package(model: onnx.ModelProto, out: Path, name: str, sample: dict[str, np.ndarray]) -> Path:
    """Bundle ``model`` as users do, through ``model_packager.package()`` (its ONNX-file path)."""
    from model_packager import package

    return package(model, name=name, version="1.0.0", sample=sample, out=out, force=True).directory


def tabular_bundle(out: Path) -> Path:
    """A scikit-learn LogisticRegression over 8 numeric features, 3 classes (skl2onnx, zipmap off)."""
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    x = _RNG.normal(size=(600, TABULAR_FEATURES)).astype(np.float32)
    y = np.digitize(x[:, 0] + 0.5 * x[:, 1], [-0.5, 0.5])
    model = LogisticRegression(max_iter=500).fit(x, y)
    onx = to_onnx(model, x[:1], options={id(model): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
    return _package(onx, out, "tabular", {"X": x[:4]})


def _model(graph: onnx.GraphProto) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def image_bundle(out: Path) -> Path:
    """[N,3,224,224] float32 -> global average pool -> linear -> [N,10]: an image-shaped input, a cheap model."""
    weights = numpy_helper.from_array(_RNG.normal(size=(3, 10)).astype(np.float32), "w")
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["scores"]),
        ],
        "image",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 10])],
        initializer=[weights],
    )
    return _package(_model(graph), out, "image", {"image": _RNG.random((2, 3, 224, 224), dtype=np.float32)})


def mlp_bundle(out: Path, features: int = 512, hidden: int = 2048) -> Path:
    """[N,features] -> Relu(W1) -> Relu(W2) -> [N,10]: weight-bound at batch 1, so batching pays."""
    shapes = [(features, hidden), (hidden, hidden), (hidden, 10)]
    inits = [
        numpy_helper.from_array((_RNG.normal(size=s) / np.sqrt(s[0])).astype(np.float32), f"w{i}")
        for i, s in enumerate(shapes)
    ]
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w0"], ["h0"]),
            helper.make_node("Relu", ["h0"], ["r0"]),
            helper.make_node("MatMul", ["r0", "w1"], ["h1"]),
            helper.make_node("Relu", ["h1"], ["r1"]),
            helper.make_node("MatMul", ["r1", "w2"], ["logits"]),
        ],
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", features])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        initializer=inits,
    )
    return _package(_model(graph), out, "mlp", {"x": _RNG.normal(size=(4, features)).astype(np.float32)})
