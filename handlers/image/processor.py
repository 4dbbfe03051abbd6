"""The processor of image bundles: encoded images -> pixel tensor, scores -> top-k labels.

Decoding and preprocessing are the bundle package's (:mod:`bundle.processing.image`: Pillow and numpy,
the code the packager's parity gate ran), so a served image becomes exactly the pixels it was checked
with. An image over the bundle's pixel limit (a decompression bomb) is refused from its header with a
413 naming the limit; bytes that are not a JPEG, PNG or WebP image get a 400.

What it reads from the neutral :class:`~handlers.vocabulary.Inputs`: ``named["image"]``; one ``BYTES``
tensor by any name; a single named value of bytes; ``raw``/``rows`` of bytes, base64 strings or
one-value records (``{"image_bytes": ...}``); otherwise the pixel tensor by name. Answers are best-first
``{"label", "score"}`` lists: ``top_k`` 1 by default, 5 in the Hugging Face pipeline and TorchServe
handler shapes (both answer five).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np

from bundle import Bundle, BundleError, Manifest
from bundle.errors import InputError
from bundle.processing.image import ImagePreprocessor, ImageTooLargeError
from handlers.errors import InvalidInputError, PayloadTooLargeError
from handlers.tabular import score_labels_of, tensors_of
from handlers.text.answers import LabelScore, top_k_labels
from handlers.text.inputs import top_k_from
from handlers.validation import coerce_feed
from handlers.vocabulary import MAX_EXAMPLES, Answers, ExampleFeed, Feed, Inputs, Outputs, Style

__all__ = ["IMAGE_TOP_K", "ImageProcessor"]

#: TorchServe's image classifier and the Hugging Face image-classification pipeline answer five labels.
IMAGE_TOP_K = 5


def _one_value(item: Any) -> Any:
    """A record of one value (``{"image_bytes": ...}``, Google's named-input form) as that value."""
    return next(iter(item.values())) if isinstance(item, dict) and len(item) == 1 else item


def _is_image(item: Any) -> bool:
    return isinstance(_one_value(item), str | bytes)


def _image(item: Any, where: str) -> bytes:
    item = _one_value(item)
    if isinstance(item, str):
        try:
            item = base64.b64decode(item, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInputError(
                f"{where} is not valid base64; send the image file's bytes base64-encoded"
            ) from None
    if not isinstance(item, bytes):
        raise InvalidInputError(f'{where} must be {{"b64": "<base64 of the image file>"}} or a base64 string')
    if not item:
        raise InvalidInputError(f"{where} is empty; send the bytes of a JPEG, PNG or WebP file")
    return item


def _images(value: Any, where: str) -> tuple[list[bytes], bool]:
    """One image or a non-empty list of them; also whether it was a single one."""
    if isinstance(value, np.ndarray):
        value = value.reshape(-1).tolist()
        if not value:
            raise InvalidInputError(f"{where} holds no images; send at least one")
        return [_image(item, f"{where} element {index}") for index, item in enumerate(value)], False
    if isinstance(value, list):
        if not value:
            raise InvalidInputError(f"{where} holds no images; send at least one")
        if len(value) > MAX_EXAMPLES:
            raise InvalidInputError(f"{where} holds {len(value)} images, over the limit of {MAX_EXAMPLES}; split it")
        return [_image(item, f"{where}[{index}]") for index, item in enumerate(value)], False
    return [_image(value, where)], True


def _imagelike(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and all(_is_image(item) for item in value)
    return _is_image(value)


class ImageProcessor:
    """Decodes and preprocesses images as the bundle says; answers top-k ``{"label", "score"}``."""

    bodies = frozenset({"image"})
    embedder = None

    def __init__(self, bundle: Bundle) -> None:
        manifest = bundle.manifest
        if manifest.image is None:
            raise BundleError(f"{bundle.root}: task {manifest.task} needs the manifest's image section")
        self.manifest: Manifest = manifest
        self.task = str(manifest.task)
        self.spec = manifest.image
        self.preprocessor = ImagePreprocessor(manifest.image)
        self.labels = [str(label) for label in manifest.labels or []]
        self.score_labels = score_labels_of(manifest)

    def preprocess(self, inputs: Inputs) -> Feed:
        """Encoded images are decoded and preprocessed; a ready pixel tensor by input name is only validated."""
        top_k_from(inputs.options)  # a bad top_k is refused before inference
        named = dict(inputs.named)
        strings = [name for name, value in named.items() if isinstance(value, np.ndarray) and value.dtype == object]
        if strings:
            if len(named) != 1:
                raise InvalidInputError(f"send the images as one BYTES input (got {', '.join(named)})")
            return self.pixels(*_images(named[strings[0]], f"input {strings[0]!r}"))
        if "image" in named:
            if len(named) > 1:
                others = ", ".join(sorted(set(named) - {"image"}))
                raise InvalidInputError(
                    f'send either "image" or the model\'s tensors in {inputs.where}, not both (also got {others})'
                )
            return self.pixels(*_images(named["image"], inputs.at("image")))
        if len(named) == 1 and _imagelike(next(iter(named.values()))):
            name, value = next(iter(named.items()))
            return self.pixels(*_images(value, inputs.at(name)))
        if not named:
            for value in (inputs.raw, inputs.rows):
                if value is not None and (_imagelike(value) or (isinstance(value, list) and not value)):
                    return self.pixels(*_images(value, inputs.where))
        tensors, _ = tensors_of(self.manifest, inputs)
        return coerce_feed(self.manifest, tensors)

    def pixels(self, images: list[bytes], single: bool = False) -> Feed:
        """The pixel feed of encoded ``images`` (413 over the pixel limit, 400 when not an image)."""
        try:
            return ExampleFeed(self.preprocessor.feed(images), raw=True, single=single)
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

    def answer(self, inputs: Inputs, feed: Feed, outputs: Outputs, style: Style) -> Answers:
        """Per image (when images were sent) its top-k labels, in ``style``'s shape."""
        predictions: Any = None
        if style != "tensors" and getattr(feed, "raw", False):
            single = getattr(feed, "single", False)
            if style == "predictions":
                predictions = self.classifications(outputs, top_k_from(inputs.options))
            else:
                ranked = self.classifications(outputs, top_k_from(inputs.options, IMAGE_TOP_K))
                if style == "handler":  # TorchServe's image classifier: {label: score}, best first
                    ranked = [{item["label"]: item["score"] for item in row} for row in ranked]  # type: ignore[misc]
                predictions = ranked[0] if single else ranked
        return Answers(outputs=outputs, predictions=predictions, task=self.task)
