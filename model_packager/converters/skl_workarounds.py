"""Where skl2onnx is wrong or incomplete for our pinned versions, and what maaskit does about it.

Each entry names the upstream issue. Three kinds:

* **refusals** (:func:`refuse_unconvertible`): models that cannot become a served ONNX model,
  refused before conversion starts with one message: the estimator, why, what to do instead;
* **options and opsets** chosen per estimator type (:func:`converter_options`, :func:`opsets_for`)
  rather than passed blindly (skl2onnx raises on an option a converter does not declare);
* **repairs**: a converter re-registered with its attributes normalised
  (:func:`register_attribute_normalisation`), a model copy with a transform-only flag changed
  (:func:`prepared_model`), and graph fixes after conversion (:func:`repair_graph`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx

from model_packager.converters.base import UnsupportedModelError, require
from model_packager.converters.skl_registration import iter_estimators

__all__ = [
    "ISSUES",
    "converter_options",
    "opsets_for",
    "prepared_model",
    "refuse_unconvertible",
    "register_attribute_normalisation",
    "repair_graph",
]

#: The upstream issue behind each workaround (also listed on docs/coverage.md).
ISSUES = {
    "locale": "https://github.com/onnx/sklearn-onnx/issues/1019",
    "voting_flatten": "https://github.com/onnx/sklearn-onnx/issues/867",
    "input_names": "https://github.com/onnx/sklearn-onnx/issues/1153",
    "knn_imputer_opset": "https://github.com/onnx/sklearn-onnx/pull/1165",
    "hgb_bool_attributes": "https://github.com/onnx/sklearn-onnx/issues/1253",
    "hgb_regressor_parity": "https://github.com/onnx/sklearn-onnx/issues/1192",
}

_TREE_HINTS = ("Tree", "Forest", "Boosting", "XGB", "LGBM")
_SCALERS = {"StandardScaler", "RobustScaler", "MaxAbsScaler"}
_TEXT_VECTORIZERS = {"CountVectorizer", "TfidfVectorizer"}

#: Estimators that never convert: (why, what to do instead).
_NEVER: dict[str, tuple[str, str]] = {
    "LabelEncoder": (
        "transforms targets (y), not model inputs",
        "package the estimator trained on the encoded targets; its labels are recorded in the bundle",
    ),
    "LabelBinarizer": (
        "transforms targets (y), not model inputs",
        "package the estimator trained on the encoded targets; its labels are recorded in the bundle",
    ),
    "DictVectorizer": (
        "takes Python dicts, which ONNX inputs cannot hold",
        "fit a ColumnTransformer with OneHotEncoder on a DataFrame instead",
    ),
    "FeatureHasher": (
        "takes dicts or token lists, which ONNX inputs cannot hold",
        "fit a ColumnTransformer with OneHotEncoder or a TfidfVectorizer on a DataFrame column instead",
    ),
    "NearestNeighbors": (
        "has no predict or transform, only neighbour queries",
        "package KNeighborsClassifier, KNeighborsRegressor or KNeighborsTransformer",
    ),
    "RadiusNeighborsClassifier": (
        "converts to a graph onnxruntime rejects (ArrayFeatureExtractor index -1 for rows without a "
        "neighbour in range)",
        "use KNeighborsClassifier",
    ),
    "RadiusNeighborsRegressor": (
        "converts to a graph onnxruntime rejects (ArrayFeatureExtractor index -1 for rows without a "
        "neighbour in range)",
        "use KNeighborsRegressor",
    ),
    "QuantileTransformer": (
        "converts to a graph that differs from scikit-learn by up to 0.03 (it interpolates the quantiles one way only)",
        "use PowerTransformer or StandardScaler, or export your own ONNX and package that .onnx file",
    ),
    "GaussianProcessClassifier": (
        "converts to a graph using com.microsoft Solve, an operator onnxruntime does not ship",
        "use SVC(probability=True) or LogisticRegression, or export your own ONNX and package that .onnx file",
    ),
    "HistGradientBoostingRegressor": (
        "converts to a graph whose predictions differ from scikit-learn by 10% and more with skl2onnx 1.20 "
        "(https://github.com/onnx/sklearn-onnx/issues/1192)",
        "use LGBMRegressor or XGBRegressor (same algorithm, converted exactly) or GradientBoostingRegressor",
    ),
    "XGBRFClassifier": (
        "converts with onnxmltools to a graph whose probabilities differ from XGBoost once it has more than "
        "two parallel trees (https://github.com/onnx/onnxmltools/issues/663)",
        "use XGBClassifier, RandomForestClassifier, or XGBRFRegressor for scores",
    ),
    "MultiOutputClassifier": (
        "gives one probability table per target (an ONNX sequence), which maaskit does not serve",
        "package one classifier per target",
    ),
}


def _conditional(step: Any) -> tuple[str, str] | None:
    """Refusals that depend on how the estimator was configured or fitted."""
    name = type(step).__name__
    if name == "KBinsDiscretizer" and getattr(step, "encode", None) == "onehot":
        return "with encode='onehot' returns a sparse matrix, which ONNX cannot", "refit with encode='onehot-dense'"
    if name == "RandomTreesEmbedding" and getattr(step, "sparse_output", False):
        return "with sparse_output=True returns a sparse matrix, which ONNX cannot", "refit with sparse_output=False"
    if name.startswith("LGBM") and getattr(step, "boosting_type", "gbdt") == "rf":
        return (
            "with boosting_type='rf' averages its trees, and onnxmltools converts it as gbdt (summing them): "
            "predictions would be off by the number of trees",
            "use boosting_type='gbdt', RandomForestClassifier/Regressor, or XGBRFRegressor",
        )
    if name == "TargetEncoder" and getattr(step, "target_type_", "") == "multiclass":
        return (
            "is converted for binary or continuous targets only by skl2onnx",
            "encode categories with OneHotEncoder or OrdinalEncoder instead",
        )
    return None


def refuse_unconvertible(model: Any) -> None:
    """Raise UnsupportedModelError naming the first estimator in ``model`` that cannot be converted."""
    for step in iter_estimators(model):
        name = type(step).__name__
        reason = _NEVER.get(name) or _conditional(step)
        if reason is not None:
            why, instead = reason
            raise UnsupportedModelError(f"{name} cannot be packaged: it {why}. Instead: {instead}")


def _takes_zipmap(step: Any) -> bool:
    """Whether skl2onnx's converter for ``step`` declares the zipmap option (or passes options through)."""
    registration: Any = require("skl2onnx.common._registration", "sklearn")
    operators: Any = require("skl2onnx._supported_operators", "sklearn")
    alias = operators.sklearn_operator_name_map.get(type(step))
    if alias is None:
        return True  # an XGBoost/LightGBM wrapper registered by maaskit with the option
    try:
        allowed = registration.get_converter(alias).get_allowed_options()
    except (KeyError, ValueError):
        return False
    return allowed == "passthrough" or (isinstance(allowed, dict) and "zipmap" in allowed)


