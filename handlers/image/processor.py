"""The processor of image bundles: encoded images -> pixel tensor, scores -> top-k labels.

Decoding and preprocessing are the bundle package's (:mod:`bundle.processing.image`: Pillow and numpy,
the code the packager's parity gate ran), so a served image becomes exactly the pixels it was checked
with. An image over the bundle's pixel limit (a decompression bomb) is refused from its header with a
413 naming the limit; bytes that are not a JPEG, PNG or WebP image get a 400.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bundle import Bundle, BundleError, Manifest
from bundle.errors import InputError
from bundle.processing.image import ImagePreprocessor, ImageTooLargeError
from handlers.errors import InvalidInputError, PayloadTooLargeError
from handlers.processing import Feed, Inputs, Outputs
from handlers.text.answers import LabelScore, top_k_labels
from handlers.validation import coerce_feed

__all__ = ["ImageProcessor", "image_processor", "image_processor_of"]


class ImageProcessor:
    """Decodes and preprocesses images as the bundle says; answers top-k ``{"label", "score"}``."""

    def __init__(self, bundle: Bundle) -> None:
        manifest = bundle.manifest
        if manifest.image is None:
            raise BundleError(f"{bundle.root}: task {manifest.task} needs the manifest's image section")
        self.manifest: Manifest = manifest
        self.task = str(manifest.task)
        self.spec = manifest.image
        self.preprocessor = ImagePreprocessor(manifest.image)
        self.labels = [str(label) for label in manifest.labels or []]

    def preprocess(self, inputs: Inputs) -> Feed:
        """Encoded images are decoded and preprocessed; a ready pixel tensor by input name is only validated."""
        if inputs.raw is None:
            return coerce_feed(self.manifest, inputs.tensors)
        images = []
        for index, item in enumerate(inputs.raw):
            if not isinstance(item, bytes):
                raise InvalidInputError(f"image {index} must be the bytes of a JPEG, PNG or WebP file, not text")
            images.append(item)
        try:
            return self.preprocessor.feed(images)
        except ImageTooLargeError as exc:
            raise PayloadTooLargeError(str(exc)) from None
        except InputError as exc:
            raise InvalidInputError(str(exc)) from None

    def postprocess(self, feed: Feed, outputs: Outputs) -> Outputs:
        """The outputs unchanged: the softmax is inside the graph."""
        return outputs

    def classifications(self, outputs: Outputs, top_k: int | None) -> list[list[LabelScore]]:
        """Per image the ``top_k`` best ``{"label", "score"}`` (every label when None)."""
        return top_k_labels(np.asarray(outputs["scores"]), self.labels, top_k)


def image_processor(bundle: Bundle) -> ImageProcessor:
    """The :data:`handlers.processing.PROCESSORS` factory for image tasks."""
    return ImageProcessor(bundle)


def image_processor_of(runtime: Any) -> ImageProcessor | None:
    """The runtime's processor when it is an image model's, else None."""
    processor = getattr(runtime, "processor", None)
    return processor if isinstance(processor, ImageProcessor) else None
