"""Build the example bundles the example deploy file points at, through ``model_packager.package()``.

    python -m infra.examples.make_bundles [OUT_DIR]     # default: infra/examples/bundles

``iris`` (a classifier, served on Lambda) and ``diabetes`` (a regressor, served on SageMaker):
scikit-learn models exported by skl2onnx (input ``X``, as the stored test events send) and
packaged through the packager's ONNX-file path, so the manifests, parity reports and samples the
runtime and the pre-traffic hook check against are the packager's own.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

__all__ = ["DEFAULT_OUT", "build_examples"]

DEFAULT_OUT = Path(__file__).resolve().parent / "bundles"


def _package(model: object, out: Path, name: str, version: str, sample: np.ndarray) -> Path:
    from model_packager import package

    return package(model, name=name, version=version, sample={"X": sample}, out=out, force=True).directory


def _iris(out: Path, version: str) -> Path:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    data = load_iris()
    x = data.data.astype(np.float32)
    model = LogisticRegression(max_iter=500).fit(x, data.target)
    onx = to_onnx(model, x[:1], options={id(model): {"zipmap": False}}, target_opset=17)
    return _package(onx, out, "iris", version, x[::19][:8])


def _diabetes(out: Path, version: str) -> Path:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    data = load_diabetes()
    x = data.data.astype(np.float32)
    model = Ridge().fit(x, data.target)
    onx = to_onnx(model, x[:1], target_opset=17)
    return _package(onx, out, "diabetes", version, x[:8])


def build_examples(out: Path = DEFAULT_OUT, version: str = "1.0.0") -> dict[str, Path]:
    """Write ``iris-<version>`` and ``diabetes-<version>`` (directory and .tar.gz) under ``out``."""
    return {"iris": _iris(out, version), "diabetes": _diabetes(out, version)}


if __name__ == "__main__":
    for name, path in build_examples(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT).items():
        print(f"{name}: {path}")