def converter_options(model: Any, final: Any, is_classifier: bool) -> tuple[dict[Any, dict[str, Any]], list[str]]:
    """skl2onnx options per estimator, only those its converter declares.

    * classifiers without ZipMap (plain label/probability tensors), where the converter has the
      option (LinearSVC and RFE do not, and skl2onnx raises on an undeclared option);
    * scalers in front of trees compute in double (``div_cast``): a float32 scaler can land one
      ulp across a float64 split threshold and change the leaf;
    * text vectorizers normalise with the ``C`` locale: onnxruntime's default ``en_US.UTF-8`` is
      missing on slim Linux images and Lambda (skl2onnx issue 1019).
    """
    options: dict[Any, dict[str, Any]] = {}  # keyed by id(estimator): the fitted instances skl2onnx converts
    notes: list[str] = []
    if is_classifier and _takes_zipmap(final):
        options[id(final)] = {"zipmap": False}
    steps = iter_estimators(model)
    if any(hint in type(step).__name__ for step in steps for hint in _TREE_HINTS):
        scalers = [step for step in steps if type(step).__name__ in _SCALERS]
        options.update({id(scaler): {"div": "div_cast"} for scaler in scalers})
        if scalers:
            notes.append("scalers in front of trees compute in double (skl2onnx div_cast) to match split thresholds")
    for vectorizer in [step for step in steps if type(step).__name__ in _TEXT_VECTORIZERS]:
        options[id(vectorizer)] = {"locale": "C"}
        notes.append(f"{type(vectorizer).__name__} lower-cases with the C locale (present on every Linux image)")
    return options, notes


def opsets_for(model: Any, opsets: dict[str, int]) -> dict[str, int]:
    """Raise the default opset where a converter needs a newer one (KNNImputer needs 18)."""
    if any(type(step).__name__ == "KNNImputer" for step in iter_estimators(model)):
        return {**opsets, "": max(opsets.get("", 18), 18)}
    return opsets


