"""What a local Hugging Face image-classification folder holds, and its preprocessing as an ImageSpec.

Reads only the JSON files ``save_pretrained`` writes (``config.json``, ``preprocessor_config.json``);
no framework is imported here and nothing is ever downloaded. :func:`spec_from_processor` turns an
image processor's settings (ViTImageProcessor / ConvNextImageProcessor-style keys) into the bundle's
``ImageSpec``; the parity gate then checks that ``bundle.processing.image`` reproduces the processor's
own pixels on every sample image, so a setting read wrongly fails packaging instead of serving.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bundle import ImageSpec
from bundle.manifest import Resample
from model_packager.converters.base import ModelLoadError, UnsupportedModelError

__all__ = [
    "PREPROCESSOR_FILE",
    "ImageFolder",
    "ImagePreprocessing",
    "is_image_folder",
    "read_image_folder",
    "spec_from_processor",
]

PREPROCESSOR_FILE = "preprocessor_config.json"
#: Pillow's resampling filter numbers (as preprocessor configs store them) and the ImageSpec names.
_RESAMPLE: dict[int, Resample] = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
_UNSUPPORTED_STEPS = ("do_pad", "do_reduce_labels", "do_flip_channel_order", "do_color_quantize")


@dataclass(frozen=True)
class ImageFolder:
    """A local transformers image-classification folder, read but not loaded."""

    path: Path
    config: dict[str, Any]
    preprocessor: dict[str, Any]

    @property
    def architectures(self) -> list[str]:
        """``config.json`` architectures, e.g. ``["ViTForImageClassification"]``."""
        return [str(name) for name in self.config.get("architectures") or []]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path.name} in {path.parent} is not readable JSON: {exc}") from None


def _is_image_processor(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    kind = (
        str(data.get("image_processor_type") or data.get("feature_extractor_type") or "")
        if isinstance(data, dict)
        else ""
    )
    return "ImageProcessor" in kind or (kind.endswith("FeatureExtractor") and "image_mean" in data)


def is_image_folder(path: Path) -> bool:
    """A directory with a transformers ``config.json`` and an image processor's ``preprocessor_config.json``."""
    return path.is_dir() and (path / "config.json").is_file() and _is_image_processor(path / PREPROCESSOR_FILE)


def read_image_folder(path: Path) -> ImageFolder:
    """Read ``config.json`` and ``preprocessor_config.json`` (ModelLoadError when unreadable)."""
    config = _read_json(path / "config.json")
    if not isinstance(config, dict) or "model_type" not in config:
        raise ModelLoadError(f"{path}/config.json has no model_type: it is not a transformers config")
    if not (path / PREPROCESSOR_FILE).is_file():
        raise ModelLoadError(
            f"{path} has no {PREPROCESSOR_FILE}; save the image processor beside the model "
            "(processor.save_pretrained(DIR))"
        )
    preprocessor = _read_json(path / PREPROCESSOR_FILE)
    if not isinstance(preprocessor, dict):
        raise ModelLoadError(f"{path}/{PREPROCESSOR_FILE} must hold a JSON object")
    return ImageFolder(path, config, preprocessor)


def _hw(value: Any, key: str, source: str) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return [value, value]
    if isinstance(value, Mapping) and set(value) >= {"height", "width"}:
        return [int(value["height"]), int(value["width"])]
    raise UnsupportedModelError(f"{source}: {key} {value!r} must be a number or {{height, width}}")


def _resample(value: Any, source: str) -> Resample:
    if isinstance(value, str) and value.lower() in _RESAMPLE.values():
        return value.lower()  # type: ignore[return-value]
    if isinstance(value, int) and value in _RESAMPLE:
        return _RESAMPLE[value]
    raise UnsupportedModelError(f"{source}: resample {value!r} is not a Pillow filter (0-5)")


def _resize(config: Mapping[str, Any], source: str) -> dict[str, Any]:
    if not config.get("do_resize", True):
        return {}
    size = config.get("size")
    if size is None:
        raise UnsupportedModelError(f"{source}: do_resize is set but size is missing")
    kind = str(config.get("image_processor_type", ""))
    if isinstance(size, Mapping) and "shortest_edge" in size:
        if size.get("longest_edge"):
            raise UnsupportedModelError(f"{source}: size with both shortest_edge and longest_edge is not supported")
        edge = int(size["shortest_edge"])
        if "ConvNext" in kind and "crop_pct" in config:  # ConvNextImageProcessor's own resize
            if edge >= 384:
                return {"resize_to": [edge, edge]}
            return {"resize_shortest_edge": int(edge / float(config["crop_pct"])), "crop_size": [edge, edge]}
        return {"resize_shortest_edge": edge}
    return {"resize_to": _hw(size, "size", source)}


