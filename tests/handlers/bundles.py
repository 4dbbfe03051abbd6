"""Real bundles for the runtime tests, made by ``model_packager.package()`` as users make them.

An iris classifier and a diabetes regressor (scikit-learn models exported by skl2onnx, input ``X``),
a 2-input int64 "adder" graph in two versions and a string "echo" graph, each packaged through the
packager's ONNX-file path: the manifests, parity reports and samples are the packager's own.
They are built once per test process and copied into each caller's directory.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

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


def _package(model: onnx.ModelProto, out: Path, name: str, version: str, sample: dict[str, np.ndarray]) -> Path:
    from model_packager import package

    return package(model, name=name, version=version, sample=sample, out=out).directory


def _iris(out: Path) -> Path:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    data = load_iris()
    x = data.data.astype(np.float32)
    y = np.asarray(SPECIES, dtype=object)[data.target]
    model = LogisticRegression(max_iter=500).fit(x, y)
    onx = to_onnx(model, x[:1], options={id(model): {"zipmap": False}}, target_opset=17)
    return _package(onx, out, "iris", "1.0.0", {"X": x[::19][:8]})


def _regressor(out: Path) -> Path:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    data = load_diabetes()
    x = data.data[:, :3].astype(np.float32)
    model = Ridge().fit(x, data.target)
    onx = to_onnx(model, x[:1], target_opset=17)
    return _package(onx, out, "diabetes", "2.1.0", {"X": x[:8]})


def adder_model(scale: int) -> onnx.ModelProto:
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
    return model


def _adder(out: Path, version: str, scale: int) -> Path:
    a = np.arange(8, dtype=np.int64).reshape(4, 2)
    b = np.full((4, 2), 10, dtype=np.int64)
    return _package(adder_model(scale), out, "adder", version, {"a": a, "b": b})


def _build(out: Path) -> BuiltBundles:
    return BuiltBundles(
        root=out,
        iris=_iris(out),
        regressor=_regressor(out),
        adder_v1=_adder(out, "1.0.0", 1),
        adder_v2=_adder(out, "1.10.0", 2),
    )


@functools.cache
def _packaged() -> BuiltBundles:
    cache = Path(tempfile.mkdtemp(prefix="maaskit-test-bundles-"))
    atexit.register(shutil.rmtree, cache, True)
    return _build(cache)


def build_bundles(out: Path) -> BuiltBundles:
    """The four test bundles (directories and archives) under ``out``; packaged once per process."""
    _built = _packaged()
    out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(_built.root, out, dirs_exist_ok=True)
    return BuiltBundles(
        root=out,
        iris=out / _built.iris.name,
        regressor=out / _built.regressor.name,
        adder_v1=out / _built.adder_v1.name,
        adder_v2=out / _built.adder_v2.name,
    )


def build_text_bundle(out: Path) -> Path:
    """A string model: ``echo`` repeats its ``text`` input ([batch, 1] strings), ``size`` is the input's shape."""
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
    return _package(model, out, "echo", "0.1.0", {"text": text})