def prepared_model(model: Any) -> Any:
    """A copy of ``model`` with transform-only flags skl2onnx cannot convert turned off.

    ``VotingClassifier(flatten_transform=True)`` (the default) is refused by skl2onnx although the
    flag only shapes ``transform()``, never ``predict``/``predict_proba`` (skl2onnx issue 867).
    """
    votes = [step for step in iter_estimators(model) if type(step).__name__ == "VotingClassifier"]
    if not any(getattr(step, "flatten_transform", False) for step in votes):
        return model
    copied = copy.deepcopy(model)
    for step in iter_estimators(copied):
        if type(step).__name__ == "VotingClassifier":
            step.flatten_transform = False
    return copied


class _NormalisingContainer:
    """Passes every call to skl2onnx's container; ``add_node`` attributes become plain ints/floats."""

    def __init__(self, container: Any) -> None:
        self._container = container

    def __getattr__(self, name: str) -> Any:
        return getattr(self._container, name)

    def add_node(self, *args: Any, **attributes: Any) -> Any:
        return self._container.add_node(*args, **{key: _plain(value) for key, value in attributes.items()})


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple) and value and any(isinstance(v, bool | np.bool_ | np.integer) for v in value):
        return [int(v) if isinstance(v, bool | np.bool_ | np.integer) else v for v in value]
    return value


_NORMALISED: set[str] = set()


def _normalising(original: Callable[..., Any]) -> Callable[..., Any]:
    def convert(scope: Any, operator: Any, container: Any) -> Any:  # skl2onnx wants exactly 3 parameters
        return original(scope, operator, _NormalisingContainer(container))

    return convert


def register_attribute_normalisation(model: Any) -> list[str]:
    """Re-register HistGradientBoosting converters so boolean node attributes are written as ints.

    With scikit-learn 1.9, HistGradientBoosting trees store ``missing_go_to_left`` as booleans;
    skl2onnx copies them into ``nodes_missing_value_tracks_true``, an INTS attribute, and onnx refuses
    the node (dumping every attribute). See skl2onnx issue 1253 (the same attribute, other trees).
    """
    names = {type(step).__name__ for step in iter_estimators(model)}
    wanted = sorted(names & {"HistGradientBoostingClassifier", "HistGradientBoostingRegressor"} - _NORMALISED)
    if not wanted:
        return []
    skl2onnx: Any = require("skl2onnx", "sklearn")
    registration: Any = require("skl2onnx.common._registration", "sklearn")
    ensemble: Any = require("sklearn.ensemble", "sklearn")
    for name in wanted:
        alias = f"Sklearn{name}"
        original = registration.get_converter(alias)
        skl2onnx.update_registered_converter(
            getattr(ensemble, name),
            alias,
            registration.get_shape_calculator(alias),
            _normalising(original),
            options=original.get_allowed_options(),
        )
        _NORMALISED.add(name)
    return wanted


def _flatten_output(model: onnx.ModelProto, name: str) -> None:
    """Make output ``name`` 1-D: its producer writes ``<name>_2d``, a Reshape to ``[-1]`` gives ``name``."""
    raw = f"{name}_2d"
    for node in model.graph.node:
        node.output[:] = [raw if output == name else output for output in node.output]
    shape = onnx.helper.make_tensor(f"{name}_flat_shape", onnx.TensorProto.INT64, [1], [-1])
    model.graph.initializer.append(shape)
    model.graph.node.append(onnx.helper.make_node("Reshape", [raw, shape.name], [name], name=f"{name}_flatten"))
    output = next(value for value in model.graph.output if value.name == name)
    dims = output.type.tensor_type.shape.dim
    del dims[:]
    dims.add().dim_param = "N"


def repair_graph(model: Any, onx: onnx.ModelProto, label_output: str | None) -> list[str]:
    """Graph fixes after conversion; returns notes for the ones applied.

    QuadraticDiscriminantAnalysis's converter emits its label as shape ``[1, N]`` instead of
    ``[N]``: the label is reshaped to one value per row.
    """
    if label_output and type(model).__name__ == "QuadraticDiscriminantAnalysis":
        _flatten_output(onx, label_output)
        return ["QuadraticDiscriminantAnalysis label reshaped from [1, N] to [N] (skl2onnx emits it transposed)"]
    return []
