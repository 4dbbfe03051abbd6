"""Portable offline optimizations, each re-checked for parity against the ORIGINAL model.

* Graph optimization with onnxruntime's ``basic`` or ``extended`` level only:
  both are portable; ``all`` (layout optimizations) ties the graph to the build
  machine's CPU and is refused.
* fp16 for GPU targets (``model_packager.precision``), also before graph optimization, with its
  own looser tolerances; parity is checked on the CPU provider here (said in the stage name).
* Dynamic INT8 quantization, applied BEFORE graph optimization (``onnxruntime.quantization.quantize_dynamic``):
  weights of MatMul/Gemm-like layers stored as int8. It pays on larger layers
  only; its parity uses explicit, looser tolerances that the manifest records.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from bundle import MODEL_DATA_FILE, MODEL_FILE, Optimization, ParityReport
from model_packager.converters.base import ConversionError
from model_packager.model_files import StagedModel, staged_in
from model_packager.parity import FP16_TOLERANCES, Tolerances, check_parity
from model_packager.precision import Precision, convert_fp16

__all__ = ["GraphLevel", "Quantization", "apply_optimizations", "optimize_graph", "quantize_int8"]

GraphLevel = Literal["none", "basic", "extended"]
Quantization = Literal["none", "int8"]


def optimize_graph(model: StagedModel, level: GraphLevel, directory: Path) -> StagedModel:
    """Run onnxruntime's offline graph optimizer at ``level``; write the result as ``directory/model.onnx``."""
    import onnxruntime as ort

    levels = {
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    }
    if level not in levels:
        raise ValueError(f"graph optimization level must be one of {sorted(levels)}, not {level!r}")
    directory.mkdir(parents=True, exist_ok=True)
    options = ort.SessionOptions()
    options.graph_optimization_level = levels[level]
    options.optimized_model_filepath = str(directory / MODEL_FILE)
    options.log_severity_level = 3
    if model.data is not None:  # keep the weights external: the optimized graph is as large as the model
        options.add_session_config_entry("session.optimized_model_external_initializers_file_name", MODEL_DATA_FILE)
        options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    try:
        ort.InferenceSession(str(model.path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ConversionError(f"onnxruntime could not optimize the model at level {level}: {exc}") from None
    return staged_in(directory)


def quantize_int8(model: StagedModel, directory: Path, keep_fp32: Sequence[str] = ()) -> StagedModel:
    """Dynamic INT8 quantization of the weights (activations quantized at run time).

    Per-channel scales and 7-bit weight range (``reduce_range``): full-range int8
    saturates on x86 CPUs without VNNI, and a bundle must answer the same on any CPU.
    ``keep_fp32`` names nodes left unquantized.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic logs pre-processing advice as a warning
    directory.mkdir(parents=True, exist_ok=True)
    try:
        quantize_dynamic(
            model.path,
            directory / MODEL_FILE,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=True,
            nodes_to_exclude=list(keep_fp32),
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},  # types behind fused contrib ops
            use_external_data_format=model.data is not None,
        )
    except Exception as exc:
        raise ConversionError(
            f"onnxruntime could not quantize the model to int8: {type(exc).__name__}: {exc}"
        ) from None
    finally:
        root.setLevel(level)
    return staged_in(directory)


def apply_optimizations(
    model: StagedModel,
    feed: dict[str, np.ndarray],
    expected: dict[str, np.ndarray],
    *,
    graph_level: GraphLevel,
    quantization: Quantization,
    tolerances: Tolerances,
    int8_tolerances: Tolerances,
    label_output: str | None,
    precision: Precision = "fp32",
    fp16_tolerances: Tolerances = FP16_TOLERANCES,
    workdir: Path,
) -> tuple[StagedModel, Optimization | None]:
    """fp16 or int8 first, then graph optimization; parity after each step against the original's outputs.

    Each step writes its model under its own folder of ``workdir``.
    """
    if graph_level == "none" and quantization == "none" and precision == "fp32":
        return model, None
    if precision == "fp16" and quantization == "int8":
        raise ConversionError(
            "fp16 (GPU) and int8 (CPU) exclude each other: choose one of --precision fp16, --quantize int8"
        )
    if precision == "fp16" and graph_level == "extended":
        raise ConversionError(
            "extended graph optimization fuses nodes for the CPU provider; an fp16 model is for GPUs: use "
            "--optimize basic or none (the GPU runtime optimizes the graph for CUDA when it loads it)"
        )
    current = model
    report: ParityReport | None = None
    gate = tolerances
    if quantization == "int8":  # first: the quantizer knows plain MatMul/Gemm, not the fused ops optimizers make
        current = quantize_int8(current, workdir / "int8")
        gate = int8_tolerances
        report = check_parity(
            current.path,
            feed=feed,
            expected=expected,
            tolerances=gate,
            label_output=label_output,
            stage="int8 quantization",
        )
    if precision == "fp16":
        current = convert_fp16(current, workdir / "fp16")
        gate = fp16_tolerances
        report = check_parity(
            current.path, feed=feed, expected=expected, tolerances=gate, label_output=label_output,
            stage="fp16 conversion (checked on CPU)",
        )  # fmt: skip
    if graph_level != "none":
        current = optimize_graph(current, graph_level, workdir / graph_level)
        report = check_parity(
            current.path,
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
        precision=precision,
        size_before=model.size,
        size_after=current.size,
        parity=report,
    )
