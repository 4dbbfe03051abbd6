"""Existing ONNX models: checked with onnx.checker, shapes inferred, bundled like the rest.

The "original" of an ONNX file is the file itself run by onnxruntime, so the
conversion parity is exact by construction; it becomes meaningful after
``--optimize``/``--quantize``, which are checked against it.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from handlers.bundle import ToolInfo
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

__all__ = ["OnnxConverter"]


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
        producer = ToolInfo(name=model.producer_name or "onnx", version=model.producer_version or "unknown")
        return Conversion(
            model=inferred,
            framework=producer,
            converter=ToolInfo(name="onnx", version=onnx.__version__),
            inputs=feed,
            expected=expected,
            sample_generated=sample is None,
            notes=[*notes, "source is already ONNX: parity compares it with itself, and optimizations with it"],
        )
