"""XGBoost: native .json/.ubj boosters, sklearn wrappers, and wrappers inside Pipelines."""

from __future__ import annotations

from typing import Any

import joblib
import numpy as np
import pytest
import xgboost as xgb
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from bundle import open_bundle
from model_packager import package
from model_packager.converters.base import ModelLoadError
from model_packager.verify import verify_bundle


def _check(result: Any, *, labels: Any, inputs: Any, max_abs: float = 1e-4) -> Any:
    manifest = result.manifest
    assert manifest.parity.passed
    assert manifest.labels == labels
    assert [(s.name, s.dtype, s.shape) for s in manifest.inputs] == inputs
    for check in manifest.parity.checks:
        if check.metric == "max_abs_diff":
            assert check.measured <= max_abs
        if check.metric == "label_agreement":
            assert check.measured == 1.0
    assert verify_bundle(result.archive).passed
    return open_bundle(result.directory)


@pytest.mark.parametrize("suffix", ["json", "ubj"])
def test_native_multiclass_booster_file(iris, tmp_path, suffix):
    features, target = iris
    booster = xgb.train(
        {"objective": "multi:softprob", "num_class": 3, "max_depth": 3},
        xgb.DMatrix(features, label=target),
        num_boost_round=10,
    )
    path = tmp_path / f"model.{suffix}"
    booster.save_model(path)
    result = package(path, name="iris-xgb", version="1.0.0", sample=features[::10], out=tmp_path / "out")
    bundle = _check(result, labels=[0, 1, 2], inputs=[("input", "float32", [None, 4])])
    assert result.manifest.framework.name == "xgboost" and result.manifest.converter.name == "onnxmltools"
    assert result.manifest.opsets["ai.onnx.ml"] >= 1
    np.testing.assert_allclose(
        bundle.samples().outputs["probabilities"],
        booster.predict(xgb.DMatrix(features[::10].astype(np.float32))),
        rtol=1e-6,
    )


def test_native_binary_and_regression_boosters(iris, tmp_path):
    features, target = iris
    binary = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3}, xgb.DMatrix(features, label=target > 0), num_boost_round=5
    )
    result = package(binary, name="bin", version="1.0.0", sample=features[::7], out=tmp_path)
    _check(result, labels=[0, 1], inputs=[("input", "float32", [None, 4])])
    assert result.manifest.outputs[1].shape == [None, 2]

    regression = xgb.train({"max_depth": 3}, xgb.DMatrix(features[:, 1:], label=features[:, 0]), num_boost_round=5)
    result = package(regression, name="reg", version="1.0.0", out=tmp_path)  # generated sample
    assert result.manifest.task == "regressor"
    _check(result, labels=None, inputs=[("input", "float32", [None, 3])])
    assert any("generated one from the signature" in note for note in result.notes)


def test_classifier_wrapper_alone_and_in_pipeline(iris, tmp_path):
    features, target = iris
    alone = xgb.XGBClassifier(n_estimators=10, max_depth=3).fit(features, target)
    result = package(alone, name="wrapped", version="1.0.0", sample=features[::5], out=tmp_path)
    _check(result, labels=[0, 1, 2], inputs=[("input", "float32", [None, 4])])
    assert result.manifest.framework.name == "xgboost" and result.manifest.converter.name == "skl2onnx"

    pipeline = Pipeline([("scale", StandardScaler()), ("xgb", xgb.XGBClassifier(n_estimators=10, max_depth=3))])
    path = tmp_path / "pipe.joblib"
    joblib.dump(pipeline.fit(features, target), path)
    result = package(path, name="piped", version="1.0.0", sample=features[::5], out=tmp_path)
    _check(result, labels=[0, 1, 2], inputs=[("input", "float32", [None, 4])])
    assert result.manifest.opsets == {"ai.onnx": 17, "ai.onnx.ml": 3}
    assert any("xgboost estimators converted" in note for note in result.notes)


def test_truncated_booster_file_is_a_clear_error(iris, tmp_path):
    features, target = iris
    booster = xgb.train({"max_depth": 2}, xgb.DMatrix(features, label=target), num_boost_round=2)
    path = tmp_path / "model.json"
    booster.save_model(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ModelLoadError, match="model.json is not a readable XGBoost model"):
        package(path, name="bad", version="1.0.0", out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_scaler_in_front_of_trees_keeps_split_thresholds(iris, tmp_path):
    """A float32 scaler can cross a float64 split threshold; maaskit scales in double ahead of trees."""
    features, _ = iris
    pipeline = Pipeline([("scale", StandardScaler()), ("xgb", xgb.XGBRegressor(n_estimators=50, max_depth=4))])
    pipeline.fit(features[:, 1:], features[:, 0])
    result = package(pipeline, name="reg", version="1.0.0", sample=features[:, 1:], out=tmp_path)
    max_abs = next(c.measured for c in result.manifest.parity.checks if c.metric == "max_abs_diff")
    assert result.manifest.parity.passed and max_abs < 1e-4
    assert any("div_cast" in note for note in result.notes)
