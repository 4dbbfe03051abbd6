"""Existing ONNX models: checked with onnx.checker, shapes inferred, bundled like the rest.

The "original" of an ONNX file is the file itself run by onnxruntime, so the
conversion parity is exact by construction; it becomes meaningful after
``--optimize``/``--quantize``, which are checked against it.

A file with external data (weights in ``.data`` files beside it, e.g. a model over 2 GB) is read
without its weights and checked, inferred and run BY PATH: a protobuf over 2 GB cannot be
serialized, and onnxruntime resolves the external files relative to the model's path. The packager
then rewrites the weights into the bundle's one ``model.onnx.data``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
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
from model_packager.model_files import uses_external_data
from model_packager.parity import run_onnx
from model_packager.samples import feed_for_specs, generate_feed
from model_packager.signature import graph_specs

__all__ = ["OnnxConverter", "OnnxFile", "classifier_labels"]

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


@dataclass(frozen=True)
class OnnxFile:
    """An ONNX file whose weights are external: its graph (weights not loaded) and where it lies."""

    path: Path
    graph: onnx.ModelProto


class OnnxConverter(Converter):
    """``.onnx`` files and in-memory ``onnx.ModelProto`` objects."""

    name = "onnx"
    extra = "sklearn"  # nothing beyond the core install is needed; kept for the interface
    handles = ".onnx files and onnx.ModelProto objects (checked, shapes inferred)"
    suffixes = (".onnx",)

    def accepts(self, model: object) -> bool:
        """An ``onnx.ModelProto`` (or a file loaded by ``load``)."""
        return isinstance(model, onnx.ModelProto | OnnxFile)

    def load(self, path: Path) -> object:
        """Parse the file; a model with external data is kept on disk (``OnnxFile``), its weights unread."""
        try:
            graph = onnx.load(str(path), load_external_data=False)
        except (DecodeError, OSError, ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"{path.name} is not a readable ONNX model ({exc}); export it again") from None
        return OnnxFile(path, graph) if uses_external_data(graph) else graph

    def convert(self, model: object, sample: SampleData, options: ConvertOptions) -> Conversion:
        """Check, infer shapes, and run the model on the (given or generated) sample."""
        assert isinstance(model, onnx.ModelProto | OnnxFile)
        graph = model.graph if isinstance(model, OnnxFile) else model
        try:
            # by path for external data: the checker then also checks the data files stay beside the model
            onnx.checker.check_model(str(model.path) if isinstance(model, OnnxFile) else model)
            inferred = onnx.shape_inference.infer_shapes(graph, check_type=True)
        except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError, ValueError) as exc:
            raise ConversionError(f"the ONNX model is invalid: {exc}") from None
        inputs, _ = graph_specs(inferred)
        notes: list[str] = []
        if sample is None:
            feed, note = generate_feed(inputs, options.sample_rows)
            notes.append(note)
        else:
            feed = feed_for_specs(sample, inputs)
        expected = self._run(model, inferred, feed)
        labels = classifier_labels(inferred)
        names = [output.name for output in inferred.graph.output]
        producer = ToolInfo(name=graph.producer_name or "onnx", version=graph.producer_version or "unknown")
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
            external_data_dir=model.path.parent if isinstance(model, OnnxFile) else None,
        )

    @staticmethod
    def _run(
        model: onnx.ModelProto | OnnxFile, inferred: onnx.ModelProto, feed: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """The original's outputs: from the file itself when its weights are external, else from the bytes."""
        if isinstance(model, OnnxFile):
            return run_onnx(model.path, feed)
        return run_onnx(inferred.SerializeToString(), feed)
