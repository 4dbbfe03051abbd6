"""fp16 for GPU targets: float32 weights and compute converted to half precision, float32 at the edges.

The conversion is onnxruntime's own float16 helper (``onnxruntime.transformers.float16``, the
maintained copy of onnxconverter-common's converter, shipped inside onnxruntime: no extra
dependency). ``keep_io_types`` leaves the graph's inputs and outputs float32, so clients send and
receive exactly what they did before; Cast nodes at the edges do the rest. Ops that have no fp16
kernel or lose too much in half precision stay float32 (the helper's default block list).
Parity is re-checked afterwards on the CPU provider (this build machine has no GPU), with
``FP16_TOLERANCES``; the GPU's fp16 kernels differ in rounding but not in kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import onnx

from model_packager.converters.base import ConversionError
from model_packager.model_files import StagedModel, stage_model

__all__ = ["PRECISIONS", "Precision", "convert_fp16"]

Precision = Literal["fp32", "fp16"]
PRECISIONS: tuple[Precision, ...] = ("fp32", "fp16")


def convert_fp16(model: StagedModel, directory: Path) -> StagedModel:
    """Convert the model at ``model.path`` to fp16 (float32 inputs/outputs kept); write it under ``directory``."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    proto = onnx.load(str(model.path))  # pulls model.onnx.data inline (the converter works on tensors)
    try:
        half = convert_float_to_float16(
            proto,
            keep_io_types=True,
            # shape inference serializes the model: impossible past 2 GB, where value types come from the graph alone
            disable_shape_infer=model.data is not None,
        )
    except Exception as exc:
        raise ConversionError(f"the model could not be converted to fp16: {type(exc).__name__}: {exc}") from None
    del proto
    return stage_model(half, directory)
