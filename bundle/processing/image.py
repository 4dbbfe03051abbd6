"""Encoded images -> the model's pixel tensor, as the manifest's ``image`` ImageSpec says (Pillow + numpy).

The packager's parity gate and every runtime path run this module, so a bundle is checked with exactly
the preprocessing it serves with. The steps reproduce the Hugging Face image processors' PIL backend
(``ViTImageProcessor``, ``ConvNextImageProcessor``, ...):

* decode JPEG, PNG or WebP (where Pillow has it; nothing else is tried). The pixel count is read from
  the header and refused above ``max_pixels`` BEFORE the pixel data is decoded: a decompression bomb
  (a small PNG declaring 100000 x 100000 pixels) costs a header read, not gigabytes;
* EXIF orientation applied (``ImageOps.exif_transpose``), then ``convert("RGB")`` (as
  ``transformers.image_utils.load_image``);
* resize on the uint8 image with Pillow's filter (the shortest edge to N keeping the aspect ratio,
  ``int(N * long / short)`` for the other edge, or exactly [height, width]);
* centre crop (``top = (height - crop) // 2``; zero padding when the image is smaller, as HF does);
* rescale in float64 then float32, normalise ``(x - mean) / std`` in float32, channels first.

Pillow is imported when the first image is decoded, so tensor and text runtimes never need it.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from bundle.errors import BundleError, InputError
from bundle.manifest import ImageSpec

__all__ = [
    "FORMATS",
    "ImageDecodeError",
    "ImagePreprocessor",
    "ImageTooLargeError",
    "MAX_IMAGES",
    "decode_image",
    "pack_images",
    "preprocess_image",
    "sample_feed",
    "unpack_images",
]

#: The Pillow formats an image bundle decodes (WebP only where Pillow was built with it).
FORMATS = ("JPEG", "PNG", "WEBP")
#: Most images in one request (each becomes a 3 x H x W float32 tensor).
MAX_IMAGES = 256
#: Sample keys in samples.npz: encoded images as uint8 rows padded with zeros, and each row's length.
SAMPLE_BYTES, SAMPLE_LENGTHS = "image_bytes", "image_length"


class ImageDecodeError(InputError):
    """The bytes are not a JPEG, PNG or WebP image Pillow can decode."""


class ImageTooLargeError(InputError):
    """The image has more pixels than the bundle's ``max_pixels`` (decompression-bomb guard)."""


def _pillow() -> Any:
    try:
        from PIL import Image, ImageOps
    except ImportError:
        raise BundleError("this bundle takes images and needs Pillow: pip install pillow") from None
    return Image, ImageOps


def decode_image(data: bytes, max_pixels: int, where: str = "the image") -> Any:
    """``data`` decoded to an RGB Pillow image with its EXIF orientation applied.

    ImageTooLargeError (header says more than ``max_pixels``) before any pixel data is decoded;
    ImageDecodeError for anything that is not a whole JPEG, PNG or WebP image.
    """
    image_module, image_ops = _pillow()
    if not data:
        raise ImageDecodeError(f"{where} is empty; send the bytes of a JPEG, PNG or WebP file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", image_module.DecompressionBombWarning)
            image = image_module.open(io.BytesIO(data), formats=FORMATS)  # reads the header only
        width, height = image.size
        if width * height > max_pixels:
            raise ImageTooLargeError(
                f"{where} is {width} x {height} = {width * height} pixels, over this model's limit of "
                f"{max_pixels} pixels (max_pixels); send a smaller image"
            )
        image.load()
        image = image_ops.exif_transpose(image)
        return image.convert("RGB")
    except InputError:
        raise
    except image_module.DecompressionBombError as exc:
        raise ImageTooLargeError(
            f"{where} is over this model's limit of {max_pixels} pixels (max_pixels), refused from its header as a "
            f"possible decompression bomb ({exc}); send a smaller image"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError, TypeError) as exc:
        detail = str(exc).split("\n", 1)[0][:200] or type(exc).__name__
        raise ImageDecodeError(f"{where} cannot be decoded as JPEG, PNG or WebP ({detail})") from None


def _resample(spec: ImageSpec) -> Any:
    image_module, _ = _pillow()
    return getattr(image_module.Resampling, spec.resample.upper())


def _resized_size(spec: ImageSpec, height: int, width: int) -> tuple[int, int] | None:
    """(height, width) after the resize step, or None when the spec does not resize."""
    if spec.resize_to is not None:
        return int(spec.resize_to[0]), int(spec.resize_to[1])
    if spec.resize_shortest_edge is None:
        return None
    size = spec.resize_shortest_edge
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(size * long / short)
    return (new_long, size) if width <= height else (size, new_long)


