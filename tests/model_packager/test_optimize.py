"""Graph optimization and INT8 quantization: recorded sizes, parity against the original, determinism."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.neural_network import MLPRegressor

from model_packager import package
from model_packager.model_files import StagedModel
from model_packager.optimize import optimize_graph
from model_packager.parity import ParityError, Tolerances
from model_packager.verify import verify_bundle


@pytest.fixture(scope="module")
def mlp():
    rng = np.random.default_rng(0)
    features = rng.standard_normal((300, 32))
    target = np.tanh(features[:, :3].sum(axis=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: a few iterations are enough here
        model = MLPRegressor(hidden_layer_sizes=(256, 256), max_iter=30, random_state=0).fit(features, target)
    return model, features[:32]


def test_int8_shrinks_weights_and_is_checked_against_the_original(mlp, tmp_path):
    model, sample = mlp
    result = package(
        model, name="mlp", version="1.0.0", sample=sample, out=tmp_path, optimize="extended", quantize="int8"
    )
    optimization = result.manifest.optimization
    assert optimization is not None
    assert (optimization.graph_level, optimization.quantization) == ("extended", "int8")
    assert optimization.size_after < 0.4 * optimization.size_before  # float32 weights -> int8
    checks = {c.metric: c for c in optimization.parity.checks}
    assert checks["max_abs_diff"].tolerance == 0.05  # the looser int8 tolerance is explicit in the manifest
    assert 1e-4 < checks["max_abs_diff"].measured < 0.05  # quantization error is real, and within the gate
    assert result.manifest.parity.checks[0].measured < 1e-5  # conversion parity before it stays tight
    assert result.parity == optimization.parity
    assert verify_bundle(result.archive).passed
    again = package(
        model, name="mlp", version="1.0.0", sample=sample, out=tmp_path / "again", optimize="extended", quantize="int8"
    )
    assert again.archive.read_bytes() == result.archive.read_bytes()


def test_graph_optimization_alone_keeps_default_tolerances(iris_pipeline, iris, tmp_path):
    result = package(iris_pipeline, name="iris", version="1.0.0", sample=iris[0][:10], out=tmp_path, optimize="basic")
    optimization = result.manifest.optimization
    assert optimization is not None and optimization.quantization == "none"
    assert optimization.size_before > 0 and optimization.size_after > 0
    assert {c.tolerance for c in optimization.parity.checks if c.metric == "max_abs_diff"} == {1e-4}
    assert verify_bundle(result.directory).passed


def test_int8_parity_failure_names_the_stage_and_writes_nothing(mlp, tmp_path):
    model, sample = mlp
    with pytest.raises(ParityError, match=r"after int8 quantization: output 'variable': worst element \[") as caught:
        package(
            model,
            name="mlp",
            version="1.0.0",
            sample=sample,
            out=tmp_path / "out",
            quantize="int8",
            int8_tolerances=Tolerances(atol=1e-6, rtol=1e-6),
        )
    assert caught.value.stage == "int8 quantization" and not caught.value.report.passed
    assert not (tmp_path / "out").exists()


def test_only_portable_levels():
    with pytest.raises(ValueError, match="basic"):
        optimize_graph(StagedModel(Path("model.onnx")), "all", Path("unused"))  # type: ignore[arg-type]
