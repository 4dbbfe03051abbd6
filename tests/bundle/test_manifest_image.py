"""The manifest's optional ``image`` spec: only image tasks carry it, and it must fit the graph."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bundle import BundleFormatError, dump_manifest, load_manifest
from tests.bundle.conftest import make_manifest

SPEC = {
    "input_name": "x",
    "resize_to": [32, 32],
    "rescale_factor": 1 / 255,
    "image_mean": [0.5] * 3,
    "image_std": [0.5] * 3,
}


def _raw(**changes: Any) -> bytes:
    data = orjson.loads(dump_manifest(make_manifest()))
    data.update(changes)
    return orjson.dumps(data)


def test_image_bundle_fields_round_trip() -> None:
    manifest = load_manifest(_raw(task="image-classification", image=SPEC))
    assert manifest.image is not None and manifest.image.output_size == (32, 32)
    assert manifest.image.max_pixels == 40_000_000 and manifest.image.resample == "bilinear"
    assert load_manifest(dump_manifest(manifest)) == manifest


def test_tensor_bundles_are_unchanged() -> None:
    manifest = make_manifest()
    assert manifest.image is None and "image" in orjson.loads(dump_manifest(manifest))  # null, optional


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"task": "image-classification"}, "needs an image spec"),
        ({"image": SPEC}, "takes no image spec"),
        ({"task": "image-classification", "image": {**SPEC, "input_name": "pixels"}}, "not an input of the model"),
        ({"task": "image-classification", "image": {**SPEC, "max_pixels": 10**9}}, "max_pixels"),
        ({"task": "image-classification", "image": {**SPEC, "resample": "cubic"}}, "resample"),
        ({"task": "image-classification", "image": {**SPEC, "image_std": [0.5, 0.0, 0.5]}}, "image_std"),
    ],
)
def test_image_fields_must_fit_the_task_and_graph(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(BundleFormatError, match=message):
        load_manifest(_raw(**changes))
