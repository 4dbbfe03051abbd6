"""Existing ONNX models: checked with onnx.checker, shapes inferred, bundled like the rest.

The "original" of an ONNX file is the file itself run by onnxruntime, so the
conversion parity is exact by construction; it becomes meaningful after
``--optimize``/``--quantize``, which are checked against it.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from bundle import ToolInfo
from model_packager.converters.base import (
    Conversion,
    ConversionError,
    Converter,
    ConvertOptions,
    ModelLoadError,
    SampleData,
)
from model_packager.parity import run_onnx
from model_packager.samples import feed_for_specs, generate_feed
from model_packager.signature import graph_specs

__all__ = ["OnnxConverter", "classifier_labels"]

_CLASSIFIER_OPS = {"LinearClassifier", "TreeEnsembleClassifier", "SVMClassifier"}


def classifier_labels(model: onnx.ModelProto) -> list[str] | list[int] | None:
    """Class labels of an ONNX-ML classifier whose outputs are ``label`` then probabilities, else None.

    The labels are read from the classifier node (``classlabels_ints``/``_int64s``/``_strings``),
    so a classifier exported elsewhere (e.g. by skl2onnx with zipmap=False) keeps them in the bundle.
    """
    outputs = model.graph.output
    if len(outputs) != 2 or len(outputs[0].type.tensor_type.shape.dim) != 1:
        return None
    for node in model.graph.node:
        if node.domain == "ai.onnx.ml" and node.op_type in _CLASSIFIER_OPS:
            for attribute in node.attribute:
                if attribute.name in {"classlabels_int64s", "classlabels_ints"} and attribute.ints:
                    return [int(value) for value in attribute.ints]
                if attribute.name == "classlabels_strings" and attribute.strings:
                    return [value.decode() for value in attribute.strings]
    return None


class OnnxConverter(Converter):
    """``.onnx`` files and in-memory ``onnx.ModelProto`` objects."""

    name = "onnx"
    extra = "sklearn"  # nothing beyond the core install is needed; kept for the interface
    handles = ".onnx files and onnx.ModelProto objects (checked, shapes inferred)"
    suffixes = (".onnx",)

    def accepts(self, model: object) -> bool:
        """An ``onnx.ModelProto``."""
        return isinstance(model, onnx.ModelProto)

    def load(self, path: Path) -> object:
        """Parse the file (external ``.onnx.data`` beside it is pulled inline)."""
        try:
            return onnx.load(str(path))
        except (DecodeError, OSError, ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"{path.name} is not a readable ONNX model ({exc}); export it again") from None

    def convert(self, model: object, sample: SampleData, options: ConvertOptions) -> Conversion:
        """Check, infer shapes, and run the model on the (given or generated) sample."""
        assert isinstance(model, onnx.ModelProto)
        try:
            onnx.checker.check_model(model)
            inferred = onnx.shape_inference.infer_shapes(model, check_type=True)
        except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
            raise ConversionError(f"the ONNX model is invalid: {exc}") from None
        inputs, _ = graph_specs(inferred)
        notes: list[str] = []
        if sample is None:
            feed, note = generate_feed(inputs, options.sample_rows)
            notes.append(note)
        else:
            feed = feed_for_specs(sample, inputs)
        expected = run_onnx(inferred.SerializeToString(), feed)
        labels = classifier_labels(inferred)
        names = [output.name for output in inferred.graph.output]
        producer = ToolInfo(name=model.producer_name or "onnx", version=model.producer_version or "unknown")
        return Conversion(
            model=inferred,
            framework=producer,
            converter=ToolInfo(name="onnx", version=onnx.__version__),
            inputs=feed,
            expected=expected,
            task="classifier" if labels is not None else "other",
            labels=labels,
            label_output=names[0] if labels is not None else None,
            probability_output=names[1] if labels is not None else None,
            sample_generated=sample is None,
            notes=[*notes, "source is already ONNX: parity compares it with itself, and optimizations with it"],
        )