def spec_from_processor(config: Mapping[str, Any], source: str, input_name: str = "pixel_values") -> ImageSpec:
    """The ImageSpec of a Hugging Face image processor's settings (its ``to_dict()`` or preprocessor_config.json).

    UnsupportedModelError for steps ``bundle.processing.image`` does not run (padding, label reduction, ...).
    """
    steps = [key for key in _UNSUPPORTED_STEPS if config.get(key)]
    if steps:
        raise UnsupportedModelError(f"{source}: preprocessing step(s) {steps} are not supported for serving")
    fields: dict[str, Any] = _resize(config, source)
    if config.get("do_center_crop") and "crop_size" not in fields:
        fields["crop_size"] = _hw(config.get("crop_size"), "crop_size", source)
    if config.get("do_rescale", True):
        fields["rescale_factor"] = float(config.get("rescale_factor", 1 / 255))
    if config.get("do_normalize", True) and config.get("image_mean") is not None:
        mean, std = config["image_mean"], config.get("image_std")
        mean = [float(mean)] * 3 if isinstance(mean, int | float) else [float(v) for v in mean]
        std = [float(std)] * 3 if isinstance(std, int | float) else [float(v) for v in std or []]
        fields.update(image_mean=mean, image_std=std)
    kind = str(config.get("image_processor_type") or config.get("feature_extractor_type") or "custom")
    fields["processor"] = kind.removesuffix("Pil").removesuffix("Fast")
    fields["resample"] = _resample(config.get("resample", 2), source)
    try:
        return ImageSpec(input_name=input_name, **fields)
    except ValueError as exc:
        raise UnsupportedModelError(f"{source}: the preprocessing cannot be served: {exc}") from None


@dataclass(frozen=True)
class ImagePreprocessing:
    """Preprocessing of a torchvision/timm-style module, given in Python (torchvision transforms' terms).

    ``resize``: the shortest edge (an int, as ``transforms.Resize(256)``) or exact (height, width);
    ``crop``: the centre crop (an int or (height, width)); ``mean``/``std`` per RGB channel (after
    ``rescale``, 1/255 as ``ToTensor``); ``resample``: the Pillow filter name.
    """

    resize: int | Sequence[int] | None = 256
    crop: int | Sequence[int] | None = 224
    mean: Sequence[float] | None = (0.485, 0.456, 0.406)
    std: Sequence[float] | None = (0.229, 0.224, 0.225)
    rescale: float | None = 1 / 255
    resample: Resample = "bilinear"
    max_pixels: int | None = None

    def spec(self, input_name: str = "pixel_values") -> ImageSpec:
        """The bundle's ImageSpec (UnsupportedModelError naming the bad setting)."""
        fields: dict[str, Any] = {"input_name": input_name, "processor": "custom", "resample": self.resample}
        if isinstance(self.resize, int):
            fields["resize_shortest_edge"] = self.resize
        elif self.resize is not None:
            fields["resize_to"] = [int(v) for v in self.resize]
        if self.crop is not None:
            fields["crop_size"] = [self.crop, self.crop] if isinstance(self.crop, int) else [int(v) for v in self.crop]
        if self.rescale is not None:
            fields["rescale_factor"] = self.rescale
        if self.mean is not None:
            fields["image_mean"] = [float(v) for v in self.mean]
        if self.std is not None:
            fields["image_std"] = [float(v) for v in self.std]
        if self.max_pixels is not None:
            fields["max_pixels"] = self.max_pixels
        try:
            return ImageSpec(**fields)
        except ValueError as exc:
            raise UnsupportedModelError(f"ImagePreprocessing: {exc}") from None

    def processor_config(self) -> dict[str, Any]:
        """The same settings as a Hugging Face image processor config (the parity gate's reference processor)."""
        spec = self.spec()
        config: dict[str, Any] = {"do_resize": spec.resize_shortest_edge is not None or spec.resize_to is not None}
        if spec.resize_shortest_edge is not None:
            config["size"] = {"shortest_edge": spec.resize_shortest_edge}
        elif spec.resize_to is not None:
            config["size"] = {"height": spec.resize_to[0], "width": spec.resize_to[1]}
        config["resample"] = next(number for number, name in _RESAMPLE.items() if name == spec.resample)
        config["do_center_crop"] = spec.crop_size is not None
        if spec.crop_size is not None:
            config["crop_size"] = {"height": spec.crop_size[0], "width": spec.crop_size[1]}
        config["do_rescale"] = spec.rescale_factor is not None
        config["rescale_factor"] = spec.rescale_factor or 1.0
        config["do_normalize"] = spec.image_mean is not None
        config["image_mean"], config["image_std"] = spec.image_mean, spec.image_std
        return config
