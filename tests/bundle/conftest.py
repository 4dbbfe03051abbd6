"""A tiny real bundle written through the contract's writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from bundle import Manifest, ParityCheck, ParityReport, Provenance, TensorSpec, ToolInfo
from bundle.writer import BundlePaths, write_bundle


def double_model_bytes() -> bytes:
    """y = x + x, float32 [batch, 3]."""
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "x"], ["y"])],
        "double",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def make_manifest(name: str = "double", version: str = "1.0.0") -> Manifest:
    check = ParityCheck(output="y", metric="max_abs_diff", tolerance=1e-5, measured=0.0, passed=True)
    return Manifest(
        name=name,
        version=version,
        created="2026-01-01T00:00:00Z",
        framework=ToolInfo(name="onnx", version=onnx.__version__),
        converter=ToolInfo(name="onnx", version=onnx.__version__),
        opsets={"": 17},
        inputs=[TensorSpec(name="x", dtype="float32", shape=[None, 3])],
        outputs=[TensorSpec(name="y", dtype="float32", shape=[None, 3])],
        parity=ParityReport(sample_count=2, passed=True, checks=[check]),
        files={"model.onnx": {"sha256": "0" * 64, "size": 0}},  # replaced by the writer
        provenance=Provenance(maaskit_version="0.1.0", python_version="3.11"),
    )


@pytest.fixture
def written_bundle(tmp_path: Path) -> BundlePaths:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    return write_bundle(tmp_path / "out", make_manifest(), double_model_bytes(), {"x": x}, {"y": x + x})
