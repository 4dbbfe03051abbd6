"""Each workaround in the converter layer, proven on the case it exists for, named by its upstream issue."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris, load_wine
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor, VotingClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import KNNImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from model_packager import package
from model_packager.converters.base import UnsupportedModelError
from model_packager.converters.skl_workarounds import ISSUES


@pytest.fixture(scope="module")
def iris():
    features, target = load_iris(return_X_y=True)
    return features, target


def _onnx(result) -> onnx.ModelProto:
    return onnx.load(str(result.directory / "model.onnx"))


def test_hist_gradient_boosting_bool_attributes_written_as_ints(iris, tmp_path):
    """skl2onnx issue 1253's attribute (nodes_missing_value_tracks_true) arrives as booleans from sklearn 1.9."""
    assert ISSUES["hgb_bool_attributes"].endswith("/issues/1253")
    features, target = iris
    model = HistGradientBoostingClassifier(max_iter=5).fit(features, target)
    result = package(model, name="hgb", version="1.0.0", sample=features, out=tmp_path)
    assert result.parity.passed
    assert any("boolean tree attributes" in note for note in result.notes)


def test_voting_classifier_flatten_transform_converted_without_touching_the_model(iris, tmp_path):
    """https://github.com/onnx/sklearn-onnx/issues/867: flatten_transform only shapes transform()."""
    assert ISSUES["voting_flatten"].endswith("/issues/867")
    features, target = iris
    voting = VotingClassifier(
        [("tree", DecisionTreeClassifier(max_depth=3)), ("linear", LogisticRegression(max_iter=1000))], voting="soft"
    ).fit(features, target)
    result = package(voting, name="vote", version="1.0.0", sample=features, out=tmp_path)
    assert result.parity.passed and result.manifest.labels == [0, 1, 2]
    assert voting.flatten_transform is True


def test_text_vectorizer_lower_cases_with_the_c_locale(tmp_path):
    """https://github.com/onnx/sklearn-onnx/issues/1019: onnxruntime's en_US.UTF-8 is absent here and on Lambda."""
    assert ISSUES["locale"].endswith("/issues/1019")
    table = pd.DataFrame({"note": np.array(["Red wine", "white WINE", "dry red", "sweet white"] * 10, dtype=object)})
    target = np.arange(40) % 2
    model = make_pipeline(ColumnTransformer([("text", TfidfVectorizer(), "note")]), LogisticRegression())
    result = package(model.fit(table, target), name="tfidf", version="1.0.0", sample=table, out=tmp_path)
    locales = [
        onnx.helper.get_attribute_value(a) for n in _onnx(result).graph.node for a in n.attribute if a.name == "locale"
    ]
    assert locales and set(locales) == {b"C"}


def test_dataframe_column_names_survive_conversion(iris, tmp_path):
    """https://github.com/onnx/sklearn-onnx/issues/1153: skl2onnx renames 'sepal length (cm)' silently."""
    assert ISSUES["input_names"].endswith("/issues/1153")
    frame = load_iris(as_frame=True).frame
    features = frame.drop(columns=["target"])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(features, frame["target"])
    result = package(model, name="named", version="1.0.0", sample=features, out=tmp_path)
    assert [spec.name for spec in result.manifest.inputs] == list(features.columns)


def test_knn_imputer_gets_the_opset_its_converter_needs(tmp_path):
    """skl2onnx's KNNImputer converter asserts opset >= 18 since https://github.com/onnx/sklearn-onnx/pull/1165."""
    assert ISSUES["knn_imputer_opset"].endswith("/pull/1165")
    features, _ = load_wine(return_X_y=True)
    holes = features.copy()
    holes[::7, 2] = np.nan
    result = package(KNNImputer().fit(holes), name="impute", version="1.0.0", sample=holes, out=tmp_path)
    assert result.manifest.opsets["ai.onnx"] >= 18 and result.parity.passed


def _xgbrf():
    xgboost = pytest.importorskip("xgboost")
    return xgboost.XGBRFClassifier(n_estimators=5, max_depth=3, n_jobs=1)


@pytest.mark.parametrize(
    ("make", "issue"),
    [
        (lambda: HistGradientBoostingRegressor(max_iter=10), "sklearn-onnx/issues/1192"),
        (_xgbrf, "onnxmltools/issues/663"),
    ],
)
def test_known_wrong_conversions_are_refused_before_converting(iris, tmp_path, make, issue):
    features, target = iris
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make().fit(features, target)
    with pytest.raises(UnsupportedModelError, match=issue) as caught:
        package(model, name="wrong", version="1.0.0", sample=features, out=tmp_path)
    message = str(caught.value)
    assert type(model).__name__ in message and "Instead:" in message and len(message.splitlines()) == 1
    assert not any(tmp_path.iterdir())
