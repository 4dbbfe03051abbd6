"""LightGBM: native .txt boosters, sklearn wrappers, and wrappers inside Pipelines."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from bundle import open_bundle
from model_packager import package
from model_packager.verify import verify_bundle


def _abs(result: Any, output: str) -> float:
    return float(
        next(c.measured for c in result.manifest.parity.checks if c.output == output and c.metric == "max_abs_diff")
    )


def test_native_multiclass_booster_file(iris, tmp_path):
    features, target = iris
    params = {"objective": "multiclass", "num_class": 3, "verbose": -1, "num_leaves": 7}
    booster = lgb.train(params, lgb.Dataset(features, label=target), num_boost_round=10)
    path = tmp_path / "model.txt"
    booster.save_model(path)
    result = package(path, name="iris-lgbm", version="1.0.0", sample=features[::10], out=tmp_path / "out")
    manifest = result.manifest
    assert manifest.framework.name == "lightgbm" and manifest.converter.name == "onnxmltools"
    assert manifest.labels == [0, 1, 2] and manifest.parity.passed
    assert [o.shape for o in manifest.outputs] == [[None], [None, 3]]
    assert _abs(result, "probabilities") < 1e-5
    stored = open_bundle(result.directory).samples().outputs["probabilities"]
    np.testing.assert_allclose(stored, booster.predict(features[::10].astype(np.float32)), rtol=1e-9)
    assert verify_bundle(result.archive).passed


def test_native_binary_and_regression(iris, tmp_path):
    features, target = iris
    binary = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(features, label=target > 0), 5)
    result = package(binary, name="bin", version="1.0.0", sample=features[::6], out=tmp_path)
    assert result.manifest.labels == [0, 1] and result.manifest.parity.passed
    regression = lgb.train({"objective": "regression", "verbose": -1}, lgb.Dataset(features[:, 1:], features[:, 0]), 5)
    result = package(regression, name="reg", version="1.0.0", sample=features[::6, 1:], out=tmp_path)
    assert result.manifest.task == "regressor" and _abs(result, "variable") < 1e-4
    assert verify_bundle(result.directory).passed


def test_wrappers_alone_and_in_pipeline(iris, tmp_path):
    features, target = iris
    alone = lgb.LGBMClassifier(n_estimators=10, num_leaves=7, verbose=-1).fit(features, target)
    result = package(alone, name="alone", version="1.0.0", sample=features[::5], out=tmp_path)
    assert result.manifest.framework.name == "lightgbm" and result.manifest.parity.passed
    pipeline = Pipeline([("scale", StandardScaler()), ("lgbm", lgb.LGBMRegressor(n_estimators=10, verbose=-1))])
    pipeline.fit(features[:, 1:], features[:, 0])
    result = package(pipeline, name="piped", version="1.0.0", sample=features[::5, 1:], out=tmp_path)
    assert result.manifest.framework.name == "scikit-learn" and result.manifest.task == "regressor"
    assert result.manifest.parity.passed and result.manifest.opsets["ai.onnx.ml"] == 3
    assert verify_bundle(result.archive).passed
