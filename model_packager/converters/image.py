"""Image classifiers (a local Hugging Face folder, or a module with given preprocessing) to ONNX.

The model is wrapped so the graph answers ``logits`` and softmax ``scores`` [batch, labels], exported by
the TorchScript exporter (``dynamo=False``) with a dynamic batch axis. Sample inputs are never invented:
they are image files, run through the bundle's own preprocessing (``bundle.processing.image``) for the
ONNX side and through the original processor for the reference (see ``model_packager.image_package``).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from bundle import ImageSpec, Task, ToolInfo
from bundle.processing.image import ImagePreprocessor
from model_packager.converters.base import (
    Conversion,
    ConversionError,
    Converter,
    ConvertOptions,
    SampleData,
    UnsupportedModelError,
    require,
)
from model_packager.converters.common import tool_info
from model_packager.converters.image_folder import ImageFolder, is_image_folder, read_image_folder
from model_packager.converters.image_source import ImageClassifier, load_image_source
from model_packager.converters.pytorch_io import first_line, quiet

__all__ = ["IMAGE_OPSET", "ImageClassificationConverter", "ImageConversion"]

IMAGE_OPSET = 17
_TASK: Task = "image-classification"


@dataclass
class ImageConversion(Conversion):
    """An image model's conversion: the graph, its sample images, both pixel tensors, the bundle's files."""

    image_names: list[str] = field(default_factory=list)
    images: list[bytes] = field(default_factory=list)
    image_spec: ImageSpec | None = None
    reference_pixels: np.ndarray | None = None
    """The original processor's pixels (``inputs`` holds the bundle's own for the same images)."""
    files: dict[str, bytes] = field(default_factory=dict)

    def file_checksums(self) -> dict[str, tuple[str, int]]:
        """sha256 and size of each extra bundle file."""
        return {name: (hashlib.sha256(data).hexdigest(), len(data)) for name, data in self.files.items()}


def _head(model: Any, torch: Any) -> Any:
    class ScoresHead(torch.nn.Module):  # type: ignore[misc]
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, pixels: Any) -> tuple[Any, Any]:
            output = self.inner(pixels)
            logits = output.logits if hasattr(output, "logits") else output[0] if isinstance(output, tuple) else output
            return logits, torch.softmax(logits, dim=-1)

    return ScoresHead(model).eval()


class ImageClassificationConverter(Converter):
    """Image classifiers: a transformers folder with an image processor, or an ImageClassifier module."""

    name = "image"
    extra = "image"
    handles = (
        "a local transformers image-classification folder (config.json, weights, preprocessor_config.json), or "
        "model_packager.ImageClassifier(module, ImagePreprocessing(...), labels) (task image-classification)"
    )

    def can_load(self, path: Path) -> bool:
        """A directory with config.json and an image processor's preprocessor_config.json."""
        return is_image_folder(path)

    def load(self, path: Path) -> object:
        """Read the folder's JSON files (the model is loaded at conversion)."""
        if not path.is_dir():
            raise UnsupportedModelError(f"{path.name} is not a folder; give the folder save_pretrained wrote")
        return read_image_folder(path)

    def accepts(self, model: object) -> bool:
        """An ImageFolder or an ImageClassifier."""
        return isinstance(model, ImageFolder | ImageClassifier)

    def convert(self, model: object, sample: SampleData, options: ConvertOptions) -> Conversion:
        """Export with softmax scores; run our preprocessing and the original's on the sample images."""
        from model_packager.image_samples import images_from

        if options.task not in (None, _TASK):
            raise UnsupportedModelError(f"an image classifier packages for task {_TASK}, not {options.task!r}")
        torch: Any = require("torch", "torch")
        samples, note = images_from(sample)
        source = load_image_source(model)
        encoded = [item.data for item in samples]
        pixels = ImagePreprocessor(source.spec).pixels(encoded)  # ImageDecodeError names a bad sample
        reference = source.reference_pixels(encoded)
        head = _head(source.model, torch)
        expected_logits = source.logits(reference)
        if expected_logits.ndim != 2 or expected_logits.shape[1] != len(source.labels):
            raise ConversionError(
                f"the model answers logits of shape {list(expected_logits.shape)}; an image classifier answers "
                f"[batch, {len(source.labels)}] (one score per label)"
            )
        expected = {
            "logits": expected_logits,
            "scores": torch.softmax(torch.from_numpy(expected_logits), dim=-1).numpy(),
        }
        onnx_model = self._export(head, pixels, source.spec.input_name, options, torch)
        framework = tool_info("transformers") if source.framework == "transformers" else tool_info("torch", torch)
        return ImageConversion(
            model=onnx_model,
            framework=framework,
            converter=ToolInfo(name="torch.onnx.torchscript", version=str(torch.__version__)),
            inputs={source.spec.input_name: pixels},
            expected=expected,
            task=_TASK,
            labels=source.labels,
            probability_output="scores",
            notes=[*source.notes, *([note] if note else [])],
            image_names=[item.name for item in samples],
            images=encoded,
            image_spec=source.spec,
            reference_pixels=reference,
            files=source.files,
        )

    @staticmethod
    def _export(head: Any, pixels: np.ndarray, input_name: str, options: ConvertOptions, torch: Any) -> onnx.ModelProto:
        trace = torch.from_numpy(np.repeat(pixels[:1], 2, axis=0))  # batch 2: a batch of 1 could be specialised
        buffer = io.BytesIO()
        axes = {input_name: {0: "batch"}, "logits": {0: "batch"}, "scores": {0: "batch"}}
        try:
            with quiet(), torch.no_grad():
                torch.onnx.export(
                    head,
                    (trace,),
                    buffer,
                    dynamo=False,
                    verbose=False,
                    input_names=[input_name],
                    output_names=["logits", "scores"],
                    dynamic_axes=axes,
                    opset_version=options.opset or IMAGE_OPSET,
                )
        except Exception as exc:
            raise ConversionError(
                f"torch.onnx (TorchScript exporter) failed on the image model: {first_line(exc)}"
            ) from None
        return onnx.load_from_string(buffer.getvalue())
