"""Portable offline optimizations, each re-checked for parity against the ORIGINAL model.

* Graph optimization with onnxruntime's ``basic`` or ``extended`` level only:
  both are portable; ``all`` (layout optimizations) ties the graph to the build
  machine's CPU and is refused.
* Dynamic INT8 quantization, applied BEFORE graph optimization (``onnxruntime.quantization.quantize_dynamic``):
  weights of MatMul/Gemm-like layers stored as int8. It pays on larger layers
  only; its parity uses explicit, looser tolerances that the manifest records.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Literal

import numpy as np

from bundle import Optimization, ParityReport
from model_packager.converters.base import ConversionError
from model_packager.parity import Tolerances, check_parity

__all__ = ["GraphLevel", "Quantization", "apply_optimizations", "optimize_graph", "quantize_int8"]

GraphLevel = Literal["none", "basic", "extended"]
Quantization = Literal["none", "int8"]


def optimize_graph(model_bytes: bytes, level: GraphLevel) -> bytes:
    """Run onnxruntime's offline graph optimizer at ``level`` and return the saved graph."""
    import onnxruntime as ort

    levels = {
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    }
    if level not in levels:
        raise ValueError(f"graph optimization level must be one of {sorted(levels)}, not {level!r}")
    with tempfile.TemporaryDirectory(prefix="maaskit-opt-") as tmp:
        target = Path(tmp) / "optimized.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = levels[level]
        options.optimized_model_filepath = str(target)
        options.log_severity_level = 3
        try:
            ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ConversionError(f"onnxruntime could not optimize the model at level {level}: {exc}") from None
        return target.read_bytes()


def quantize_int8(model_bytes: bytes) -> bytes:
    """Dynamic INT8 quantization of the weights (activations quantized at run time).

    Per-channel scales and 7-bit weight range (``reduce_range``): full-range int8
    saturates on x86 CPUs without VNNI, and a bundle must answer the same on any CPU.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic logs pre-processing advice as a warning
    try:
        with tempfile.TemporaryDirectory(prefix="maaskit-q8-") as tmp:
            source, target = Path(tmp) / "model.onnx", Path(tmp) / "model.int8.onnx"
            source.write_bytes(model_bytes)
            quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=True, reduce_range=True)
            return target.read_bytes()
    except Exception as exc:
        raise ConversionError(
            f"onnxruntime could not quantize the model to int8: {type(exc).__name__}: {exc}"
        ) from None
    finally:
        root.setLevel(level)


def apply_optimizations(
    model_bytes: bytes,
    feed: dict[str, np.ndarray],
    expected: dict[str, np.ndarray],
    *,
    graph_level: GraphLevel,
    quantization: Quantization,
    tolerances: Tolerances,
    int8_tolerances: Tolerances,
    label_output: str | None,
) -> tuple[bytes, Optimization | None]:
    """Optimize, then quantize; check parity after each step against the original's outputs."""
    if graph_level == "none" and quantization == "none":
        return model_bytes, None
    current = model_bytes
    report: ParityReport | None = None
    gate = tolerances
    if quantization == "int8":  # first: the quantizer knows plain MatMul/Gemm, not the fused ops optimizers make
        current = quantize_int8(current)
        gate = int8_tolerances
        report = check_parity(
            current, feed=feed, expected=expected, tolerances=gate, label_output=label_output, stage="int8 quantization"
        )
    if graph_level != "none":
        current = optimize_graph(current, graph_level)
        report = check_parity(
            current,
            feed=feed,
            expected=expected,
            tolerances=gate,
            label_output=label_output,
            stage=f"{graph_level} graph optimization",
        )
    assert report is not None
    return current, Optimization(
        graph_level=graph_level,
        quantization=quantization,
        size_before=len(model_bytes),
        size_after=len(current),
        parity=report,
    )
