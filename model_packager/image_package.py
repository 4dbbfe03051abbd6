"""The image part of ``package()``: the parity gate from image files, optimizations, samples, manifest fields.

Two checks, in order:

1. Preprocessing agreement: for every sample image, the bundle's pixels (``bundle.processing.image``, as
   the runtime runs it) must match the original processor's within :data:`PIXEL_ATOL`; the first
   differing image fails packaging with its name, the worst pixel and both values.
2. Outputs: model.onnx on the bundle's pixels against the original model on the processor's pixels, by
   the bundle's one rule (:func:`bundle.parity.reproduces`), the same rule warm-up and ``verify`` apply
   to the stored sample images.

samples.npz keeps the encoded image files (``bundle.processing.image.pack_images``: uint8 rows and
lengths, no pickle) and the original model's outputs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bundle import FileEntry
from bundle.parity import Tolerances, reproduces
from bundle.processing.image import pack_images
from model_packager.converters.base import PackagingError
from model_packager.converters.image import ImageConversion
from model_packager.optimize_bytes import apply_optimizations_in_memory
from model_packager.parity import ParityError, run_onnx
from model_packager.text_package import GateResult

__all__ = ["PIXEL_ATOL", "PreprocessingMismatchError", "check_preprocessing", "gate_image", "image_files"]

#: Largest pixel difference (after normalisation) between the bundle's preprocessing and the original's.
PIXEL_ATOL = 1e-4


class PreprocessingMismatchError(PackagingError):
    """The bundle's image preprocessing gives an image other pixels than the model's own processor."""


def check_preprocessing(names: list[str], ours: np.ndarray, reference: np.ndarray) -> float:
    """The largest pixel difference; PreprocessingMismatchError at the first image beyond :data:`PIXEL_ATOL`."""
    if ours.shape != reference.shape:
        raise PreprocessingMismatchError(
            f"the bundle's preprocessing makes pixel tensors of shape {list(ours.shape)}, the model's processor "
            f"{list(reference.shape)}: check the size / crop settings"
        )
    worst = 0.0
    for index, name in enumerate(names):
        diff = np.abs(ours[index].astype(np.float64) - reference[index].astype(np.float64))
        largest = float(diff.max()) if diff.size else 0.0
        worst = max(worst, largest)
        if not largest <= PIXEL_ATOL:
            channel, row, column = (int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape))
            raise PreprocessingMismatchError(
                f"the bundle's image preprocessing disagrees with the model's processor on image {index} ({name}): "
                f"max abs pixel difference {largest:.6g} > {PIXEL_ATOL} at channel {channel}, row {row}, column "
                f"{column}: bundle {float(ours[index][channel, row, column]):.6g} vs processor "
                f"{float(reference[index][channel, row, column]):.6g}. The preprocessor settings are not "
                "reproduced; give them explicitly (ImagePreprocessing) or report the processor"
            )
    return worst


def image_files(conversion: ImageConversion) -> dict[str, FileEntry]:
    """The manifest's ``files`` before writing: model.onnx to be filled, the processor config with its sha256."""
    files = {"model.onnx": FileEntry(sha256="0" * 64, size=0)}
    for name, (sha256, size) in conversion.file_checksums().items():
        files[name] = FileEntry(sha256=sha256, size=size)
    return files


def gate_image(
    conversion: ImageConversion,
    model_bytes: bytes,
    *,
    graph_level: str,
    quantization: str,
    gates: tuple[Tolerances, Tolerances],
    notes: list[str],
    step: Callable[[str], None],
) -> GateResult:
    """Preprocessing agreement, output parity of the export, then the asked optimizations, each re-checked."""
    assert conversion.reference_pixels is not None and conversion.image_spec is not None
    step("checking preprocessing and parity from image files")
    ours = conversion.inputs[conversion.image_spec.input_name]
    worst = check_preprocessing(conversion.image_names, ours, conversion.reference_pixels)
    notes.append(f"preprocessing agrees with the model's processor on {len(ours)} images (max pixel diff {worst:.2g})")
    actual = run_onnx(model_bytes, conversion.inputs)
    parity, failures = reproduces(actual, conversion.expected, gates[0])
    if failures:
        raise ParityError("parity failed: " + "; ".join(failures), parity, "conversion")
    final, optimization = apply_optimizations_in_memory(
        model_bytes,
        conversion.inputs,
        conversion.expected,
        graph_level=graph_level,  # type: ignore[arg-type]  # validated by package()
        quantization=quantization,  # type: ignore[arg-type]
        tolerances=gates[0],
        int8_tolerances=gates[1],
        label_output=None,
    )
    return GateResult(
        parity,
        final,
        optimization,
        pack_images(conversion.images),
        conversion.expected,
        {"image": conversion.image_spec},
    )