def _center_crop(pixels: np.ndarray, crop_height: int, crop_width: int) -> np.ndarray:
    """[H, W, C] uint8 cropped around its centre; zero-padded (centred) where it is smaller than the crop."""
    height, width = pixels.shape[:2]
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    if top >= 0 and left >= 0:
        return pixels[top : top + crop_height, left : left + crop_width]
    new_height, new_width = max(crop_height, height), max(crop_width, width)
    padded = np.zeros((new_height, new_width, pixels.shape[2]), dtype=pixels.dtype)
    top_pad, left_pad = math.ceil((new_height - height) / 2), math.ceil((new_width - width) / 2)
    padded[top_pad : top_pad + height, left_pad : left_pad + width] = pixels
    top, left = top + top_pad, left + left_pad
    return padded[max(0, top) : min(new_height, top + crop_height), max(0, left) : min(new_width, left + crop_width)]


def preprocess_image(image: Any, spec: ImageSpec) -> np.ndarray:
    """One RGB Pillow image -> float32 [3, height, width] as ``spec`` says (see the module docstring)."""
    size = _resized_size(spec, image.height, image.width)
    if size is not None:
        image = image.resize((size[1], size[0]), resample=_resample(spec))
    pixels = np.asarray(image)
    if spec.crop_size is not None:
        pixels = _center_crop(pixels, int(spec.crop_size[0]), int(spec.crop_size[1]))
    values = pixels.astype(np.float64) * spec.rescale_factor if spec.rescale_factor is not None else pixels
    values = np.asarray(values, dtype=np.float32)
    if spec.image_mean is not None and spec.image_std is not None:
        values = (values - np.asarray(spec.image_mean, dtype=np.float32)) / np.asarray(spec.image_std, dtype=np.float32)
    return np.ascontiguousarray(values.transpose(2, 0, 1), dtype=np.float32)


class ImagePreprocessor:
    """Encoded images -> ``{input_name: float32 [batch, 3, H, W]}`` exactly as the bundle was checked with."""

    def __init__(self, spec: ImageSpec) -> None:
        self.spec = spec
        _pillow()  # fail at load, not at the first request, when Pillow is missing

    def pixels(self, images: Sequence[bytes]) -> np.ndarray:
        """The stacked pixel tensor of ``images``; InputError naming the image and the problem."""
        if not images:
            raise InputError("no images given; send at least one")
        if len(images) > MAX_IMAGES:
            raise InputError(f"{len(images)} images, over the limit of {MAX_IMAGES} per request; split it")
        rows = []
        for index, data in enumerate(images):
            where = "the image" if len(images) == 1 else f"image {index}"
            rows.append(preprocess_image(decode_image(data, self.spec.max_pixels, where), self.spec))
        return np.stack(rows)

    def feed(self, images: Sequence[bytes]) -> dict[str, np.ndarray]:
        """The onnxruntime feed for ``images``."""
        return {self.spec.input_name: self.pixels(images)}


def pack_images(images: Sequence[bytes]) -> dict[str, np.ndarray]:
    """Encoded images as samples.npz arrays (no pickle): uint8 rows zero-padded to the longest, and lengths."""
    longest = max((len(item) for item in images), default=0)
    rows = np.zeros((len(images), longest), dtype=np.uint8)
    for index, item in enumerate(images):
        rows[index, : len(item)] = np.frombuffer(item, dtype=np.uint8)
    return {SAMPLE_BYTES: rows, SAMPLE_LENGTHS: np.asarray([len(item) for item in images], dtype=np.int64)}


def unpack_images(inputs: dict[str, np.ndarray]) -> list[bytes]:
    """The encoded images stored by :func:`pack_images`."""
    if SAMPLE_BYTES not in inputs or SAMPLE_LENGTHS not in inputs:
        raise BundleError(f"the samples of an image bundle need {SAMPLE_BYTES} and {SAMPLE_LENGTHS} arrays")
    rows, lengths = np.asarray(inputs[SAMPLE_BYTES]), np.asarray(inputs[SAMPLE_LENGTHS])
    if rows.ndim != 2 or lengths.shape != (rows.shape[0],) or (lengths > rows.shape[1]).any() or (lengths < 0).any():
        raise BundleError(f"the samples' {SAMPLE_BYTES} and {SAMPLE_LENGTHS} arrays do not fit together")
    return [rows[index, : int(length)].tobytes() for index, length in enumerate(lengths)]


def sample_feed(spec: ImageSpec, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The feed of a bundle's stored sample images (warm-up, ``verify``, the deploy-time checks)."""
    return ImagePreprocessor(spec).feed(unpack_images(inputs))
