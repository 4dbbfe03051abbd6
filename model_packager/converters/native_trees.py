"""What XGBoost and LightGBM native boosters share: matrix input, outputs by objective.

A native booster (not an sklearn wrapper) takes one float32 matrix ``input`` of
shape ``[batch, n_features]``. onnxmltools gives classifiers ``label`` and
``probabilities`` (class ids 0..k-1) and regressors ``variable``; the original
booster's ``predict`` is mapped onto those names here.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import onnx

from bundle import TensorSpec
from model_packager.converters.base import (
    Conversion,
    ConversionError,
    Converter,
    ConvertOptions,
    SampleData,
    Task,
    require,
)
from model_packager.converters.common import binary_probabilities, tool_info
from model_packager.converters.sklearn import SklearnConverter
from model_packager.samples import feed_for_specs, generate_feed

__all__ = [
    "NATIVE_INPUT",
    "BoosterConverter",
    "NativeOutputs",
    "ObjectiveKind",
    "dynamic_batch_outputs",
    "native_feed",
    "native_outputs",
]

NATIVE_INPUT = "input"
ObjectiveKind = Literal["binary", "multiclass", "regression"]


@dataclass(frozen=True)
class NativeOutputs:
    """The original booster's outputs keyed by ONNX output name, and what they mean."""

    expected: dict[str, np.ndarray]
    task: Task
    labels: list[int] | None
    label_output: str | None
    probability_output: str | None


def native_feed(sample: SampleData, width: int, rows: int) -> tuple[dict[str, np.ndarray], list[str]]:
    """Fit the sample to ``input [batch, width] float32``, or generate one (and say so)."""
    spec = TensorSpec(name=NATIVE_INPUT, dtype="float32", shape=[None, width])
    if sample is None:
        feed, note = generate_feed([spec], rows)
        return feed, [note]
    return feed_for_specs(sample, [spec]), []


def native_outputs(kind: ObjectiveKind, prediction: np.ndarray, names: list[str]) -> NativeOutputs:
    """Map ``booster.predict`` (probabilities for classifiers, values for regressors) to ONNX outputs."""
    prediction = np.asarray(prediction)
    if kind == "regression":
        if len(names) != 1:
            raise ConversionError(f"expected one output for a regression booster, the ONNX graph has {names}")
        return NativeOutputs({names[0]: prediction.reshape(prediction.shape[0], -1)}, "regressor", None, None, None)
    if len(names) != 2:
        raise ConversionError(f"expected label and probabilities outputs for a classifier, the ONNX graph has {names}")
    probabilities = binary_probabilities(prediction) if kind == "binary" else prediction.astype(np.float64)
    labels = np.argmax(probabilities, axis=1).astype(np.int64)
    expected = {names[0]: labels, names[1]: probabilities}
    return NativeOutputs(expected, "classifier", list(range(probabilities.shape[1])), names[0], names[1])


def dynamic_batch_outputs(model: onnx.ModelProto) -> None:
    """Declare the leading axis of every output dynamic where a converter fixed it to 1."""
    for output in model.graph.output:
        dims = output.type.tensor_type.shape.dim
        if dims and dims[0].HasField("dim_value") and dims[0].dim_value == 1:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = "N"


class BoosterConverter(Converter):
    """Shared flow of the XGBoost and LightGBM converters; subclasses fill in the library specifics."""

    library: ClassVar[str]
    """Top-level module of the framework (``xgboost``/``lightgbm``)."""

    def accepts(self, model: object) -> bool:
        """Any object whose class comes from the library (its Booster, its sklearn wrappers)."""
        return any(klass.__module__.split(".", 1)[0] == self.library for klass in type(model).__mro__)

    @abstractmethod
    def width(self, booster: Any) -> int:
        """Number of input features."""

    @abstractmethod
    def objective(self, booster: Any) -> tuple[str, ObjectiveKind]:
        """The objective's name and what kind of outputs it gives."""

    @abstractmethod
    def to_onnx(self, onnxmltools: Any, booster: Any, initial_types: list[tuple[str, Any]]) -> onnx.ModelProto:
        """Convert with onnxmltools."""

    @abstractmethod
    def predict(self, library: Any, booster: Any, features: np.ndarray, objective: str) -> np.ndarray:
        """Probabilities (classifiers) or values (regressors) of the original booster."""

    def convert(self, model: object, sample: SampleData, options: ConvertOptions) -> Conversion:
        """Native booster -> onnxmltools; sklearn wrapper -> skl2onnx with the registered converter."""
        library: Any = require(self.library, self.extra)
        framework = tool_info(self.library, library)
        if not isinstance(model, library.Booster):
            return SklearnConverter().convert_as(model, sample, options, framework=framework)
        onnxmltools: Any = require("onnxmltools", self.extra)
        types: Any = require("onnxmltools.convert.common.data_types", self.extra)
        width = self.width(model)
        feed, notes = native_feed(sample, width, options.sample_rows)
        objective, kind = self.objective(model)
        try:
            onx = self.to_onnx(onnxmltools, model, [(NATIVE_INPUT, types.FloatTensorType([None, width]))])
        except Exception as exc:
            raise ConversionError(
                f"onnxmltools cannot convert this {self.library} booster ({objective}): {exc}"
            ) from None
        outputs = native_outputs(
            kind,
            self.predict(library, model, feed[NATIVE_INPUT], objective),
            [output.name for output in onx.graph.output],
        )
        return Conversion(
            model=onx,
            framework=framework,
            converter=tool_info("onnxmltools", onnxmltools),
            inputs=feed,
            expected=outputs.expected,
            task=outputs.task,
            labels=outputs.labels,
            label_output=outputs.label_output,
            probability_output=outputs.probability_output,
            sample_generated=sample is None,
            notes=[*notes, f"native {self.library} booster, objective {objective}"],
        )
