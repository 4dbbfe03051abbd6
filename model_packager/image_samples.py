"""Sample images for image models: ``--sample DIR|FILE``, a list of paths or encoded bytes, or a built-in set.

The built-in set is generated with Pillow (nothing is downloaded): gradients and shapes in several
sizes and aspect ratios (landscape, portrait, smaller than the crop), in JPEG, PNG and WebP, with an
RGBA, a grayscale and a palette PNG and a JPEG carrying an EXIF orientation, so the parity gate always
exercises decoding, orientation, RGB conversion, resizing and cropping.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model_packager.converters.base import SampleMismatchError

__all__ = ["IMAGE_SUFFIXES", "MAX_SAMPLE_IMAGES", "SampleImage", "builtin_images", "images_from", "is_image_sample"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
#: Parity runs every sample image in one batch: keep it modest.
MAX_SAMPLE_IMAGES = 64
_MAX_SAMPLE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class SampleImage:
    """One sample image: a name for messages (the file name) and its encoded bytes."""

    name: str
    data: bytes


def is_image_sample(sample: object) -> bool:
    """Whether ``sample`` names an image file or a directory (of images)."""
    if not isinstance(sample, str | Path):
        return False
    path = Path(sample)
    return path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES


def _picture(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack(
        [x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) * 127 // (width + height)], -1
    )
    cx, cy, radius = rng.integers(0, width), rng.integers(0, height), rng.integers(4, max(5, min(width, height) // 2))
    disc = (x - cx) ** 2 + (y - cy) ** 2 < radius**2
    base[disc] = rng.integers(0, 256, 3)
    noise = rng.integers(-12, 13, base.shape)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def builtin_images() -> list[SampleImage]:
    """The generated sample set (deterministic)."""
    from PIL import Image

    def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, fmt, **options)
        return buffer.getvalue()

    images = [
        SampleImage("landscape.jpg", encoded(Image.fromarray(_picture(320, 240, 1)), "JPEG", quality=90)),
        SampleImage("portrait.png", encoded(Image.fromarray(_picture(180, 300, 2)), "PNG")),
        SampleImage("square.webp", encoded(Image.fromarray(_picture(256, 256, 3)), "WEBP", quality=90)),
        SampleImage("small.png", encoded(Image.fromarray(_picture(40, 28, 4)), "PNG")),
        SampleImage("rgba.png", encoded(Image.fromarray(_picture(200, 150, 5)).convert("RGBA"), "PNG")),
        SampleImage("gray.jpg", encoded(Image.fromarray(_picture(240, 200, 6)).convert("L"), "JPEG")),
        SampleImage("palette.png", encoded(Image.fromarray(_picture(160, 120, 7)).convert("P"), "PNG")),
    ]
    rotated = Image.fromarray(_picture(300, 200, 8))
    exif = rotated.getexif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    images.append(SampleImage("exif-rotated.jpg", encoded(rotated, "JPEG", exif=exif.tobytes())))
    return images


def _read(path: Path) -> SampleImage:
    if not path.is_file():
        raise SampleMismatchError(f"sample image {path} does not exist")
    size = path.stat().st_size
    if size > _MAX_SAMPLE_BYTES:
        raise SampleMismatchError(f"sample image {path.name} is {size} bytes; sample images must be under 8 MB")
    return SampleImage(path.name, path.read_bytes())


def _from_paths(paths: Sequence[Path]) -> list[SampleImage]:
    images: list[SampleImage] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise SampleMismatchError(f"sample folder {path} holds no {'/'.join(IMAGE_SUFFIXES)} images")
            images += [_read(p) for p in found]
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            images.append(_read(path))
        else:
            raise SampleMismatchError(
                f"sample {path.name}: image models take image files ({', '.join(IMAGE_SUFFIXES)}) or a folder of them"
            )
    return images


def images_from(sample: object) -> tuple[list[SampleImage], str | None]:
    """The sample images and a note saying where they came from."""
    if sample is None:
        images = builtin_images()
        return images, f"no --sample given: the built-in set of {len(images)} generated JPEG/PNG/WebP images"
    if isinstance(sample, str | Path):
        images, note = _from_paths([Path(sample)]), f"sample images from {Path(sample).name}"
    elif isinstance(sample, Sequence) and sample and all(isinstance(item, bytes) for item in sample):
        images, note = [SampleImage(f"image {i}", bytes(item)) for i, item in enumerate(sample)], None
    elif isinstance(sample, Sequence) and sample and all(isinstance(item, str | Path) for item in sample):
        images, note = _from_paths([Path(item) for item in sample]), f"{len(sample)} sample image path(s)"
    else:
        raise SampleMismatchError(
            "an image model's sample is an image file, a folder of images, a list of paths, or a list of encoded bytes"
        )
    if not images:
        raise SampleMismatchError("give at least one sample image")
    if len(images) > MAX_SAMPLE_IMAGES:
        raise SampleMismatchError(f"give at most {MAX_SAMPLE_IMAGES} sample images (got {len(images)})")
    return images, note
