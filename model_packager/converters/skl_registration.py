"""Teach skl2onnx about XGBoost and LightGBM estimators (onnxmltools' converters).

skl2onnx converts a Pipeline step by step; a step it does not know fails the
whole pipeline. ``register_tree_converters`` registers the XGBoost/LightGBM
sklearn wrappers it finds in a model, once per process, importing only the
libraries that model actually uses.
"""

from __future__ import annotations

from typing import Any

from model_packager.converters.base import require

__all__ = ["iter_estimators", "register_tree_converters"]

_REGISTERED: set[str] = set()
_CLASSIFIER_OPTIONS = {"nocl": [True, False], "zipmap": [True, False, "columns"]}


#: Attributes holding the FITTED sub-estimators (ColumnTransformer, ensembles, searches clone their params).
_FITTED = (
    "steps",
    "transformers_",
    "estimators_",
    "named_estimators_",
    "best_estimator_",
    "estimator_",
    "final_estimator_",
)


def _children(model: Any) -> list[Any]:
    found = [value for value in getattr(model, "get_params", lambda deep=False: {})(deep=False).values()]
    for attribute in _FITTED:
        value = getattr(model, attribute, None)
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list | tuple):
            found += [item[1] if isinstance(item, tuple) and len(item) > 1 else item for item in value]
        elif value is not None:
            found.append(value)
    return [value for value in found if hasattr(value, "fit")]


def iter_estimators(model: Any) -> list[Any]:
    """The model and every estimator nested in it, fitted ones included (Pipeline steps, ColumnTransformer
    parts, ensemble members, a search's best estimator), each once."""
    found: list[Any] = []
    seen: set[int] = set()
    pending = [model]
    while pending:
        current = pending.pop()
        if id(current) in seen or isinstance(current, type):
            continue
        seen.add(id(current))
        found.append(current)
        pending += _children(current)
    return found


#: library -> (module and function of onnxmltools' converter, classifier classes, regressor classes,
#: regressor options, alias prefix skl2onnx uses for the operator). Rankers and random-forest modes
#: predict like regressors/classifiers and share their converters.
_TREE_LIBRARIES: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...], dict[str, Any] | None, str]] = {
    "xgboost": (
        "onnxmltools.convert.xgboost.operator_converters.XGBoost",
        "convert_xgboost",
        ("XGBClassifier", "XGBRFClassifier"),
        ("XGBRegressor", "XGBRFRegressor", "XGBRanker"),
        None,
        "XGBoost",
    ),
    "lightgbm": (
        "onnxmltools.convert.lightgbm.operator_converters.LightGbm",
        "convert_lightgbm",
        ("LGBMClassifier",),
        ("LGBMRegressor", "LGBMRanker"),
        {"split": None},
        "LightGbm",
    ),
}


def _register(library: str) -> None:
    module_name, function, classifiers, regressors, regressor_options, prefix = _TREE_LIBRARIES[library]
    framework: Any = require(library, library)
    skl2onnx: Any = require("skl2onnx", library)
    shapes: Any = require("skl2onnx.common.shape_calculator", library)
    convert: Any = getattr(require(module_name, library), function)
    for classifier in classifiers:
        skl2onnx.update_registered_converter(
            getattr(framework, classifier),
            f"{prefix}{classifier}",
            shapes.calculate_linear_classifier_output_shapes,
            convert,
            options=_CLASSIFIER_OPTIONS,
        )
    for regressor in regressors:
        skl2onnx.update_registered_converter(
            getattr(framework, regressor),
            f"{prefix}{regressor}",
            shapes.calculate_linear_regressor_output_shapes,
            convert,
            options=regressor_options,
        )


def register_tree_converters(model: Any) -> list[str]:
    """Register converters for the tree libraries used inside ``model``; return their names."""
    used = sorted({type(step).__module__.split(".", 1)[0] for step in iter_estimators(model)} & set(_TREE_LIBRARIES))
    for library in used:
        if library not in _REGISTERED:
            _register(library)
            _REGISTERED.add(library)
    return used
