"""CatBoost: CatBoostClassifier/CatBoostRegressor objects and ``.cbm`` model files, via CatBoost's own ONNX export.

``model.save_model(path, format="onnx")`` writes an ``ai.onnx.ml`` TreeEnsemble graph. Its
classifiers end in a ZipMap (a list of dicts per row), which is removed here so the bundle has
plain ``label`` and ``probabilities`` tensors like every other classifier. CatBoost cannot export
models with categorical features (``cat_features``) to ONNX; those are refused before export.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from model_packager.converters.base import (
    Conversion,
    ConversionError,
    Converter,
    ConvertOptions,
    ModelLoadError,
    SampleData,
    UnsupportedModelError,
    require,
)
from model_packager.converters.common import first_line, labels_list, rename_values, tool_info
from model_packager.converters.native_trees import NATIVE_INPUT, native_feed

__all__ = ["CatBoostConverter"]


def _remove_zipmap(model: onnx.ModelProto, classes: int) -> None:
    """Replace the ZipMap output (sequence of maps) with the float tensor it was made from."""
    zipmaps = [node for node in model.graph.node if node.op_type == "ZipMap"]
    for node in zipmaps:
        source, target = node.input[0], node.output[0]
        model.graph.node.remove(node)
        rename_values(model, {source: target})
        for index, output in enumerate(model.graph.output):
            if output.name == target:
                tensor = onnx.helper.make_tensor_value_info(target, onnx.TensorProto.FLOAT, ["N", classes])
                model.graph.output.remove(output)
                model.graph.output.insert(index, tensor)


class CatBoostConverter(Converter):
    """CatBoost models (objects and .cbm files), exported by CatBoost itself."""

    name = "catboost"
    extra = "catboost"
    handles = "CatBoostClassifier/CatBoostRegressor objects and .cbm model files (numeric features)"
    suffixes = (".cbm",)

    def load(self, path: Path) -> object:
        """Load a ``.cbm`` file (CatBoost's binary model format)."""
        catboost: Any = require("catboost", self.extra)
        model = catboost.CatBoost()
        try:
            model.load_model(str(path))
        except catboost.CatBoostError as exc:
            raise ModelLoadError(
                f"{path.name} is not a readable CatBoost model ({first_line(exc)}); save it again"
            ) from None
        return model

    def accepts(self, model: object) -> bool:
        """Any object whose class comes from catboost."""
        return any(klass.__module__.split(".", 1)[0] == "catboost" for klass in type(model).__mro__)

    def convert(self, model: object, sample: SampleData, options: ConvertOptions) -> Conversion:
        """Export with ``save_model(format="onnx")`` and run the original on the sample."""
        catboost: Any = require("catboost", self.extra)
        booster: Any = model
        categorical = list(booster.get_cat_feature_indices()) if booster.is_fitted() else []
        if not booster.is_fitted():
            raise ConversionError(f"the {type(model).__name__} is not fitted; fit it before packaging")
        if categorical:
            names = [booster.feature_names_[i] for i in categorical]
            raise UnsupportedModelError(
                f"{type(model).__name__} with categorical features {names} cannot be packaged: CatBoost's ONNX "
                "export does not support cat_features. Instead: encode them as numbers before training "
                "(e.g. ordinal codes), or export your own ONNX and package that .onnx file"
            )
        width = len(booster.feature_names_)
        feed, notes = native_feed(sample, width, options.sample_rows)
        with tempfile.TemporaryDirectory(prefix="maaskit-catboost-") as tmp:
            path = Path(tmp) / "model.onnx"
            try:
                booster.save_model(str(path), format="onnx")
            except catboost.CatBoostError as exc:
                raise ConversionError(f"CatBoost's ONNX export failed: {first_line(exc)}", detail=exc) from None
            onx = onnx.load(str(path))
        rename_values(onx, {onx.graph.input[0].name: NATIVE_INPUT})
        if not any(opset.domain in {"", "ai.onnx"} for opset in onx.opset_import):
            onx.opset_import.append(onnx.helper.make_opsetid("", 17))
        features = feed[NATIVE_INPUT]
        outputs = [output.name for output in onx.graph.output]
        classes: list[Any] = []
        is_classifier = len(outputs) == 2  # TreeEnsembleClassifier: label and (ZipMap'd) probabilities
        if is_classifier:
            probabilities = np.asarray(booster.predict(features, prediction_type="Probability"))
            found = getattr(booster, "classes_", None)
            classes = list(found) if found is not None and len(found) else list(range(probabilities.shape[1]))
            _remove_zipmap(onx, len(classes))
            labels = np.asarray(classes)[np.argmax(probabilities, axis=1)]
            expected = {outputs[0]: labels.reshape(-1), outputs[1]: probabilities}
        else:
            prediction = np.asarray(booster.predict(features), dtype=np.float64)
            expected = {outputs[0]: prediction.reshape(len(features), -1)}
        return Conversion(
            model=onx,
            framework=tool_info("catboost", catboost),
            converter=tool_info("catboost", catboost, name="catboost.save_model(onnx)"),
            inputs=feed,
            expected=expected,
            task="classifier" if is_classifier else "regressor",
            labels=labels_list(classes) if is_classifier else None,
            label_output=outputs[0] if is_classifier else None,
            probability_output=outputs[1] if is_classifier else None,
            sample_generated=sample is None,
            notes=[*notes, "exported by CatBoost's own ONNX export" + ("; ZipMap removed" if is_classifier else "")],
        )
