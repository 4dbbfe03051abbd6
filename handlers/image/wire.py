"""Encoded images in each protocol's request shape, and image answers in each protocol's answer shape.

The protocol codecs call these only for image bundles (:func:`image_processor_of` is not None), so
tensor and text models keep their decoding untouched. What each protocol takes (and answers):

=============  ===================================================================  ==========================
protocol       images                                                               answer per image
=============  ===================================================================  ==========================
maaskit JSON   ``{"inputs": {"image": {"b64": s} | [{"b64": s}, ...]},               ``predictions``: top-k
               "parameters": {"top_k": k}}``                                        ``[{"label", "score"}]``
OIP v2         one BYTES input: binary extension (raw file bytes) or JSON ``data``  the model's tensors
               of base64 strings                                                    (``classification: k``)
TF Serving     ``instances``: ``{"b64": s}`` or ``{NAME: {"b64": s}}``; ``inputs``:  ``predictions`` /
               ``{"b64": s}``, a list of them, or ``{NAME: ...}``                    ``outputs``: top-k
TorchServe     an ``image/*`` (or octet-stream) body: one image; ``?top_k=`` (5)     ``{label: score}`` top-k
SageMaker      an ``image/*`` / ``application/x-image`` body, or the Hugging Face    ``[{"label", "score"}]``
               toolkit's ``{"inputs": b64 | [b64], "parameters": {"top_k": k}}``     (top-k, default 5)
=============  ===================================================================  ==========================

``top_k`` defaults to 5 for TorchServe and SageMaker (TorchServe's image classifier and the Hugging Face
image-classification pipeline both answer five) and to 1 elsewhere, like text classifiers.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import numpy as np
from starlette.requests import Request

from handlers.errors import InvalidInputError, UnsupportedMediaTypeError
from handlers.http import loads
from handlers.image.processor import ImageProcessor
from handlers.processing import Inputs, Outputs
from handlers.text.inputs import top_k_from

__all__ = [
    "IMAGE_TOP_K",
    "ImageRequest",
    "hf_answer",
    "hf_images",
    "is_image_media",
    "maaskit_images",
    "oip_images",
    "predictions",
    "tfserving_images",
    "torchserve_answer",
    "torchserve_images",
]

#: TorchServe's image classifier and the Hugging Face image-classification pipeline answer five labels.
IMAGE_TOP_K = 5
_BINARY_MEDIA = ("application/x-image", "application/octet-stream")
_NAMES = ("image", "images", "image_bytes", "b64", "data", "inputs")


@dataclass(frozen=True)
class ImageRequest:
    """What an image request asked for beyond its images: top-k, whether one image came without a list."""

    top_k: int | None = 1
    single: bool = False


def is_image_media(media: str) -> bool:
    """Whether a Content-Type carries one encoded image (``image/*``, ``application/x-image``, octet-stream)."""
    return media.startswith("image/") or media in _BINARY_MEDIA


def _b64(value: Any, where: str) -> bytes:
    if isinstance(value, dict) and set(value) == {"b64"}:
        value = value["b64"]
    if not isinstance(value, str):
        raise InvalidInputError(f'{where} must be {{"b64": "<base64 of the image file>"}} or a base64 string')
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError(f"{where} is not valid base64; send the image file's bytes base64-encoded") from None
    if not data:
        raise InvalidInputError(f"{where} is empty; send the bytes of a JPEG, PNG or WebP file")
    return data


def _many(value: Any, where: str) -> tuple[list[bytes], bool]:
    """One image (b64 string or object) or a non-empty list of them; also whether it was a single one."""
    if isinstance(value, list):
        if not value:
            raise InvalidInputError(f"{where} holds no images; send at least one")
        return [_b64(item, f"{where}[{index}]") for index, item in enumerate(value)], False
    return [_b64(value, where)], True


def predictions(processor: ImageProcessor, outputs: Outputs, top_k: int | None) -> list[Any]:
    """Per image its top-k ``{"label", "score"}`` list."""
    return list(processor.classifications(outputs, top_k))


def maaskit_images(payload: Any) -> tuple[Inputs, ImageRequest] | None:
    """``{"inputs": {"image": ...}}``; None when the body sends the pixel tensor by name instead."""
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), dict):
        return None
    inputs = payload["inputs"]
    if "image" not in inputs:
        return None
    if len(inputs) > 1:
        others = ", ".join(sorted(set(inputs) - {"image"}))
        raise InvalidInputError(
            f'send either "image" or the model\'s tensors in "inputs", not both (also got {others})'
        )
    images, single = _many(inputs["image"], '"inputs.image"')
    return Inputs(raw=images), ImageRequest(top_k_from(payload.get("parameters")), single)


def _tf_instance(item: Any, index: int) -> bytes:
    if isinstance(item, dict) and len(item) == 1 and "b64" not in item:
        item = next(iter(item.values()))  # {"image_bytes": {"b64": ...}} (Google's named-input form)
    return _b64(item, f"instance {index}")


def tfserving_images(payload: dict[str, Any], rows: bool) -> tuple[Inputs, ImageRequest] | None:
    """Images of a TF Serving request (row or columnar form); None when it sends a pixel tensor."""
    value = payload["instances"] if rows else payload["inputs"]
    top_k = top_k_from(payload.get("parameters"))
    if not rows:
        if isinstance(value, dict) and "b64" not in value and len(value) == 1:
            value = next(iter(value.values()))
        if isinstance(value, dict | str) or (isinstance(value, list) and value and isinstance(value[0], dict | str)):
            images, _ = _many(value, '"inputs"')
            return Inputs(raw=images), ImageRequest(top_k)
        return None
    if not isinstance(value, list) or not value:
        raise InvalidInputError('"instances" must be a non-empty list of {"b64": ...} images')
    if not all(isinstance(item, dict) for item in value):
        return None  # rows of pixels
    return Inputs(raw=[_tf_instance(item, index) for index, item in enumerate(value)]), ImageRequest(top_k)


def _query_top_k(request: Request) -> int | None:
    raw = request.query_params.get("top_k")
    if raw is None:
        return IMAGE_TOP_K
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidInputError(f"top_k must be a positive whole number, got {raw!r}")
    return int(raw)


def torchserve_images(request: Request, media: str, body: bytes) -> tuple[Inputs, ImageRequest]:
    """An image body is one image; JSON is ``{"data" | "image": b64}`` or a list of base64 images."""
    top_k = _query_top_k(request)
    if is_image_media(media) or (media == "" and body[:1] not in (b"{", b"[")):
        if not body:
            raise InvalidInputError("the body is empty; send the image file (Content-Type: image/jpeg or image/png)")
        return Inputs(raw=[body]), ImageRequest(top_k, True)
    if media not in ("application/json",) and not media.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"Content-Type {media!r} is not supported for an image model; send image/jpeg, image/png or image/webp"
        )
    value = loads(body)
    if isinstance(value, dict):
        key = next((name for name in _NAMES if name in value), None)
        value = value[key] if key is not None and key != "b64" else value
    images, single = _many(value, "the body")
    return Inputs(raw=images), ImageRequest(top_k, single)


def hf_images(media: str, body: bytes) -> tuple[Inputs, ImageRequest]:
    """An image body (the toolkit's ``image/*`` content types), or ``{"inputs": b64 | [b64], "parameters"}``."""
    if is_image_media(media):
        if not body:
            raise InvalidInputError("the body is empty; send the image file (Content-Type: image/jpeg or image/png)")
        return Inputs(raw=[body]), ImageRequest(IMAGE_TOP_K, True)
    if media not in ("", "application/json") and not media.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"Content-Type {media!r} is not supported for an image model; send image/jpeg, image/png, image/webp "
            'or application/json {"inputs": "<base64 image>"}'
        )
    payload = loads(body)
    if not isinstance(payload, dict) or "inputs" not in payload:
        raise InvalidInputError(
            'the body must be an image, or {"inputs": "<base64 image>" or [...], "parameters": {...}}'
        )
    images, single = _many(payload["inputs"], '"inputs"')
    return Inputs(raw=images), ImageRequest(top_k_from(payload.get("parameters"), IMAGE_TOP_K), single)


def hf_answer(processor: ImageProcessor, outputs: Outputs, asked: ImageRequest) -> Any:
    """The image-classification pipeline's answer: ``[{"label", "score"}]`` per image (one list for one image)."""
    ranked = predictions(processor, outputs, asked.top_k)
    return ranked[0] if asked.single else ranked


def torchserve_answer(processor: ImageProcessor, outputs: Outputs, asked: ImageRequest) -> Any:
    """TorchServe's image classifier answer: ``{label: score}`` best first, per image."""
    ranked = [{item["label"]: item["score"] for item in row} for row in predictions(processor, outputs, asked.top_k)]
    return ranked[0] if asked.single else ranked


def oip_images(tensors: dict[str, np.ndarray]) -> Inputs | None:
    """An image model's one BYTES input as encoded images (binary: raw bytes; JSON: base64 strings)."""
    names = [name for name, array in tensors.items() if array.dtype == object]
    if not names:
        return None
    if len(tensors) != 1:
        raise InvalidInputError(f"send the images as one BYTES input (got {', '.join(tensors)})")
    name = names[0]
    items = tensors[name].reshape(-1).tolist()
    if not items:
        raise InvalidInputError(f"input {name!r} holds no images; send at least one")
    images = [
        item if isinstance(item, bytes) else _b64(item, f"input {name!r} element {i}") for i, item in enumerate(items)
    ]
    return Inputs(raw=images)
