"""Build the example bundles the example deploy file points at (scikit-learn models via skl2onnx).

    python -m infra.examples.make_bundles [OUT_DIR]     # default: infra/examples/bundles

``iris`` (a classifier, served on Lambda) and ``diabetes`` (a regressor, served on SageMaker), each
with the samples and parity report the runtime and the pre-traffic hook check against. Written
through ``bundle.writer.write_bundle``, so the output is deterministic.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from bundle import Manifest, ParityCheck, ParityReport, Provenance, TensorSpec, ToolInfo
from bundle.writer import write_bundle

__all__ = ["DEFAULT_OUT", "build_examples"]

DEFAULT_OUT = Path(__file__).resolve().parent / "bundles"
_CREATED = "2026-01-01T00:00:00Z"


def _manifest(
    name: str,
    version: str,
    inputs: list[TensorSpec],
    outputs: list[TensorSpec],
    checks: list[ParityCheck],
    **extra: object,
) -> Manifest:
    import skl2onnx
    import sklearn

    return Manifest.model_validate(
        {
            "name": name,
            "version": version,
            "created": _CREATED,
            "framework": ToolInfo(name="scikit-learn", version=sklearn.__version__),
            "converter": ToolInfo(name="skl2onnx", version=skl2onnx.__version__),
            "opsets": {"": 17},
            "inputs": inputs,
            "outputs": outputs,
            "parity": ParityReport(sample_count=8, passed=True, checks=checks),
            "files": {"model.onnx": {"sha256": "0" * 64, "size": 0}},
            "provenance": Provenance(maaskit_version="0.1.0", python_version="3.11"),
            **extra,
        }
    )


def _iris(out: Path, version: str) -> Path:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    data = load_iris()
    x = data.data.astype(np.float32)
    model = LogisticRegression(max_iter=500).fit(x, data.target)
    onx = to_onnx(model, x[:1], options={id(model): {"zipmap": False}}, target_opset=17)
    sample = x[::19][:8]
    manifest = _manifest(
        "iris",
        version,
        [TensorSpec(name="X", dtype="float32", shape=[None, 4])],
        [
            TensorSpec(name="label", dtype="int64", shape=[None]),
            TensorSpec(name="probabilities", dtype="float32", shape=[None, 3]),
        ],
        [
            ParityCheck(output="label", metric="label_agreement", tolerance=1.0, measured=1.0, passed=True),
            ParityCheck(output="probabilities", metric="max_abs_diff", tolerance=1e-4, measured=1e-7, passed=True),
        ],
        task="classifier",
        labels=[0, 1, 2],
        label_output="label",
        probability_output="probabilities",
    )
    expected = {
        "label": model.predict(sample).astype(np.int64),
        "probabilities": model.predict_proba(sample).astype(np.float32),
    }
    return write_bundle(out, manifest, onx.SerializeToString(), {"X": sample}, expected, force=True).directory


def _diabetes(out: Path, version: str) -> Path:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    data = load_diabetes()
    x = data.data.astype(np.float32)
    model = Ridge().fit(x, data.target)
    onx = to_onnx(model, x[:1], target_opset=17)
    sample = x[:8]
    manifest = _manifest(
        "diabetes",
        version,
        [TensorSpec(name="X", dtype="float32", shape=[None, 10])],
        [TensorSpec(name="variable", dtype="float32", shape=[None, 1])],
        [ParityCheck(output="variable", metric="max_abs_diff", tolerance=1e-3, measured=1e-5, passed=True)],
        task="regressor",
    )
    expected = {"variable": model.predict(sample).reshape(-1, 1).astype(np.float32)}
    return write_bundle(out, manifest, onx.SerializeToString(), {"X": sample}, expected, force=True).directory


def build_examples(out: Path = DEFAULT_OUT, version: str = "1.0.0") -> dict[str, Path]:
    """Write ``iris-<version>`` and ``diabetes-<version>`` (directory and .tar.gz) under ``out``."""
    return {"iris": _iris(out, version), "diabetes": _diabetes(out, version)}


if __name__ == "__main__":
    for name, path in build_examples(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT).items():
        print(f"{name}: {path}")
