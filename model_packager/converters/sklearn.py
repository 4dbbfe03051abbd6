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
from model_packager.converters.common import TREE_OPSETS, first_line, labels_list, tool_info
from model_packager.converters.skl_registration import register_tree_converters
from model_packager.converters.skl_workarounds import (
    converter_options,
    opsets_for,
    prepared_model,
    refuse_unconvertible,
    register_attribute_normalisation,
    repair_graph,
)
from model_packager.converters.sklearn_inputs import plan_inputs, restore_input_names

__all__ = ["SklearnConverter", "final_estimator", "original_outputs"]


def final_estimator(model: Any) -> Any:
    """The last step of a (possibly nested) Pipeline, else the model itself."""
    while hasattr(model, "steps"):
        model = model.steps[-1][1]
    return model


def _is_selector(sklearn: Any, final: Any) -> bool:
    """Feature selectors (RFE, SelectFromModel...) convert to their ``transform`` even when they can predict."""
    selection: Any = require("sklearn.feature_selection", "sklearn")
    return isinstance(final, selection.SelectorMixin)


def _task(sklearn: Any, final: Any) -> Task:
    if _is_selector(sklearn, final):
        return "other"
    if sklearn.base.is_classifier(final):
        return "classifier"
    if sklearn.base.is_regressor(final):
        return "regressor"
    return "other"


def _dense(values: Any) -> np.ndarray:
    """A plain array (sparse results of OneHotEncoder, KNeighborsTransformer... become dense, as in ONNX)."""
    return np.asarray(values.toarray() if hasattr(values, "toarray") else values)


def _second_output(model: Any, data: Any) -> np.ndarray:
    for method in ("predict_proba", "decision_function", "transform"):
        try:
            return _dense(getattr(model, method)(data))
        except AttributeError:
            continue
    raise ConversionError(f"{type(model).__name__} has no predict_proba, decision_function or transform to compare")


def original_outputs(model: Any, data: Any, names: list[str], transform: bool = False) -> dict[str, np.ndarray]:
    """Run the original estimator (``transform`` when asked or when it cannot predict) and key its
    results by the ONNX output names, in order."""
    try:
        try:
            first = _dense(model.transform(data) if transform or not hasattr(model, "predict") else model.predict(data))
        except ValueError as exc:
            if "dtype mismatch" not in str(exc) or getattr(data, "dtype", None) != np.float32:
                raise
            data = data.astype(np.float64)  # KMeans fitted in float64 refuses float32 rows: same values, float64
            first = _dense(model.transform(data) if transform or not hasattr(model, "predict") else model.predict(data))
        results = [first] if len(names) == 1 else [first, _second_output(model, data)]
    except ConversionError:
        raise
    except Exception as exc:
        raise SampleMismatchError(f"the original model cannot run on the sample: {type(exc).__name__}: {exc}") from None
    if len(names) != len(results):
        raise ConversionError(f"the ONNX graph has outputs {names}; maaskit can compare at most two for scikit-learn")
    return dict(zip(names, results, strict=True))


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
        refuse_unconvertible(model)
        model = prepared_model(model)
        libraries = register_tree_converters(model)
        normalised = register_attribute_normalisation(model)
        plan = plan_inputs(model, sample, options.sample_rows)
        final = final_estimator(model)
        task = _task(sklearn, final)
        skl_options, option_notes = converter_options(model, final, task == "classifier")
        opsets = opsets_for(model, dict(TREE_OPSETS))
        if options.opset is not None:
            opsets[""] = options.opset
        try:
            onx = skl2onnx.convert_sklearn(
                model,
                initial_types=plan.initial_types,
                options=skl_options or None,
                target_opset=opsets,
            )
        except Exception as exc:
            raise ConversionError(
                f"skl2onnx cannot convert this {type(model).__name__}: {first_line(exc)}. Instead: use estimators "
                "skl2onnx supports (docs/coverage.md), register a converter with skl2onnx.update_registered_converter, "
                "or export your own ONNX and package that .onnx file",
                detail=exc,
            ) from None
        option_notes += restore_input_names(onx, plan)
        option_notes += repair_graph(final, onx, onx.graph.output[0].name if task == "classifier" else None)
        if normalised:
            option_notes.append(f"{', '.join(normalised)}: boolean tree attributes written as ints for onnx")
        output_names = [output.name for output in onx.graph.output]
        expected = original_outputs(model, plan.original, output_names, transform=_is_selector(sklearn, final))
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
