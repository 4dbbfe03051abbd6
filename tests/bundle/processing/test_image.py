"""bundle.processing.image: decoding limits, orientation, and pixels identical to the HF image processors."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest

from bundle import ImageSpec
from bundle.processing.image import (
    ImageDecodeError,
    ImagePreprocessor,
    ImageTooLargeError,
    decode_image,
    pack_images,
    unpack_images,
)
from tests.imagemodels import bomb_png, encode, jpeg, picture, png

PIL = pytest.importorskip("PIL")

VIT = ImageSpec(resize_to=[32, 32], rescale_factor=1 / 255, image_mean=[0.5] * 3, image_std=[0.5] * 3)


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    bomb = bomb_png(12_000, 12_000)  # 144 MP declared in a few hundred bytes (under Pillow's own error limit)
    started = time.perf_counter()
    with pytest.raises(
        ImageTooLargeError, match=r"12000 x 12000 = 144000000 pixels, over this model's limit of 1000000"
    ):
        decode_image(bomb, max_pixels=1_000_000)
    assert time.perf_counter() - started < 0.5  # no pixel data was decoded
    with pytest.raises(ImageTooLargeError, match="max_pixels"):
        decode_image(bomb_png(), max_pixels=1_000_000)  # past Pillow's own limit: the same error


@pytest.mark.parametrize("data", [b"", b"GIF89a not really", jpeg()[:200], b"\x89PNG\r\n\x1a\n garbage"])
def test_undecodable_bytes_name_the_problem(data: bytes) -> None:
    with pytest.raises(ImageDecodeError, match="JPEG, PNG or WebP"):
        decode_image(data, max_pixels=10_000_000)


def test_other_formats_are_not_tried() -> None:
    with pytest.raises(ImageDecodeError):
        decode_image(encode(picture(8, 8), "BMP"), max_pixels=10_000)


def test_exif_orientation_and_rgb_conversion() -> None:
    from PIL import Image

    upright = Image.fromarray(picture(30, 20))
    exif = upright.getexif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise
    buffer = io.BytesIO()
    upright.save(buffer, "JPEG", exif=exif.tobytes())
    assert decode_image(buffer.getvalue(), 10_000).size == (20, 30)
    assert decode_image(encode(picture(9, 7), "PNG"), 10_000).mode == "RGB"
    rgba = encode(np.dstack([picture(9, 7), np.full((7, 9), 128, np.uint8)]), "PNG")
    assert decode_image(rgba, 10_000).mode == "RGB"


def test_pixels_match_the_hf_image_processors() -> None:
    transformers = pytest.importorskip("transformers")
    from transformers.image_utils import load_image

    images = [jpeg(50, 40), png(31, 64), encode(picture(64, 64), "WEBP"), png(20, 10)]
    convnext = ImageSpec(
        resize_shortest_edge=36,
        crop_size=[32, 32],
        resample="bicubic",
        rescale_factor=1 / 255,
        image_mean=[0.5] * 3,
        image_std=[0.5] * 3,
    )
    processors = [
        (transformers.ViTImageProcessor(size={"height": 32, "width": 32}), VIT),
        (transformers.ConvNextImageProcessor(size={"shortest_edge": 32}, crop_pct=0.875), convnext),
    ]
    for processor, spec in processors:
        pictures = [load_image(PIL.Image.open(io.BytesIO(data))) for data in images]
        want = processor(pictures, return_tensors="np")["pixel_values"]
        got = ImagePreprocessor(spec).pixels(images)
        assert got.dtype == np.float32 and got.shape == (4, 3, 32, 32)
        np.testing.assert_array_equal(got, want)


def test_smaller_than_the_crop_is_zero_padded_like_hf() -> None:
    spec = ImageSpec(crop_size=[16, 16])
    pixels = ImagePreprocessor(spec).pixels([png(8, 20)])[0]
    assert pixels.shape == (3, 16, 16)
    assert (pixels[:, :, :4] == 0).all() and (pixels[:, :, 12:] == 0).all()


def test_samples_round_trip_without_pickle() -> None:
    images = [jpeg(), png(), b"x"]
    packed = pack_images(images)
    assert packed["image_bytes"].dtype == np.uint8 and packed["image_bytes"].shape[0] == 3
    assert unpack_images(packed) == images


def test_spec_needs_a_fixed_output_size() -> None:
    with pytest.raises(ValueError, match="fixed size"):
        ImageSpec(resize_shortest_edge=224)
