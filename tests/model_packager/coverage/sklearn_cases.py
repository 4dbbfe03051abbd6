"""scikit-learn cases, generated from skl2onnx's own registry of supported estimators.

Every class skl2onnx registers a converter for (``sklearn_operator_name_map``) that
``sklearn.utils.all_estimators`` also lists gets one "alone" case, fitted on a bundled data
set chosen by its kind; estimators that need arguments or particular inputs get them from
``_OVERRIDES``. Pipelines (scaling, PCA, feature selection) and ColumnTransformers over
mixed numeric and string DataFrame columns are added as shape cases.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from model_packager.parity import Tolerances
from tests.model_packager.coverage.cases import Case, dataset, frame

__all__ = ["sklearn_cases", "supported_estimators"]

#: Representatives in the quick default set.
_QUICK = {"LogisticRegression", "GradientBoostingRegressor", "HistGradientBoostingClassifier", "PCA"}
#: Composites covered by the shape cases rather than alone.
_SHAPES_ONLY = {"Pipeline", "ColumnTransformer", "FeatureUnion"}

#: Estimators that truly cannot become a served ONNX model, and the phrase their refusal contains.
REFUSED: dict[str, str] = {
    "LabelEncoder": "transforms targets",
    "LabelBinarizer": "transforms targets",
    "DictVectorizer": "dicts",
    "FeatureHasher": "dicts",
    "NearestNeighbors": "no predict or transform",
    "RadiusNeighborsClassifier": "onnxruntime rejects",
    "RadiusNeighborsRegressor": "onnxruntime rejects",
    "QuantileTransformer": "differs from scikit-learn",
    "MultiOutputClassifier": "one probability table per target",
    "KBinsDiscretizer": "sparse matrix",
    "RandomTreesEmbedding": "sparse matrix",
    "GaussianProcessClassifier": "com.microsoft Solve",
    "HistGradientBoostingRegressor": "differ from scikit-learn",
}


def supported_estimators() -> list[type]:
    """Estimator classes skl2onnx converts that scikit-learn lists, sorted by name."""
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from sklearn.utils import all_estimators

    listed = {klass for _, klass in all_estimators()}
    return sorted((klass for klass in sklearn_operator_name_map if klass in listed), key=lambda k: k.__name__)


def _kind(klass: type) -> str:
    from sklearn import base

    for kind, mixin in (
        ("classifier", base.ClassifierMixin),
        ("regressor", base.RegressorMixin),
        ("cluster", base.ClusterMixin),
        ("outlier", base.OutlierMixin),
        ("density", base.DensityMixin),
    ):
        if issubclass(klass, mixin):
            return kind
    return "transformer"


_DEFAULT_DATA = {
    "classifier": "iris",
    "regressor": "diabetes",
    "cluster": "iris",  # unscaled wine (proline ~1000) loses the distances to float32 cancellation
    "outlier": "breast_cancer",
    "density": "wine",
    "transformer": "wine",
}


def _data(name: str, rows: int = 400) -> tuple[np.ndarray, np.ndarray]:
    features, target = dataset(name)
    step = max(1, len(features) // rows)
    return features[::step], target[::step]


def _fit_on(name: str, make: Callable[[], Any], data: str, y: bool = True) -> Callable[[], tuple[Any, Any]]:
    def build() -> tuple[Any, Any]:
        features, target = _data(data)
        model = make()
        if "random_state" in model.get_params():
            model.set_params(random_state=0)  # a reproducible matrix: the same fit on every run
        model.fit(features, target) if y else model.fit(features)
        return model, features

    return build


def _multi_target() -> tuple[np.ndarray, np.ndarray]:
    features, target = _data("diabetes")
    return features, np.stack([target, features[:, 2] * 100], axis=1)


def _special(name: str) -> Callable[[], tuple[Any, Any]] | None:
    """Builders for estimators that need arguments, targets or inputs of their own."""
    from sklearn import (
        calibration,
        decomposition,
        ensemble,
        feature_extraction,
        linear_model,
        model_selection,
        multiclass,
        multioutput,
        naive_bayes,
        neighbors,
        preprocessing,
        random_projection,
        svm,
        tree,
    )
    from sklearn import feature_selection as fs
    from sklearn.pipeline import make_pipeline

    def logistic() -> Any:
        return linear_model.LogisticRegression(max_iter=2000)

    if name in {"MultiTaskElasticNet", "MultiTaskElasticNetCV", "MultiTaskLasso", "MultiTaskLassoCV"}:
        klass = getattr(linear_model, name)

        def multitask() -> tuple[Any, Any]:
            features, targets = _multi_target()
            return klass().fit(features, targets), features

        return multitask
    if name in {"KNNImputer", "SimpleImputer"}:
        klass = getattr(__import__("sklearn.impute", fromlist=[name]), name)

        def imputer() -> tuple[Any, Any]:
            features, _ = _data("wine")
            holes = features.copy()
            holes[::7, 2] = np.nan  # something to impute
            return klass().fit(holes), holes

        return imputer
    if name == "MultiOutputRegressor":

        def multi_regressor() -> tuple[Any, Any]:
            features, targets = _multi_target()
            return multioutput.MultiOutputRegressor(linear_model.Ridge()).fit(features, targets), features

        return multi_regressor
    if name == "MultiOutputClassifier":

        def multi_classifier() -> tuple[Any, Any]:
            features, target = _data("iris")
            targets = np.stack([target, (features[:, 0] > 5.8).astype(int)], axis=1)
            return multioutput.MultiOutputClassifier(logistic()).fit(features, targets), features

        return multi_classifier
    simple: dict[str, tuple[Callable[[], Any], str]] = {
        "CalibratedClassifierCV": (lambda: calibration.CalibratedClassifierCV(svm.LinearSVC()), "breast_cancer"),
        "GridSearchCV": (lambda: model_selection.GridSearchCV(logistic(), {"C": [0.1, 1.0]}, cv=3), "iris"),
        "TunedThresholdClassifierCV": (
            lambda: model_selection.TunedThresholdClassifierCV(
                make_pipeline(preprocessing.StandardScaler(), logistic())
            ),
            "breast_cancer",
        ),
        "OneVsRestClassifier": (lambda: multiclass.OneVsRestClassifier(logistic()), "iris"),
        "OneVsOneClassifier": (lambda: multiclass.OneVsOneClassifier(logistic()), "iris"),
        "RFE": (lambda: fs.RFE(logistic(), n_features_to_select=2), "iris"),
        "RFECV": (lambda: fs.RFECV(logistic(), cv=3), "iris"),
        "SelectFromModel": (lambda: fs.SelectFromModel(linear_model.Lasso(alpha=0.5)), "diabetes"),
        "SelectKBest": (lambda: fs.SelectKBest(k=5), "wine"),
        "GenericUnivariateSelect": (lambda: fs.GenericUnivariateSelect(mode="k_best", param=5), "wine"),
        "StackingClassifier": (
            lambda: ensemble.StackingClassifier(
                [("tree", tree.DecisionTreeClassifier(max_depth=3)), ("logistic", logistic())], cv=3
            ),
            "iris",
        ),
        "StackingRegressor": (
            lambda: ensemble.StackingRegressor(
                [("tree", tree.DecisionTreeRegressor(max_depth=3)), ("ridge", linear_model.Ridge())], cv=3
            ),
            "diabetes",
        ),
        "VotingClassifier": (
            lambda: ensemble.VotingClassifier(
                [("tree", tree.DecisionTreeClassifier(max_depth=3)), ("logistic", logistic())], voting="soft"
            ),
            "iris",
        ),
        "VotingRegressor": (
            lambda: ensemble.VotingRegressor([("tree", tree.DecisionTreeRegressor()), ("ridge", linear_model.Ridge())]),
            "diabetes",
        ),
        "MultinomialNB": (naive_bayes.MultinomialNB, "digits"),
        "ComplementNB": (naive_bayes.ComplementNB, "digits"),
        "CategoricalNB": (naive_bayes.CategoricalNB, "digits"),
        "NeighborhoodComponentsAnalysis": (lambda: neighbors.NeighborhoodComponentsAnalysis(n_components=2), "iris"),
        "LocalOutlierFactor": (lambda: neighbors.LocalOutlierFactor(novelty=True), "breast_cancer"),
        "RadiusNeighborsClassifier": (lambda: neighbors.RadiusNeighborsClassifier(radius=2.0), "iris"),
        "RadiusNeighborsRegressor": (lambda: neighbors.RadiusNeighborsRegressor(radius=0.3), "diabetes"),
        "GaussianRandomProjection": (lambda: random_projection.GaussianRandomProjection(n_components=5), "wine"),
        "KernelPCA": (lambda: decomposition.KernelPCA(n_components=2), "iris"),
        "HistGradientBoostingClassifier": (lambda: ensemble.HistGradientBoostingClassifier(max_iter=30), "iris"),
        "MLPClassifier": (lambda: make_mlp("classifier"), "iris"),
        "MLPRegressor": (lambda: make_mlp("regressor"), "diabetes"),
        "TfidfTransformer": (feature_extraction.text.TfidfTransformer, "digits"),
    }
    if name in simple:
        make, data = simple[name]
        return _fit_on(name, make, data)
    return None


def _targets_only(klass: type) -> Callable[[], tuple[Any, Any]]:
    def build() -> tuple[Any, Any]:
        _, target = _data("iris")
        return klass().fit(target), target.reshape(-1, 1)

    return build


def _dicts(klass: type) -> Callable[[], tuple[Any, Any]]:
    def build() -> tuple[Any, Any]:
        rows = [{"colour": colour, "size": float(size)} for colour, size in zip("rgbrgb", range(6), strict=True)]
        return klass().fit(rows), rows

    return build


def _encoder(klass: type, data: str = "wine") -> Callable[[], tuple[Any, Any]]:
    """A categorical encoder fitted on the string columns of a DataFrame."""

    def build() -> tuple[Any, Any]:
        table, target = frame(data)
        text = table.select_dtypes(include=object)
        return klass().fit(text, target), text

    return build


def make_mlp(kind: str) -> Any:
    """A small MLP that converges on the bundled sets."""
    from sklearn import neural_network

    klass = neural_network.MLPClassifier if kind == "classifier" else neural_network.MLPRegressor
    return klass(hidden_layer_sizes=(16,), max_iter=2000, random_state=0)


def _kernel_centerer() -> tuple[Any, Any]:
    from sklearn.preprocessing import KernelCenterer

    features, _ = _data("iris")
    kernel = features @ features.T
    return KernelCenterer().fit(kernel), kernel


def _text_columns(make: Callable[[], Any]) -> Callable[[], tuple[Any, Any]]:
    """A text vectorizer over one string column of a DataFrame (through a ColumnTransformer)."""

    def build() -> tuple[Any, Any]:
        import pandas as pd
        from sklearn.compose import ColumnTransformer

        words = np.array(["red wine", "white wine", "dry red", "sweet white", "red and dry", "white sweet wine"])
        features, target = _data("wine")
        table = pd.DataFrame({"note": words[np.arange(len(features)) % len(words)].astype(object)})
        model = ColumnTransformer([("text", make(), "note")]).fit(table, target)
        return model, table

    return build


def _alone(klass: type) -> Case:
    name = klass.__name__
    if name in {"LabelEncoder", "LabelBinarizer"}:
        return Case(f"sklearn-{name}", "scikit-learn", _targets_only(klass), refusal=REFUSED[name])
    if name in {"DictVectorizer", "FeatureHasher"}:
        return Case(f"sklearn-{name}", "scikit-learn", _dicts(klass), refusal=REFUSED[name])
    if name in {"OneHotEncoder", "OrdinalEncoder"}:
        return Case(f"sklearn-{name}-text-columns", "scikit-learn", _encoder(klass))
    if name == "TargetEncoder":
        return Case(f"sklearn-{name}-text-columns", "scikit-learn", _encoder(klass, "breast_cancer"))
    if name == "PowerTransformer":  # Yeo-Johnson powers in float32: ~3e-4 off; the tolerance is the user's knob
        loose = (("tolerances", Tolerances(atol=1e-3, rtol=5e-3)),)
        return Case(f"sklearn-{name}-atol-1e-3", "scikit-learn", _fit_on(name, klass, "wine"), package_kwargs=loose)
    if name in {"CountVectorizer", "TfidfVectorizer"}:
        return Case(f"sklearn-{name}-text-column", "scikit-learn", _text_columns(klass))
    if name == "KernelCenterer":
        return Case(f"sklearn-{name}", "scikit-learn", _kernel_centerer)
    kind = _kind(klass)
    build = _special(name) or _fit_on(name, klass, _DEFAULT_DATA[kind], y=kind != "cluster")
    return Case(f"sklearn-{name}", "scikit-learn", build, quick=name in _QUICK, refusal=REFUSED.get(name))


def _pipeline(case_id: str, steps: Callable[[], list[Any]], data: str, quick: bool = False) -> Case:
    def build() -> tuple[Any, Any]:
        from sklearn.pipeline import make_pipeline

        features, target = _data(data)
        return make_pipeline(*steps()).fit(features, target), features

    return Case(case_id, "scikit-learn", build, quick=quick)


def _mixed(case_id: str, data: str, final: Callable[[], Any], quick: bool = False, **extra: Any) -> Case:
    def build() -> tuple[Any, Any]:
        from sklearn.compose import ColumnTransformer, make_column_selector
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        table, target = frame(data)
        columns = ColumnTransformer(
            [
                ("numbers", StandardScaler(), make_column_selector(dtype_include="number")),
                ("text", OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_include=object)),
            ]
        )
        return Pipeline([("columns", columns), ("model", final())]).fit(table, target), table

    return Case(case_id, "scikit-learn", build, quick=quick, **extra)


def _refused_configurations() -> list[Case]:
    """Supported estimators in a configuration skl2onnx cannot convert."""
    from sklearn.preprocessing import TargetEncoder

    return [
        Case(
            "sklearn-TargetEncoder-multiclass",
            "scikit-learn",
            _encoder(TargetEncoder, "iris"),
            refusal="binary or continuous",
        ),
    ]


def _shape_cases() -> list[Case]:
    from sklearn import decomposition, ensemble, linear_model, preprocessing, svm
    from sklearn import feature_selection as fs

    def logistic() -> Any:
        return linear_model.LogisticRegression(max_iter=2000)

    return [
        _pipeline(
            "pipeline-scale-svc-breast-cancer",
            lambda: [preprocessing.StandardScaler(), svm.SVC(probability=True)],
            "breast_cancer",
        ),
        _pipeline(
            "pipeline-scale-pca-logistic-digits",
            lambda: [preprocessing.StandardScaler(), decomposition.PCA(20), logistic()],
            "digits",
            quick=True,
        ),
        _pipeline(
            "pipeline-kbest-forest-wine",
            lambda: [fs.SelectKBest(k=6), ensemble.RandomForestClassifier(30, random_state=0)],
            "wine",
        ),
        _pipeline(
            "pipeline-scale-forest-breast-cancer",
            lambda: [preprocessing.StandardScaler(), ensemble.RandomForestClassifier(30, random_state=0)],
            "breast_cancer",
        ),
        _pipeline(
            "pipeline-minmax-ridge-diabetes", lambda: [preprocessing.MinMaxScaler(), linear_model.Ridge()], "diabetes"
        ),
        _pipeline(
            "pipeline-poly-lasso-diabetes",
            lambda: [preprocessing.PolynomialFeatures(2), linear_model.Lasso(alpha=0.1)],
            "diabetes",
        ),
        _pipeline(
            "pipeline-scale-gbr-diabetes",
            lambda: [preprocessing.StandardScaler(), ensemble.GradientBoostingRegressor(random_state=0)],
            "diabetes",
        ),
        _mixed(
            "columns-mixed-forest-iris",
            "iris",
            lambda: ensemble.RandomForestClassifier(30, random_state=0),
            pending="one of 30 trees takes the other branch on one row (float32 inputs at a split threshold): "
            "probability off by 1/30; the gate refuses it",
        ),
        _mixed("columns-mixed-logistic-breast-cancer", "breast_cancer", logistic, quick=True),
        _mixed(
            "columns-mixed-hgb-diabetes",
            "diabetes",
            lambda: ensemble.HistGradientBoostingRegressor(max_iter=50),
            refusal="differ from scikit-learn",
        ),
    ]


def sklearn_cases() -> list[Case]:
    """Every supported estimator alone, then the pipeline and ColumnTransformer shapes."""
    alone = [_alone(klass) for klass in supported_estimators() if klass.__name__ not in _SHAPES_ONLY]
    return [*alone, *_refused_configurations(), *_shape_cases()]
