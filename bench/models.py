"""Bundles the benchmarks serve, made on the spot (no download): a tabular classifier, an image-shaped model, an MLP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from bundle import FileEntry, Manifest, ParityReport, Provenance, TensorSpec, ToolInfo
from bundle.writer import write_bundle

__all__ = ["image_bundle", "mlp_bundle", "tabular_bundle", "TABULAR_FEATURES"]

TABULAR_FEATURES = 8
_RNG = np.random.default_rng(2026)


def _manifest(name: str, inputs: list[TensorSpec], outputs: list[TensorSpec], **extra: object) -> Manifest:
    return Manifest.model_validate(
        {
            "name": name,
            "version": "1.0.0",
            "created": "2026-01-01T00:00:00Z",
            "framework": ToolInfo(name=str(extra.pop("framework", "onnx")), version="1"),
            "converter": ToolInfo(name=str(extra.pop("converter", "onnx.helper")), version=onnx.__version__),
            "opsets": {"": 17},
            "inputs": inputs,
            "outputs": outputs,
            "parity": ParityReport(sample_count=4, passed=True, checks=[]),
            "files": {"model.onnx": FileEntry(sha256="0" * 64, size=0)},
            "provenance": Provenance(maaskit_version="0.1.0", python_version="3.11", source="bench"),
            **extra,
        }
    )


def _write(out: Path, manifest: Manifest, model: bytes, sample: dict[str, np.ndarray]) -> Path:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    names = [spec.name for spec in manifest.outputs]
    outputs = dict(zip(names, session.run(names, sample), strict=True))
    return write_bundle(out, manifest, model, sample, outputs, force=True).directory


def tabular_bundle(out: Path) -> Path:
    """A scikit-learn LogisticRegression over 8 numeric features, 3 classes (skl2onnx, zipmap off)."""
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    x = _RNG.normal(size=(600, TABULAR_FEATURES)).astype(np.float32)
    y = np.digitize(x[:, 0] + 0.5 * x[:, 1], [-0.5, 0.5])
    model = LogisticRegression(max_iter=500).fit(x, y)
    onx = to_onnx(model, x[:1], options={id(model): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
    manifest = _manifest(
        "tabular",
        [TensorSpec(name="X", dtype="float32", shape=[None, TABULAR_FEATURES])],
        [
            TensorSpec(name="label", dtype="int64", shape=[None]),
            TensorSpec(name="probabilities", dtype="float32", shape=[None, 3]),
        ],
        framework="scikit-learn",
        converter="skl2onnx",
        task="classifier",
        labels=[0, 1, 2],
        label_output="label",
        probability_output="probabilities",
    )
    manifest = manifest.model_copy(update={"opsets": {"": 17, "ai.onnx.ml": 3}})
    return _write(out, manifest, onx.SerializeToString(), {"X": x[:4]})


def _model(graph: onnx.GraphProto) -> bytes:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    payload: bytes = model.SerializeToString()
    return payload


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
    manifest = _manifest(
        "image",
        [TensorSpec(name="image", dtype="float32", shape=[None, 3, 224, 224])],
        [TensorSpec(name="scores", dtype="float32", shape=[None, 10])],
    )
    return _write(out, manifest, _model(graph), {"image": _RNG.random((2, 3, 224, 224), dtype=np.float32)})


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
    manifest = _manifest(
        "mlp",
        [TensorSpec(name="x", dtype="float32", shape=[None, features])],
        [TensorSpec(name="logits", dtype="float32", shape=[None, 10])],
    )
    return _write(out, manifest, _model(graph), {"x": _RNG.normal(size=(4, features)).astype(np.float32)})
