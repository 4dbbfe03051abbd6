"""Load an image classifier (a local folder, or a module with given preprocessing) with its reference processor.

The reference is what the ORIGINAL pipeline does with an image file: ``transformers.image_utils.load_image``
(EXIF orientation, RGB) and the model's own Hugging Face image processor (for a folder; for a module, the
transformers PIL image processor configured with the given settings), then the model on torch. The bundle's
path (``bundle.processing.image``) is compared with it image by image before the outputs are.
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bundle import ImageSpec
from model_packager.converters.base import ConversionError, ModelLoadError, PackagingError, require
from model_packager.converters.image_folder import (
    PREPROCESSOR_FILE,
    ImageFolder,
    ImagePreprocessing,
    spec_from_processor,
)
from model_packager.converters.pytorch_io import first_line, quiet

__all__ = ["ImageClassifier", "ImageSource", "load_image_source"]


@dataclass(frozen=True)
class ImageClassifier:
    """A torchvision/timm-style classifier given in Python: the module, its preprocessing and its labels.

    ``module(pixels)`` takes float32 [batch, 3, H, W] and returns logits [batch, len(labels)] (a tensor,
    a tuple whose first item is the logits, or an object with ``.logits``)::

        package(ImageClassifier(net, ImagePreprocessing(resize=256, crop=224), labels=["cat", "dog"]),
                name="pets", version="1.0.0", sample="images/")
    """

    module: Any
    preprocessing: ImagePreprocessing
    labels: list[str]
    input_name: str = "pixel_values"


@dataclass
class ImageSource:
    """A loaded image classifier: the module to export, its spec and labels, and the reference processor."""

    model: Any
    spec: ImageSpec
    labels: list[str]
    reference_processor: Any
    framework: str
    files: dict[str, bytes] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def reference_pixels(self, images: list[bytes]) -> np.ndarray:
        """The ORIGINAL pipeline's pixel tensor for the encoded images."""
        from PIL import Image
        from transformers.image_utils import load_image

        pictures = [load_image(Image.open(io.BytesIO(data))) for data in images]
        with quiet():
            batch = self.reference_processor(pictures, return_tensors="np")
        return np.asarray(batch["pixel_values"], dtype=np.float32)

    def logits(self, pixels: np.ndarray) -> np.ndarray:
        """The ORIGINAL model's logits for ``pixels`` (torch, no grad)."""
        torch: Any = sys.modules["torch"]
        with torch.no_grad(), quiet():
            return np.asarray(_logits_of(self.model(torch.from_numpy(pixels))).numpy(), dtype=np.float32)


def _logits_of(output: Any) -> Any:
    if hasattr(output, "logits"):
        return output.logits
    if isinstance(output, tuple | list):
        return output[0]
    return output


def _folder_source(folder: ImageFolder) -> ImageSource:
    transformers: Any = require("transformers", "image")
    require("PIL", "image")
    try:
        with quiet():
            model = transformers.AutoModelForImageClassification.from_pretrained(folder.path, local_files_only=True)
            processor = transformers.AutoImageProcessor.from_pretrained(folder.path, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"{folder.path.name}: cannot load the image classifier: {first_line(exc)}") from None
    model.eval()
    spec = spec_from_processor(processor.to_dict(), f"{folder.path.name}/{PREPROCESSOR_FILE}")
    id2label = getattr(model.config, "id2label", None) or {}
    labels = [str(id2label.get(index, f"LABEL_{index}")) for index in range(int(model.config.num_labels))]
    notes = [f"preprocessing from {PREPROCESSOR_FILE} ({type(processor).__name__})"]
    files = {PREPROCESSOR_FILE: (folder.path / PREPROCESSOR_FILE).read_bytes()}
    return ImageSource(model, spec, labels, processor, "transformers", files, notes)


def _module_source(classifier: ImageClassifier) -> ImageSource:
    torch: Any = require("torch", "torch")
    if not isinstance(classifier.module, torch.nn.Module):
        raise PackagingError(
            f"ImageClassifier.module must be a torch.nn.Module, got {type(classifier.module).__name__}"
        )
    if not classifier.labels or not all(isinstance(label, str) for label in classifier.labels):
        raise PackagingError("ImageClassifier.labels must be a non-empty list of label strings, one per class")
    spec = classifier.preprocessing.spec(classifier.input_name)
    notes: list[str] = []
    try:
        from transformers.image_processing_backends import PilBackend

        reference: Any = PilBackend(**classifier.preprocessing.processor_config())
        notes.append("reference preprocessing: the transformers PIL image processor with the given settings")
    except ImportError:
        from bundle.processing.image import ImagePreprocessor

        reference = _OwnProcessor(ImagePreprocessor(spec))
        notes.append("transformers is not installed: the preprocessing is checked against itself only")
    classifier.module.eval()
    return ImageSource(classifier.module, spec, list(classifier.labels), reference, "torch", {}, notes)


class _OwnProcessor:
    def __init__(self, preprocessor: Any) -> None:
        self.preprocessor = preprocessor

    def __call__(self, pictures: list[Any], return_tensors: str) -> dict[str, np.ndarray]:
        from bundle.processing.image import preprocess_image

        return {"pixel_values": np.stack([preprocess_image(p, self.preprocessor.spec) for p in pictures])}


def load_image_source(model: object) -> ImageSource:
    """The ImageSource of an ImageFolder or an ImageClassifier."""
    if isinstance(model, ImageFolder):
        return _folder_source(model)
    if isinstance(model, ImageClassifier):
        return _module_source(model)
    raise ConversionError(f"not an image classifier: {type(model).__name__}")
