"""scikit-learn estimators and Pipelines, converted with skl2onnx.

Classifiers are converted without ZipMap (plain ``label`` and ``probabilities``
tensors) and their class labels are recorded. XGBoost and LightGBM estimators
inside a Pipeline are handled through onnxmltools' converters registered into
skl2onnx, with tree-friendly opsets.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bundle import ToolInfo
from model_packager.converters.base import (
    Conversion,
    ConversionError,
    Converter,
    ConvertOptions,
    SampleData,
    SampleMismatchError,
    Task,
    require,
)
from model_packager.converters.common import TREE_OPSETS, labels_list, tool_info
from model_packager.converters.skl_registration import iter_estimators, register_tree_converters
from model_packager.converters.sklearn_inputs import plan_inputs

__all__ = ["SklearnConverter", "final_estimator", "original_outputs"]


def final_estimator(model: Any) -> Any:
    """The last step of a (possibly nested) Pipeline, else the model itself."""
    while hasattr(model, "steps"):
        model = model.steps[-1][1]
    return model


def _task(sklearn: Any, final: Any) -> Task:
    if sklearn.base.is_classifier(final):
        return "classifier"
    if sklearn.base.is_regressor(final):
        return "regressor"
    return "other"


def _second_output(model: Any, data: Any) -> np.ndarray:
    for method in ("predict_proba", "decision_function", "transform"):
        try:
            return np.asarray(getattr(model, method)(data))
        except AttributeError:
            continue
    raise ConversionError(f"{type(model).__name__} has no predict_proba, decision_function or transform to compare")


def original_outputs(model: Any, data: Any, names: list[str]) -> dict[str, np.ndarray]:
    """Run the original estimator and key its results by the ONNX output names, in order."""
    try:
        first = np.asarray(model.predict(data) if hasattr(model, "predict") else model.transform(data))
        results = [first] if len(names) == 1 else [first, _second_output(model, data)]
    except ConversionError:
        raise
    except Exception as exc:
        raise SampleMismatchError(f"the original model cannot run on the sample: {type(exc).__name__}: {exc}") from None
    if len(names) != len(results):
        raise ConversionError(f"the ONNX graph has outputs {names}; maaskit can compare at most two for scikit-learn")
    return dict(zip(names, results, strict=True))


_SCALERS = {"StandardScaler", "RobustScaler", "MaxAbsScaler"}
_TREE_HINTS = ("Tree", "Forest", "Boosting", "XGB", "LGBM")


def _converter_options(model: Any, final: Any, task: Task) -> tuple[dict[int, dict[str, Any]], list[str]]:
    """skl2onnx options: no ZipMap for classifiers; double-precision scaling in front of trees.

    A tree compares a feature with a threshold learned in float64. A scaler computed
    in float32 can land one ulp across it and change the leaf, so when the model holds
    a tree ensemble the scalers compute in double and cast back, as scikit-learn does.
    """
    options: dict[int, dict[str, Any]] = {}
    notes: list[str] = []
    if task == "classifier":
        options[id(final)] = {"zipmap": False}
    steps = iter_estimators(model)
    if any(hint in type(step).__name__ for step in steps for hint in _TREE_HINTS):
        scalers = [step for step in steps if type(step).__name__ in _SCALERS]
        for scaler in scalers:
            options[id(scaler)] = {"div": "div_cast"}
        if scalers:
            notes.append("scalers in front of trees compute in double (skl2onnx div_cast) to match split thresholds")
    return options, notes


class SklearnConverter(Converter):
    """scikit-learn estimators and Pipelines (pickles are loaded by the registry)."""

    name = "sklearn"
    extra = "sklearn"
    handles = "scikit-learn estimators and Pipelines (incl. ColumnTransformer), as objects or .pkl/.joblib files"

    def accepts(self, model: object) -> bool:
        """Any object whose class derives from a scikit-learn class."""
        return any(klass.__module__.startswith("sklearn.") for klass in type(model).__mro__)

    def convert(self, model: object, sample: SampleData, options: ConvertOptions) -> Conversion:
        """Convert with skl2onnx and run the original model on the same sample."""
        return self.convert_as(model, sample, options, framework=tool_info("scikit-learn", name="scikit-learn"))

    def convert_as(self, model: Any, sample: SampleData, options: ConvertOptions, framework: ToolInfo) -> Conversion:
        """Convert, recording ``framework`` as the source (XGBoost/LightGBM wrappers reuse this)."""
        sklearn: Any = require("sklearn", self.extra)
        skl2onnx: Any = require("skl2onnx", self.extra)
        try:
            sklearn.utils.validation.check_is_fitted(model)
        except sklearn.exceptions.NotFittedError:
            raise ConversionError(f"the {type(model).__name__} is not fitted; fit it before packaging") from None
        except TypeError:
            pass  # not an estimator check_is_fitted understands; skl2onnx decides
        libraries = register_tree_converters(model)
        plan = plan_inputs(model, sample, options.sample_rows)
        final = final_estimator(model)
        task = _task(sklearn, final)
        skl_options, option_notes = _converter_options(model, final, task)
        opsets = dict(TREE_OPSETS)
        if options.opset is not None:
            opsets[""] = options.opset
        try:
            onx = skl2onnx.convert_sklearn(
                model, initial_types=plan.initial_types, options=skl_options or None, target_opset=opsets
            )
        except Exception as exc:
            raise ConversionError(
                f"skl2onnx cannot convert this {type(model).__name__}: {type(exc).__name__}: {exc}"
            ) from None
        output_names = [output.name for output in onx.graph.output]
        expected = original_outputs(model, plan.original, output_names)
        labels = labels_list(final.classes_) if task == "classifier" and hasattr(final, "classes_") else None
        notes = [*plan.notes, *option_notes]
        if libraries:
            notes.append(f"{', '.join(libraries)} estimators converted with onnxmltools' converters inside skl2onnx")
        converter = tool_info("skl2onnx", skl2onnx)
        return Conversion(
            model=onx,
            framework=framework,
            converter=converter,
            inputs=plan.feed,
            expected=expected,
            task=task,
            labels=labels,
            label_output=output_names[0] if task == "classifier" else None,
            probability_output=output_names[1] if task == "classifier" and len(output_names) > 1 else None,
            sample_generated=plan.generated,
            notes=notes,
        )
