"""Real bundles for the runtime tests: an sklearn classifier and regressor (skl2onnx) and a 2-input int64 graph."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from bundle import FileEntry, Manifest, ParityCheck, ParityReport, Provenance, TensorSpec, ToolInfo
from bundle.writer import write_bundle

_PLACEHOLDER = {"model.onnx": FileEntry(sha256="0" * 64, size=0)}
SPECIES = ["setosa", "versicolor", "virginica"]


@dataclass(frozen=True)
class BuiltBundles:
    root: Path
    iris: Path
    regressor: Path
    adder_v1: Path
    adder_v2: Path

    @property
    def all(self) -> list[Path]:
        return [self.iris, self.regressor, self.adder_v1, self.adder_v2]


def _manifest(name: str, version: str, inputs, outputs, checks, **extra) -> Manifest:
    return Manifest(
        name=name,
        version=version,
        created="2026-01-01T00:00:00Z",
        framework=ToolInfo(name=extra.pop("framework", "scikit-learn"), version="1.5"),
        converter=ToolInfo(name="skl2onnx", version="1.17"),
        opsets={"": 17},
        inputs=inputs,
        outputs=outputs,
        parity=ParityReport(sample_count=8, passed=True, checks=checks),
        files=_PLACEHOLDER,
        provenance=Provenance(maaskit_version="0.1.0", python_version="3.11"),
        **extra,
    )


def _iris(out: Path) -> Path:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    data = load_iris()
    x = data.data.astype(np.float32)
    y = np.asarray(SPECIES, dtype=object)[data.target]
    model = LogisticRegression(max_iter=500).fit(x, y)
    onx = to_onnx(model, x[:1], options={id(model): {"zipmap": False}}, target_opset=17)
    sample = x[::19][:8]
    manifest = _manifest(
        "iris",
        "1.0.0",
        [TensorSpec(name="X", dtype="float32", shape=[None, 4])],
        [
            TensorSpec(name="label", dtype="string", shape=[None]),
            TensorSpec(name="probabilities", dtype="float32", shape=[None, 3]),
        ],
        [
            ParityCheck(output="label", metric="label_agreement", tolerance=1.0, measured=1.0, passed=True),
            ParityCheck(output="probabilities", metric="max_abs_diff", tolerance=1e-4, measured=1e-7, passed=True),
        ],
        task="classifier",
        labels=list(SPECIES),
        label_output="label",
        probability_output="probabilities",
    )
    expected = {"label": np.asarray(model.predict(sample)).astype(str), "probabilities": model.predict_proba(sample)}
    return write_bundle(out, manifest, onx.SerializeToString(), {"X": sample}, expected).directory


def _regressor(out: Path) -> Path:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    data = load_diabetes()
    x = data.data[:, :3].astype(np.float32)
    model = Ridge().fit(x, data.target)
    onx = to_onnx(model, x[:1], target_opset=17)
    sample = x[:8]
    manifest = _manifest(
        "diabetes",
        "2.1.0",
        [TensorSpec(name="X", dtype="float32", shape=[None, 3])],
        [TensorSpec(name="variable", dtype="float32", shape=[None, 1])],
        [ParityCheck(output="variable", metric="max_abs_diff", tolerance=1e-3, measured=1e-5, passed=True)],
        task="regressor",
    )
    expected = {"variable": model.predict(sample).reshape(-1, 1)}
    return write_bundle(out, manifest, onx.SerializeToString(), {"X": sample}, expected).directory


def _adder(out: Path, version: str, scale: int) -> Path:
    """total = (a + b) * scale over two int64 [batch, 2] inputs."""
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["a", "b"], ["sum"]),
            helper.make_node("Mul", ["sum", "scale"], ["total"]),
        ],
        "adder",
        [
            helper.make_tensor_value_info("a", TensorProto.INT64, [None, 2]),
            helper.make_tensor_value_info("b", TensorProto.INT64, [None, 2]),
        ],
        [helper.make_tensor_value_info("total", TensorProto.INT64, [None, 2])],
        [helper.make_tensor("scale", TensorProto.INT64, [], [scale])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    a = np.arange(8, dtype=np.int64).reshape(4, 2)
    b = np.full((4, 2), 10, dtype=np.int64)
    manifest = _manifest(
        "adder",
        version,
        [TensorSpec(name="a", dtype="int64", shape=[None, 2]), TensorSpec(name="b", dtype="int64", shape=[None, 2])],
        [TensorSpec(name="total", dtype="int64", shape=[None, 2])],
        [],
        framework="onnx",
    )
    return write_bundle(
        out, manifest, model.SerializeToString(), {"a": a, "b": b}, {"total": (a + b) * scale}
    ).directory


def build_bundles(out: Path) -> BuiltBundles:
    """Write the four test bundles (directories and archives) under ``out``."""
    return BuiltBundles(
        root=out,
        iris=_iris(out),
        regressor=_regressor(out),
        adder_v1=_adder(out, "1.0.0", 1),
        adder_v2=_adder(out, "1.10.0", 2),
    )


def build_text_bundle(out: Path) -> Path:
    """A string model: ``echo`` repeats its ``text`` input ([batch, 1] strings), ``length`` is a constant-free size."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["text"], ["echo"]), helper.make_node("Shape", ["text"], ["size"])],
        "echo",
        [helper.make_tensor_value_info("text", TensorProto.STRING, [None, 1])],
        [
            helper.make_tensor_value_info("echo", TensorProto.STRING, [None, 1]),
            helper.make_tensor_value_info("size", TensorProto.INT64, [2]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    text = np.asarray([["héllo"], ["wörld"]], dtype=object)
    manifest = _manifest(
        "echo",
        "0.1.0",
        [TensorSpec(name="text", dtype="string", shape=[None, 1])],
        [TensorSpec(name="echo", dtype="string", shape=[None, 1]), TensorSpec(name="size", dtype="int64", shape=[2])],
        [],
        framework="onnx",
    )
    expected = {"echo": text, "size": np.asarray([2, 1], dtype=np.int64)}
    return write_bundle(out, manifest, model.SerializeToString(), {"text": text}, expected).directory
